"""A board's chart as hand-written SVG: one bar per model for the weighted mean of the
benchmark's first metric, and a marker per dataset at that dataset's value.

Every text from the registry (names, ids, metric names) goes through `esc`, so a name
cannot close an element or open one. The same markup is a standalone `.svg` file and is
inlined in the site's page (its ids carry the benchmark's id, so they stay unique there).
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Callable
from typing import Any

from medperf_action.domain.leaderboard import Board, Row, is_number, show_number
from medperf_action.text import shorten

#: Okabe and Ito's colour-blind-safe palette, for the datasets' markers.
PALETTE = ("#E69F00", "#56B4E9", "#009E73", "#D55E00", "#CC79A7", "#0072B2", "#F0E442")
BAR = "#3B6EA5"
SLOT, LEFT, TOP, PLOT_H, BOTTOM, LEGEND_W, MIN_W = 96, 72, 56, 260, 120, 270, 720
Scale = Callable[[float], float]
_XML_INVALID = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")


def esc(text: object) -> str:
    """Text for XML/HTML content or a quoted attribute: markup characters as entities,
    and the characters XML does not allow dropped."""
    return html.escape(_XML_INVALID.sub("", str(text)), quote=True)


def _f(x: float) -> str:
    return f"{x:.2f}"


def nice_scale(lo: float, hi: float) -> tuple[float, float, float]:
    """(low, high, step): a range that holds lo..hi and 0, in steps of 1, 2 or 5 x 10^k."""
    lo, hi = min(lo, 0.0), max(hi, 0.0)
    if hi - lo <= 0:
        hi = lo + 1.0
    rough = (hi - lo) / 5
    power = 10 ** math.floor(math.log10(rough))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= rough)
    return math.floor(lo / step) * step, math.ceil(hi / step) * step, step


def color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


def _values(board: Board, metric: str) -> list[float]:
    found: list[Any] = [r.means.get(metric) for r in board.rows]
    found += [v for r in board.rows for (m, _), v in r.values.items() if m == metric]
    return [float(v) for v in found if is_number(v)]


def describe(board: Board, metric: str) -> str:
    """The chart in words (its <desc>, for a screen reader)."""
    parts = []
    for row in board.rows:
        each = ", ".join(
            f"{d.id} {show_number(row.values.get((metric, d.id)))}"
            for d in board.datasets
            if (metric, d.id) in row.values
        )
        parts.append(f"{row.name} ({row.model}): {show_number(row.means.get(metric))} ({each})")
    return (
        f"Bars: the mean of {metric} over the datasets, weighted by their number of cases, "
        "for each model; markers: its value on each dataset. " + "; ".join(parts)
    )


def render_chart(board: Board) -> str:
    """The SVG of a board's chart (a complete <svg> element, newline-terminated)."""
    metric = board.first_metric
    pfx = f"chart-{board.benchmark}"
    n = max(len(board.rows), 1)
    width = max(LEFT + n * SLOT + LEGEND_W, MIN_W)
    height = max(TOP + PLOT_H + BOTTOM, TOP + 40 + 20 * len(board.datasets))  # the legend
    title = f"{board.name}: {metric or 'no metric'}, weighted mean over datasets"
    desc = describe(board, metric) if metric else "No results with metrics yet."
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" width="{width}" '
        f'height="{height}" viewBox="0 0 {width} {height}" role="img" '
        f'aria-labelledby="{pfx}-title {pfx}-desc" font-family="DejaVu Sans, sans-serif" '
        'font-size="12">',
        f'<title id="{pfx}-title">{esc(title)}</title>',
        f'<desc id="{pfx}-desc">{esc(desc)}</desc>',
        f'<rect x="0" y="0" width="{width}" height="{height}" fill="#ffffff"/>',
        f'<text x="{LEFT}" y="24" font-size="15" font-weight="bold">'
        f"{esc(shorten(board.name, 80))}</text>",
        f'<text x="{LEFT}" y="42" fill="#444444">{esc(shorten(metric or "no metric", 40))}: '
        "bars, the mean over datasets weighted by cases; dots, each dataset</text>",
    ]
    values = _values(board, metric) if metric else []
    if metric is None or not values:
        out.append(f'<text x="{LEFT}" y="{TOP + PLOT_H // 2}">No numeric results yet.</text>')
        return "\n".join([*out, "</svg>"]) + "\n"
    low, high, step = nice_scale(min(values), max(values))

    def y(v: float) -> float:
        return TOP + PLOT_H * (high - v) / (high - low)

    out += _axis(low, high, step, y, n, metric)
    for i, row in enumerate(board.rows):
        out += _bar(board, row, metric, LEFT + i * SLOT, y)
    out += _legend(board, LEFT + n * SLOT + 20)
    return "\n".join([*out, "</svg>"]) + "\n"


