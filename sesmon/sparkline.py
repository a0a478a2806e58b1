"""A sparkline as inline SVG: a series of fractions (gaps allowed) and an optional reference line (pure)."""

from __future__ import annotations

import html
from collections.abc import Sequence

WIDTH = 144
HEIGHT = 28
PAD = 2


def sparkline(values: Sequence[float | None], *, level: float | None, label: str, css: str = "") -> str:
    """``<svg>`` drawing ``values`` left (oldest) to right; None is a gap, a lone point a dot.

    The vertical scale runs from 0 to the larger of the highest value and 1.25 x ``level``, so the
    reference line (dashed, at ``level``) is always inside and a value above it visibly crosses it.
    """
    top = max([v for v in values if v is not None] + ([level * 1.25] if level else []) + [1e-9])
    step = (WIDTH - 2 * PAD) / max(1, len(values) - 1)

    def x(i: int) -> float:
        return PAD + i * step

    def y(v: float) -> float:
        return HEIGHT - PAD - (HEIGHT - 2 * PAD) * min(v, top) / top

    runs: list[list[tuple[float, float]]] = [[]]
    for i, v in enumerate(values):
        if v is None:
            if runs[-1]:
                runs.append([])
        else:
            runs[-1].append((x(i), y(v)))
    shapes = []
    for run in runs:
        if len(run) == 1:
            shapes.append(f"<circle cx='{run[0][0]:.1f}' cy='{run[0][1]:.1f}' r='1.8'/>")
        elif run:
            points = " ".join(f"{px:.1f},{py:.1f}" for px, py in run)
            shapes.append(f"<polyline points='{points}'/>")
    if level:
        shapes.append(
            f"<line class='level' x1='{PAD}' x2='{WIDTH - PAD}' y1='{y(level):.1f}' y2='{y(level):.1f}'/>"
        )
    text = html.escape(label)
    return (
        f"<svg class='spark{(' ' + css) if css else ''}' viewBox='0 0 {WIDTH} {HEIGHT}' width='{WIDTH}' "
        f"height='{HEIGHT}' role='img' aria-label='{text}'><title>{text}</title>{''.join(shapes)}</svg>"
    )
