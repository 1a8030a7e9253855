"""Inline SVG charts: horizontal bars (with target markers) and a dated line.

Drawn on the server as plain SVG so the page needs no JavaScript and no CDN (the Airflow
UI shows plugin views in a sandboxed iframe without scripts, and the monthly report must
open offline). Every bar and point carries ``data-*`` attributes with the exact value and
a visible or ``<title>`` text with the formatted one, so a test can read a chart back.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from nplpipeline.report.dashboard.fmt import attrs, esc

FONT = "system-ui, 'Noto Sans CJK SC', 'PingFang SC', 'Microsoft YaHei', sans-serif"


@dataclass(frozen=True)
class Bar:
    """One bar: ``key`` identifies it in ``data-key``, ``label`` and ``text`` are shown."""

    key: str
    label: str
    value: float | None
    text: str
    target: float | None = None
    target_text: str = ""
    tone: str = "neutral"  # good | bad | warn | neutral (a CSS class)


@dataclass(frozen=True)
class Point:
    day: dt.date
    value: float | None
    text: str


def _svg(kpi: str, title: str, width: int, height: int, font_size: int, content: str) -> str:
    """The SVG element: scales down to its container, never wider than drawn."""
    return (
        f'<svg class="chart" role="img" aria-label="{esc(title)}" width="100%" '
        f'style="max-width:{width}px" viewBox="0 0 {width} {height}" '
        f'xmlns="http://www.w3.org/2000/svg" font-family="{esc(FONT)}" '
        f'font-size="{font_size}"{attrs(chart=kpi)}><title>{esc(title)}</title>{content}</svg>'
    )


def _clip(label: str, limit: int) -> str:
    return label if len(label) <= limit else label[: limit - 1] + "…"


def bar_chart(
    bars: Sequence[Bar],
    *,
    kpi: str,
    title: str,
    width: int = 640,
    label_width: int = 190,
    scale_max: float | None = None,
) -> str:
    """Horizontal bars, one row each; a target draws as a dark tick across its bar."""
    row, value_width = 28, 96
    plot = width - label_width - value_width
    top = max([scale_max or 0.0] + [v for b in bars for v in (b.value, b.target) if v])
    top = top or 1.0
    height = row * len(bars) + 8

    def x(value: float) -> float:
        return label_width + plot * max(0.0, min(value, top)) / top

    rows = []
    for i, b in enumerate(bars):
        y = 4 + i * row
        parts = [
            f'<text class="bar-label" x="{label_width - 8}" y="{y + 18}" text-anchor="end">'
            f"<title>{esc(b.label)}</title>{esc(_clip(b.label, label_width // 7))}</text>",
        ]
        if b.value is not None:
            parts.append(
                f'<rect class="bar {esc(b.tone)}" x="{label_width}" y="{y + 5}" '
                f'width="{x(b.value) - label_width:.1f}" height="{row - 10}" rx="2"/>'
            )
        if b.target is not None:
            tx = x(b.target)
            parts.append(
                f'<line class="target" x1="{tx:.1f}" x2="{tx:.1f}" y1="{y + 1}" '
                f'y2="{y + row - 1}"><title>target {esc(b.target_text)}</title></line>'
            )
        parts.append(
            f'<text class="bar-value" x="{label_width + plot + 6}" y="{y + 18}">'
            f"{esc(b.text)}</text>"
        )
        rows.append(
            f'<g class="bar-row"{attrs(kpi=kpi, key=b.key, value=b.value, target=b.target)}>'
            + "".join(parts)
            + "</g>"
        )
    return _svg(kpi, title, width, height, 12, "".join(rows))


def line_chart(
    points: Sequence[Point],
    *,
    kpi: str,
    title: str,
    axis: Callable[[float], str],
    width: int = 640,
    height: int = 220,
) -> str:
    """A line over time (x proportional to dates), y from zero, points with tooltips."""
    left, right, top_pad, bottom = 56, 16, 12, 28
    plot_w, plot_h = width - left - right, height - top_pad - bottom
    values = [p.value for p in points if p.value is not None]
    top = max(values, default=0.0) * 1.15 or 1.0
    first = points[0].day if points else dt.date(1970, 1, 1)  # unused without points
    span = max((points[-1].day - first).days, 1) if points else 1

    def xy(p: Point) -> tuple[float, float]:
        x = left + (plot_w / 2 if len(points) == 1 else plot_w * (p.day - first).days / span)
        y = top_pad + plot_h * (1 - (p.value or 0.0) / top)
        return x, y

    grid = []
    for i in range(5):
        value = top * i / 4
        y = top_pad + plot_h * (1 - i / 4)
        grid.append(
            f'<line class="grid" x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}"/>'
            f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">'
            f"{esc(axis(value))}</text>"
        )
    if points:
        for p, anchor in ((points[0], "start"), (points[-1], "end")):
            grid.append(
                f'<text class="axis" x="{xy(p)[0]:.1f}" y="{height - 8}" '
                f'text-anchor="{anchor if len(points) > 1 else "middle"}">'
                f"{esc(p.day.isoformat())}</text>"
            )
    path = " ".join(f"{x:.1f},{y:.1f}" for x, y in (xy(p) for p in points if p.value is not None))
    dots = []
    for p in points:
        if p.value is None:
            continue
        x, y = xy(p)
        dots.append(
            f'<circle class="point" cx="{x:.1f}" cy="{y:.1f}" r="3"'
            f"{attrs(kpi=kpi, date=p.day, value=p.value)}>"
            f"<title>{esc(p.day.isoformat())}: {esc(p.text)}</title></circle>"
        )
    line = f'<polyline class="line" points="{path}"/>' if path else ""
    return _svg(kpi, title, width, height, 11, "".join(grid) + line + "".join(dots))
