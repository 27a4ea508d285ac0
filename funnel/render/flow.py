"""A flow chart (Sankey-style) of where shoppers went after leaving, as inline SVG.

Columns: the exit step, then the first, second and third event after the exit
(:mod:`funnel.causes.after_exit`); a band's width is the number of units taking it. Built
from the ``after_exit`` table (a few dozen aggregated paths, never the units), with no
plotting library and nothing fetched: every label is escaped.
"""

from __future__ import annotations

import html
from collections import defaultdict
from itertools import pairwise

import polars as pl

from funnel.causes.after_exit import OTHER, SESSION_ENDED

__all__ = ["flow_svg"]

WIDTH, COLUMN, NODE, GAP = 960, 240, 10, 8
LABEL = 34  # characters of a node's label shown


def _nodes_and_links(paths: pl.DataFrame) -> tuple[dict, dict]:
    """Node sizes keyed by (column, label) and link sizes keyed by (from, to)."""
    size: dict[tuple[int, str], int] = defaultdict(int)
    links: dict[tuple[tuple[int, str], tuple[int, str]], int] = defaultdict(int)
    for step, path, units in paths.select("exit_step", "path", "units").iter_rows():
        parts = [f"left at {step}"]
        if path == OTHER:
            parts.append("(other paths)")
        elif path == SESSION_ENDED:
            parts.append(SESSION_ENDED)
        else:
            parts += path.split(" > ")
        nodes = [(i, label) for i, label in enumerate(parts)]
        for node in nodes:
            size[node] += units
        for a, b in pairwise(nodes):
            links[(a, b)] += units
    return dict(size), dict(links)


def flow_svg(paths: pl.DataFrame, *, height: int = 420) -> str:
    """The ``after_exit`` table as an SVG flow chart ("" when it has no rows).

    >>> t = pl.DataFrame({"exit_step": ["cart"], "path": ["page_view > x"], "units": [3]})
    >>> svg = flow_svg(t)
    >>> svg.startswith("<svg") and "left at cart" in svg and "page_view" in svg
    True
    """
    if paths.is_empty():
        return ""
    size, links = _nodes_and_links(paths)
    columns = max(c for c, _ in size) + 1
    total = sum(v for (c, _), v in size.items() if c == 0)
    most = max(sum(v for (c, _), v in size.items() if c == k) for k in range(columns))
    count = max(sum(1 for c, _ in size if c == k) for k in range(columns))
    scale = (height - GAP * count) / most if most else 0.0
    pos: dict[tuple[int, str], tuple[float, float]] = {}  # node -> (x, top)
    for k in range(columns):
        y = 0.0
        column = [n for n in size if n[0] == k]  # exit steps in funnel order, then by size
        for node in column if k == 0 else sorted(column, key=lambda n: (-size[n], n[1])):
            pos[node] = (k * COLUMN, y)
            y += size[node] * scale + GAP
    out_at = {n: pos[n][1] for n in pos}
    in_at = dict(out_at)
    bands = []
    for (a, b), units in sorted(links.items(), key=lambda kv: (kv[0][0][0], -kv[1], kv[0])):
        w = units * scale
        x0, x1 = pos[a][0] + NODE, pos[b][0]
        y0, y1 = out_at[a] + w / 2, in_at[b] + w / 2
        out_at[a] += w
        in_at[b] += w
        mid = (x0 + x1) / 2
        tip = html.escape(f"{a[1]} → {b[1]}: {units:,} of {total:,}")
        bands.append(
            f'<path d="M{x0:.1f},{y0:.1f} C{mid:.1f},{y0:.1f} {mid:.1f},{y1:.1f} '
            f'{x1:.1f},{y1:.1f}" stroke="#4c72b0" stroke-opacity="0.3" '
            f'stroke-width="{max(w, 1):.1f}" fill="none"><title>{tip}</title></path>'
        )
    boxes = []
    for node, (x, y) in pos.items():
        h = max(size[node] * scale, 1)
        text = node[1] if len(node[1]) <= LABEL else node[1][: LABEL - 1] + "…"
        label = html.escape(f"{text} ({size[node]:,})")
        colour = "#c44e52" if node[0] == 0 else "#55606e"
        boxes.append(
            f'<rect x="{x}" y="{y:.1f}" width="{NODE}" height="{h:.1f}" fill="{colour}">'
            f"<title>{html.escape(node[1])}: {size[node]:,}</title></rect>"
            f'<text x="{x + NODE + 4}" y="{y + h / 2 + 4:.1f}" font-size="11">{label}</text>'
        )
    width = max(WIDTH, columns * COLUMN)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height + 10}" '
        f'viewBox="-2 -5 {width} {height + 10}" role="img" '
        'aria-label="Where shoppers went after leaving">' + "".join(bands + boxes) + "</svg>"
    )
