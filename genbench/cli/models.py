"""genbench models: the installed model plugins, and the broken ones."""

from __future__ import annotations

from typing import Any

from genbench.cli.common import print_json

NAME = "models"


def add_parser(sub) -> None:
    m = sub.add_parser(NAME, help="list installed model plugins")
    m.add_argument("--json", action="store_true", help="print JSON instead of a table")
    m.add_argument(
        "--timings",
        action="store_true",
        help="also list how long each plugin took to import (slowest first)",
    )


def run(args) -> int:
    from genbench.registry import load_registry

    registry = load_registry()
    keyed = registry.model_keys()
    # A name two distributions provide: both listed, each under the name to type.
    conflicts = [e for group in registry.conflicts.values() for e in group]
    if args.json:
        print_json(
            {
                "models": [{**e.describe(), "use": key} for key, e in keyed],
                "conflicts": [e.describe() for e in conflicts],
                "clashes": registry.clash_lines(),
                "broken": [b.describe() for b in registry.broken],
                "warnings": list(registry.warnings),
                "imports": [
                    {
                        "plugin": info.name,
                        "distribution": info.distribution,
                        "version": info.version,
                        "seconds": round(seconds, 3),
                    }
                    for info, seconds in registry.import_seconds
                ],
            }
        )
        return 0

    from rich.table import Table
    from rich.text import Text

    from genbench.presentation import console as terminal_console
    from genbench.runfolder.untrusted import clean_text

    console = terminal_console()
    table = Table(title="Models", title_justify="left")
    for col in ("name", "title", "data", "conditional", "plugin"):
        table.add_column(col)
    for key, e in keyed:
        d = e.describe()
        origin = "built-in" if d["builtin"] else f"{d['distribution']} {d['version']}"
        if registry.partly_broken(e.plugin):  # its other models or datasets were refused
            origin += " (partly broken, below)"
        table.add_row(
            Text(key),  # a plugin's names are text, never markup
            Text(d["title"]),
            ", ".join(d["kinds"]),
            "yes" if d["conditional"] else "no",
            Text(origin),
        )
    console.print(table)
    for line in registry.clash_lines():
        console.print(Text.assemble(("name clash ", "yellow"), clean_text(line, 1000)))

    for b in registry.broken:  # a plugin's error text is shown as text, never as markup
        console.print(
            Text.assemble(
                ("broken plugin", "red"),
                clean_text(
                    f" {b.plugin.name} ({b.plugin.distribution} {b.plugin.version}): {b.error}",
                    1000,
                ),
            ),
            highlight=False,
        )
    if args.timings:
        console.print(_timings(registry.import_seconds))
    return 0


def _timings(imports: list) -> Any:
    """The plugins' import times as a table, slowest first. The built-in plugins load
    first: the first of them pays for importing torch."""
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title="Plugin imports",
        title_justify="left",
        caption="the first built-in plugin also imports torch, for all of them",
        caption_justify="left",
    )
    for col in ("plugin", "distribution", "seconds"):
        table.add_column(col, justify="right" if col == "seconds" else "left")
    for info, seconds in sorted(imports, key=lambda pair: -pair[1]):
        origin = "built-in" if info.builtin else f"{info.distribution} {info.version}"
        table.add_row(Text(info.name), Text(origin), f"{seconds:.2f}")
    return table
