"""The inline SVG sparkline: gaps, lone points, the reference line, the scale and an accessible label."""

from __future__ import annotations

import re

from sesmon.sparkline import HEIGHT, PAD, sparkline


def _ys(svg: str) -> list[float]:
    return [float(y) for y in re.findall(r",(\d+\.\d)", svg)]


def test_runs_break_at_gaps_and_lone_points_are_dots() -> None:
    svg = sparkline([0.01, 0.02, None, 0.03, None, None, 0.01, 0.02, 0.04], level=None, label="x")
    assert svg.count("<polyline") == 2
    assert svg.count("<circle") == 1
    assert "<line" not in svg


def test_scale_keeps_the_level_inside_and_values_cross_it() -> None:
    low = sparkline([0.0, 0.01], level=0.02, label="x")
    # The top is 1.25 x the level when every value is below it: the level line sits at 80% height.
    (y_level,) = [float(v) for v in re.findall(r"y1='([\d.]+)'", low)]
    assert y_level == round(HEIGHT - PAD - (HEIGHT - 2 * PAD) * 0.8, 1)
    high = sparkline([0.0, 0.1], level=0.02, label="x")
    assert min(_ys(high)) == PAD  # the highest value reaches the top
    (y_level_high,) = [float(v) for v in re.findall(r"y1='([\d.]+)'", high)]
    assert y_level_high > PAD


def test_empty_and_labelled() -> None:
    svg = sparkline([None, None], level=0.02, label="bounce <rate>")
    assert "<polyline" not in svg
    assert "<circle" not in svg
    assert "role='img' aria-label='bounce &lt;rate&gt;'><title>bounce &lt;rate&gt;</title>" in svg
