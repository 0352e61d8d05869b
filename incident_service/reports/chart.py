"""Geometry of the delay histogram, drawn as SVG on the server (no script, no chart library in the page)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .delay import BINS, HOUR

WIDTH, HEIGHT = 720, 280
# TOP leaves a band above the tallest bar's count for the threshold's label, so the two never meet.
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 44, 48
LABEL_Y = 14


@dataclass(frozen=True)
class Bar:
    index: int
    label: str
    count: int
    x: float
    y: float
    width: float
    height: float
    late: bool  # every delay in this bin is past the threshold


def histogram_geometry(histogram: list[dict[str, Any]], threshold_hours: int | None) -> dict[str, Any]:
    """Bars scaled to the tallest, and the x of the threshold line (inside its bin, proportionally)."""
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    slot = plot_width / len(BINS)
    tallest = max((item["incidents"] for item in histogram), default=0) or 1
    bars = []
    threshold_seconds = threshold_hours * HOUR if threshold_hours is not None else None
    lower_bounds = [0, *(upper for _label, upper in BINS[:-1])]
    for index, item in enumerate(histogram):
        height = plot_height * item["incidents"] / tallest
        late = threshold_seconds is not None and (lower_bounds[index] or 0) >= threshold_seconds
        bars.append(
            Bar(
                index,
                item["bin"],
                item["incidents"],
                LEFT + index * slot + slot * 0.12,
                TOP + plot_height - height,
                slot * 0.76,
                height,
                late,
            )
        )
    threshold_x = None
    if threshold_hours is not None:
        seconds = threshold_hours * HOUR
        lower = 0
        for index, (_label, upper) in enumerate(BINS):
            if upper is None or seconds <= upper:
                fraction = 0.0 if upper is None else (seconds - lower) / (upper - lower)
                threshold_x = LEFT + (index + fraction) * slot
                break
            lower = upper
    return {
        "width": WIDTH,
        "height": HEIGHT,
        "bars": bars,
        "threshold_x": threshold_x,
        "tallest": tallest,
        "plot_top": TOP,
        "label_y": LABEL_Y,
        # The threshold's label reads away from the nearer edge, so it is never cut off.
        "label_anchor": "end" if threshold_x is not None and threshold_x > WIDTH * 0.6 else "start",
        "plot_bottom": HEIGHT - BOTTOM,
        "left": LEFT,
        "right": WIDTH - RIGHT,
    }
