"""A chart written to files as it is plotted (`w` on a chart): the points of its shown
series inside the step range shown, as CSV (one row a point: series, step, time,
value, and the smoothed value when the chart smooths) and as an SVG drawing of the
same lines, ticks, marks and cursor, for a report or a slide.

The files go into the folder the workbench was started in (the run folder belongs to
its trainer), under a name that cannot overwrite anything: the run's and the chart's
names, reduced to safe characters, and the time.
"""

from __future__ import annotations

import csv
import io
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING
from xml.sax.saxutils import escape, quoteattr

from genbench.runfolder.runs import RUN_FILE

if TYPE_CHECKING:  # pragma: no cover - for annotations only
    from genbench.tui.widgets.loss_chart import LossChart, Series

SVG_W, SVG_H = 960, 480
PAD_L, PAD_R, PAD_T, PAD_B = 70, 20, 36, 44
NAME_MAX = 60


def safe_name(text: str) -> str:
    """A file name piece from untrusted text (a run's folder name, a loss name)."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip("-.")
    return name[:NAME_MAX] or "chart"


def plotted_rows(chart: LossChart) -> list[list[object]]:
    """What the chart plots, row by row: [series, step, time, value(, smoothed)] for
    each point of each shown series inside the step range shown."""
    smoothing = chart.smoothing > 0
    window = chart.window
    rows: list[list[object]] = []
    for s in chart.series:
        if s.label in chart.hidden or not s.steps:
            continue
        smoothed = chart.smoothed_values(s) if smoothing else None
        for i, (step, value) in enumerate(zip(s.steps, s.values, strict=True)):
            if window is not None and chart.view.zoom is not None:
                if not window[0] <= step <= window[1]:
                    continue
            t = s.times[i] if s.times is not None and i < len(s.times) else None
            row: list[object] = [s.label, step, "" if t is None else t, value]
            if smoothed is not None:
                row.append(smoothed[i])
            rows.append(row)
    return rows


def csv_text(chart: LossChart) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    header = ["series", "step", "time", "value"]
    if chart.smoothing > 0:
        header.append(f"smoothed_ema_{chart.smoothing:g}")
    writer.writerow(header)
    writer.writerows(plotted_rows(chart))
    return out.getvalue()


def _title(chart: LossChart) -> str:
    title = chart.title
    plain = getattr(title, "plain", None)
    return str(plain if plain is not None else (title or "chart"))


def _polyline(points: list[tuple[float, float]], colour: str, extra: str = "") -> str:
    coords = " ".join(f"{x:.1f},{y:.1f}" for x, y in points)
    return f'<polyline fill="none" stroke={quoteattr(colour)} {extra}points="{coords}"/>'


def _line(x1: float, y1: float, x2: float, y2: float, attrs: str = 'stroke="#444"') -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" {attrs}/>'


def _text(x: float, y: float, text: str, attrs: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" {attrs}>{escape(text)}</text>'


def svg_text(chart: LossChart) -> str:
    """The chart as an SVG drawing: its limits, ticks, lines, marks and cursor."""
    import numpy as np

    x0, x1 = chart.x_limits
    y0, y1 = chart.plot_y_limits
    w, h = SVG_W - PAD_L - PAD_R, SVG_H - PAD_T - PAD_B
    bottom = PAD_T + h

    def px(x: float) -> float:
        return PAD_L + (x - x0) / ((x1 - x0) or 1) * w

    def py(y: float) -> float:
        return bottom - (y - y0) / ((y1 - y0) or 1) * h

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{SVG_W}" height="{SVG_H}" '
        'font-family="monospace" font-size="12">',
        f'<rect width="{SVG_W}" height="{SVG_H}" fill="white"/>',
        _text(PAD_L, 20, _title(chart), 'font-size="14"'),
        f'<rect x="{PAD_L}" y="{PAD_T}" width="{w}" height="{h}" fill="none" stroke="#444"/>',
    ]
    for tick, label in zip(chart.x_ticks, chart.x_tick_labels(), strict=False):
        parts.append(_line(px(tick), bottom, px(tick), bottom + 5))
        parts.append(_text(px(tick), bottom + 18, label, 'text-anchor="middle"'))
    for tick, label in zip(chart.plot_y_ticks, chart.y_tick_labels(), strict=False):
        parts.append(_line(PAD_L - 5, py(tick), PAD_L, py(tick)))
        parts.append(_text(PAD_L - 8, py(tick) + 4, label, 'text-anchor="end"'))
    # No clip path: every point drawn is inside the step range and the y range shown
    # (and some renderers, ImageMagick's, draw nothing inside one).
    parts.append("<g>")
    shown = [s for s in chart.series if s.label not in chart.hidden and s.steps]
    for s in shown:
        parts.extend(_series_lines(chart, np, s, px, py))
    window = chart.window
    for step, _label in chart.marks:
        x = chart.step_to_x(step)
        if x is not None and window is not None and window[0] <= step <= window[1]:
            parts.append(_line(px(x), PAD_T, px(x), bottom, 'stroke="#888" stroke-dasharray="4 3"'))
    cursor = chart.view.cursor
    if cursor is not None and (x := chart.step_to_x(cursor)) is not None:
        parts.append(_line(px(x), PAD_T, px(x), bottom, 'stroke="#000"'))
    parts.append("</g>")
    for k, s in enumerate(shown):
        y = PAD_T + 14 + 16 * k
        stroke = f'stroke={quoteattr(s.colour)} stroke-width="2"'
        parts.append(_line(SVG_W - 230, y - 4, SVG_W - 205, y - 4, stroke))
        parts.append(_text(SVG_W - 200, y, f"{s.glyph} {s.label}" if s.glyph else s.label))
    parts.append("</svg>\n")
    return "\n".join(parts)


def _series_lines(chart: LossChart, np, s: Series, px, py) -> list[str]:
    """A series' line (its raw line faint under the smoothed one when smoothing)."""
    window = chart.window
    xs = chart.series_xs(s)
    ys = np.asarray(s.values, dtype=float)
    keep = np.isfinite(xs) & np.isfinite(ys)
    if window is not None and chart.view.zoom is not None:
        steps = np.asarray(s.steps, dtype=float)
        keep &= (steps >= window[0]) & (steps <= window[1])
    if chart.log_scale:
        keep &= ys > 0
        ys = np.log10(np.where(ys > 0, ys, 1.0))
    raw = [(px(float(x)), py(float(y))) for x, y in zip(xs[keep], ys[keep], strict=True)]
    if not raw:
        return []
    if len(raw) == 1:
        x, y = raw[0]
        return [f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3" fill={quoteattr(s.colour)}/>']
    if not chart.smoothing:
        return [_polyline(raw, s.colour, 'stroke-width="1.5" ')]
    smooth = np.asarray(chart.smoothed_values(s), dtype=float)
    if chart.log_scale:
        smooth = np.log10(np.where(smooth > 0, smooth, np.nan))
    ok = keep & np.isfinite(smooth)
    sm = [(px(float(x)), py(float(y))) for x, y in zip(xs[ok], smooth[ok], strict=True)]
    return [
        _polyline(raw, s.colour, 'stroke-opacity="0.3" '),
        _polyline(sm, s.colour, 'stroke-width="1.5" '),
    ]


def _unused(folder: Path, stem: str) -> Path:
    """A stem with no .csv and no .svg file in ``folder`` yet."""
    for n in range(1000):
        candidate = stem if n == 0 else f"{stem}-{n}"
        if (
            not (folder / f"{candidate}.csv").exists()
            and not (folder / f"{candidate}.svg").exists()
        ):
            return folder / candidate
    raise FileExistsError(f"{folder / stem}.csv and 999 more exist")


def run_folder_around(folder: Path) -> Path | None:
    """The run folder that ``folder`` is or lies in (one holding run.json), if any."""
    folder = Path(folder).resolve()
    for p in (folder, *folder.parents):
        if (p / RUN_FILE).is_file():
            return p
    return None


def export_chart(chart: LossChart, folder: Path) -> list[Path]:
    """Write the chart as CSV and SVG into ``folder``; the two paths written. Each
    file is created new (never overwriting one that is there), and never inside a
    run folder (a trainer's, which genbench writes only through its trainer)."""
    run = run_folder_around(folder)
    if run is not None:
        raise FileExistsError(
            f"{folder} is inside the run folder {run}: start the workbench in another "
            "folder to export charts"
        )
    stamp = time.strftime("%Y%m%d-%H%M%S")
    stem = _unused(
        Path(folder), f"{safe_name(chart.export_name)}-{safe_name(_title(chart))}-{stamp}"
    )
    paths = [stem.with_name(stem.name + ".csv"), stem.with_name(stem.name + ".svg")]
    for path, text in zip(paths, (csv_text(chart), svg_text(chart)), strict=True):
        with open(path, "x", encoding="utf-8", newline="") as fh:
            fh.write(text)
    return paths
