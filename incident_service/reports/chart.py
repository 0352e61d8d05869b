"""Geometry of the delay histogram, drawn as SVG on the server (no script, no chart library in the page)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .delay import BINS, HOUR

WIDTH, HEIGHT = 720, 280
LEFT, RIGHT, TOP, BOTTOM = 48, 16, 24, 48


@dataclass(frozen=True)
class Bar:
    index: int
    label: str
    count: int
    x: float
    y: float
    width: float
    height: float


def histogram_geometry(histogram: list[dict[str, Any]], threshold_hours: int | None) -> dict[str, Any]:
    """Bars scaled to the tallest, and the x of the threshold line (inside its bin, proportionally)."""
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    slot = plot_width / len(BINS)
    tallest = max((item["incidents"] for item in histogram), default=0) or 1
    bars = []
    for index, item in enumerate(histogram):
        height = plot_height * item["incidents"] / tallest
        bars.append(
            Bar(
                index,
                item["bin"],
                item["incidents"],
                LEFT + index * slot + slot * 0.12,
                TOP + plot_height - height,
                slot * 0.76,
                height,
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
        "plot_bottom": HEIGHT - BOTTOM,
        "left": LEFT,
        "right": WIDTH - RIGHT,
    }
