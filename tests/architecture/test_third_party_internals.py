"""genbench leans on parts of three Textual libraries that are not their public API.
Each such use is listed here with the range of versions it was checked on; pyproject
pins each library to that range, and these tests fail when the installed version
leaves it or the internals are gone, naming what to re-check before widening it.

- textual-plot: LossChart (genbench/tui/widgets/loss_chart.py) overrides
  ``PlotWidget._render_plot`` to draw within its own limits, setting ``_x_min``,
  ``_x_max``, ``_y_min``, ``_y_max`` and switching off ``_auto_{x,y}_{min,max}``
  around it, and swaps ``_scale_rectangle`` in ``get_(hires_)pixel_from_coordinate``;
  it finds the plot's canvas by its id ``#plot`` to batch a render's repaints.
  Re-check: tests/tui/test_chart*.py.
- textual-image: ``terminal_image.pixel_backend`` fills in the cell size
  (``_terminal.get_cell_size._result``) and hides the terminal (``sys.__stdout__``)
  while ``textual_image.renderable`` is imported, so that it sends no queries to a
  terminal Textual is reading. Re-check: this file's pty test, tests/tui/test_previews.py.
  It also replaces the Sixel encoder ``_sixel.image_to_sixels(image, options,
  background)``, which ``renderable.sixel`` and ``widget.sixel`` import by name, with
  one that selects each colour it defines. Re-check: tests/tui/test_sixel_decode.py.
- textual: the workbench's Header (genbench/tui/widgets/header.py) replaces Header's
  mount handler and finds its title by the CSS type name HeaderTitle.
  Re-check: tests/tui/test_header.py.
"""

from __future__ import annotations

import os
import sys
from importlib.metadata import version
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

REPO = Path(__file__).resolve().parents[2]

# The ranges the uses above were checked on (the lowest is the oldest version run).
CHECKED = {
    "textual": ">=8.2.8,<9",
    "textual-plot": ">=0.10.1,<0.11",
    "textual-image": ">=0.12.0,<0.13",
}


def declared() -> dict[str, Requirement]:
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    reqs = (Requirement(line) for line in project["dependencies"])
    return {r.name: r for r in reqs if r.name in CHECKED}


@pytest.mark.parametrize("name", sorted(CHECKED))
def test_pyproject_pins_each_library_to_the_range_checked(name):
    req = declared()[name]
    assert str(req.specifier) == str(Requirement(f"{name}{CHECKED[name]}").specifier), (
        f"pyproject asks {req}, but its internals were checked on {name}{CHECKED[name]}: "
        "re-check what this file's docstring lists for it before changing either"
    )
    assert any(spec.operator == "<" for spec in req.specifier), f"{req} has no upper bound"


@pytest.mark.parametrize("name", sorted(CHECKED))
def test_the_installed_version_is_one_that_was_checked(name):
    installed = Version(version(name))
    assert installed in Requirement(f"{name}{CHECKED[name]}").specifier, (
        f"{name} {installed} is outside {CHECKED[name]}, the range genbench's use of "
        "its internals was checked on: re-check what this file's docstring lists for it"
    )


def test_textual_plot_still_has_what_loss_chart_overrides():
    import inspect

    from textual_plot import PlotWidget

    plot = PlotWidget()
    limits = ("_x_min", "_x_max", "_y_min", "_y_max")
    autos = ("_auto_x_min", "_auto_x_max", "_auto_y_min", "_auto_y_max")
    missing = [a for a in (*limits, *autos, "_scale_rectangle") if not hasattr(plot, a)]
    assert not missing, f"textual-plot no longer has {missing}: re-check LossChart"
    assert list(inspect.signature(PlotWidget._render_plot).parameters) == ["self"]
    source = inspect.getsource(PlotWidget._render_plot)
    assert all(name in source for name in (*limits, *autos)), (
        "PlotWidget._render_plot no longer reads the limits LossChart sets: re-check LossChart"
    )
    for name in ("get_pixel_from_coordinate", "get_hires_pixel_from_coordinate"):
        assert "_scale_rectangle" in inspect.getsource(getattr(PlotWidget, name)), name


def test_textual_image_takes_the_cell_size_it_is_given():
    from textual_image import _terminal

    saved = getattr(_terminal.get_cell_size, "_result", None)
    try:
        _terminal.get_cell_size._result = _terminal.CellSize(7, 13)  # type: ignore[attr-defined]
        assert _terminal.get_cell_size() == (7, 13)
    finally:
        if saved is None:
            del _terminal.get_cell_size._result  # type: ignore[attr-defined]
        else:
            _terminal.get_cell_size._result = saved  # type: ignore[attr-defined]


def test_textual_image_encodes_sixel_where_genbench_wraps_it():
    import inspect

    from textual_image import _sixel

    encode = getattr(_sixel.image_to_sixels, "__wrapped__", _sixel.image_to_sixels)
    assert list(inspect.signature(encode).parameters) == ["image", "options", "background"]
    for name in ("renderable/sixel.py", "widget/sixel.py"):
        source = (Path(_sixel.__file__).parent / name).read_text()
        assert "from textual_image._sixel import" in source and "image_to_sixels(" in source, (
            f"textual_image/{name} no longer calls the encoder it imports by name: "
            "re-check terminal_image._install_sixel_encoder"
        )


DRAW = (
    "import sys; from PIL import Image; from rich.console import Console; "
    "from genbench import terminal_image as t; "
    "b = t.pixel_backend(); from textual_image._terminal import get_cell_size; "
    "r = t.pixel_renderable(Image.new('RGB', (16, 16)), 'sixel', 4, 2); "
    "Console(file=open('/dev/null', 'w'), force_terminal=True).print(r); "
    "sys.stderr.write(f'{tuple(get_cell_size())}|{tuple(t.cell_pixels())}')"
)


@pytest.mark.skipif(sys.platform == "win32", reason="pseudo-terminals are POSIX")
def test_textual_image_asks_a_terminal_nothing_when_genbench_loads_and_draws_it():
    """On a pseudo-terminal that never answers: loading textual-image through
    pixel_backend and drawing a Sixel image write no query to the terminal (each
    would cost a timeout and, inside the workbench, swallow the user's keys), and
    textual-image uses the cell size genbench gave it."""
    import pty
    import select
    import subprocess

    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k not in ("TMUX", "STY", "KITTY_WINDOW_ID")}
    env["TERM"] = "xterm"
    child = subprocess.Popen(
        [sys.executable, "-c", DRAW],
        stdin=slave,
        stdout=slave,
        stderr=subprocess.PIPE,
        env=env,
        cwd=REPO,
    )
    os.close(slave)
    written = b""
    try:
        while child.poll() is None or select.select([master], [], [], 0)[0]:
            if select.select([master], [], [], 0.1)[0]:
                try:
                    written += os.read(master, 1024)
                except OSError:  # the child closed its end
                    break
        _, err = child.communicate(timeout=120)
    finally:
        os.close(master)
    assert child.returncode == 0, err.decode(errors="replace")[-2000:]
    for query in (b"\x1b[c", b"\x1b[16t", b"\x1b_Gi="):
        assert query not in written, f"textual-image asked the terminal {query!r}"
    theirs, ours = err.decode().split("|")
    assert theirs == ours, f"textual-image's cell {theirs}, genbench's {ours}"