def _axis(low: float, high: float, step: float, y: Scale, n: int, metric: str) -> list[str]:
    right = LEFT + n * SLOT
    out = ['<g class="axis" fill="#333333" stroke-width="1">']
    ticks = round((high - low) / step)
    for k in range(ticks + 1):
        v = low + k * step
        yy = _f(y(v))
        out.append(f'<line x1="{LEFT}" y1="{yy}" x2="{right}" y2="{yy}" stroke="#dddddd"/>')
        out.append(f'<text x="{LEFT - 6}" y="{yy}" text-anchor="end" dy="4">{v:.6g}</text>')
    bottom = _f(y(low))
    out.append(f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="#333333"/>')
    zero = _f(y(0.0))
    out.append(f'<line x1="{LEFT}" y1="{zero}" x2="{right}" y2="{zero}" stroke="#333333"/>')
    mid = _f(TOP + PLOT_H / 2)
    out.append(
        f'<text x="16" y="{mid}" text-anchor="middle" transform="rotate(-90 16 {mid})">'
        f"{esc(shorten(metric, 40))}</text>"
    )
    return [*out, "</g>"]


def _bar(board: Board, row: Row, metric: str, x0: float, y: Scale) -> list[str]:
    mean = row.means.get(metric)
    cx, bar_w = x0 + SLOT / 2, SLOT * 0.56
    out = [f'<g class="model" data-model="{esc(row.model)}">']
    if mean is not None:
        top, base = y(max(mean, 0.0)), y(min(mean, 0.0))
        out.append(
            f'<rect class="bar" data-model="{esc(row.model)}" data-value="{show_number(mean)}" '
            f'x="{_f(cx - bar_w / 2)}" y="{_f(top)}" width="{_f(bar_w)}" '
            f'height="{_f(max(base - top, 0.0))}" fill="{BAR}">'
            f"<title>{esc(row.name)}: {show_number(mean)}</title></rect>"
        )
        inside = base - top >= 22
        out.append(
            f'<text x="{_f(cx)}" y="{_f(base - 7 if inside else top - 5)}" '
            f'text-anchor="middle" font-size="11" fill="{"#ffffff" if inside else "#000000"}">'
            f"{show_number(mean)}</text>"
        )
    k = len(board.datasets)
    for j, dataset in enumerate(board.datasets):
        value = row.values.get((metric, dataset.id))
        if value is None or not is_number(value):
            continue
        mx = cx + (j - (k - 1) / 2) * (bar_w / max(k, 1))
        out.append(
            f'<circle class="marker" data-dataset="{esc(dataset.id)}" cx="{_f(mx)}" '
            f'cy="{_f(y(float(value)))}" r="4.5" fill="{color(j)}" stroke="#000000" '
            f'stroke-width="0.8"><title>{esc(dataset.name)}: {show_number(value)}</title>'
            "</circle>"
        )
    label_y = TOP + PLOT_H + 14
    out.append(
        f'<text x="{_f(cx)}" y="{label_y}" text-anchor="end" '
        f'transform="rotate(-35 {_f(cx)} {label_y})">{esc(shorten(row.name, 20))}</text>'
    )
    return [*out, "</g>"]


def _legend(board: Board, x: float) -> list[str]:
    out = [f'<g class="legend" transform="translate({_f(x)} {TOP})">']
    out.append(f'<rect x="0" y="0" width="14" height="14" fill="{BAR}"/>')
    out.append('<text x="20" y="11">weighted mean</text>')
    for j, dataset in enumerate(board.datasets):
        yy = 26 + 20 * j
        out.append(
            f'<circle cx="7" cy="{yy + 7}" r="4.5" fill="{color(j)}" stroke="#000000" '
            'stroke-width="0.8"/>'
        )
        label = f"{shorten(dataset.name, 26)} ({dataset.num_cases})"
        out.append(f'<text x="20" y="{yy + 11}">{esc(label)}</text>')
    return [*out, "</g>"]
