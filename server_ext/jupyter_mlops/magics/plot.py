"""Parallel-coordinates plot of a sweep's trials as a standalone SVG string (pure functions).

One vertical axis per search parameter plus one for the objective metric;
one polyline per trial through its values, coloured by its metric, the best
trial drawn last and thicker. No plotting library: the notebook renders the
SVG inline and the tests read it back as XML.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape

WIDTH, HEIGHT = 640, 280
MARGIN_X, TOP, BOTTOM = 60, 40, 40
LOW_COLOUR, HIGH_COLOUR = (203, 213, 225), (37, 99, 235)
"""A poor metric is pale grey, a good one deep blue (whichever way the objective points)."""


@dataclass
class Axis:
    name: str
    scale: str
    """``linear``, ``log`` or ``categorical``."""
    low: float = 0.0
    high: float = 1.0
    categories: list[str] = field(default_factory=list)

    def fraction(self, raw) -> float | None:
        """Where ``raw`` sits on the axis, 0 (bottom) to 1 (top); None when it cannot be placed."""
        if self.scale == "categorical":
            text = str(raw)
            if text not in self.categories:
                return None
            if len(self.categories) == 1:
                return 0.5
            return self.categories.index(text) / (len(self.categories) - 1)
        value = _number(raw)
        if value is None:
            return None
        low, high = self.low, self.high
        if self.scale == "log":
            if value <= 0 or low <= 0:
                return None
            value, low, high = math.log10(value), math.log10(low), math.log10(high)
        if high == low:
            return 0.5
        return min(1.0, max(0.0, (value - low) / (high - low)))

    def labels(self) -> tuple[str, str]:
        """(bottom, top) tick labels."""
        if self.scale == "categorical":
            return (self.categories[0], self.categories[-1]) if self.categories else ("", "")
        return _short(self.low), _short(self.high)


def axes_for(parameters: list[dict], trials: list[dict], metric: str) -> list[Axis]:
    """Axes from the Experiment's ``spec.parameters`` and the metric values the trials report."""
    axes = []
    for parameter in parameters:
        space = parameter.get("feasibleSpace") or {}
        name = parameter["name"]
        if space.get("list") is not None:
            values = [str(v) for v in space["list"]]
            if parameter.get("parameterType") == "discrete" and all(
                _number(v) is not None for v in values
            ):
                values.sort(key=float)
            axes.append(Axis(name, "categorical", categories=values))
            continue
        low, high = _number(space.get("min")), _number(space.get("max"))
        if low is None or high is None:
            continue
        scale = (
            "log"
            if (space.get("distribution") or "").lower() in ("loguniform", "lognormal") and low > 0
            else "linear"
        )
        axes.append(Axis(name, scale, low, high))
    observed = [
        v for v in (_number((t.get("metrics") or {}).get(metric)) for t in trials) if v is not None
    ]
    if observed:
        axes.append(Axis(metric, "linear", min(observed), max(observed)))
    else:
        axes.append(Axis(metric, "linear", 0.0, 1.0))
    return axes


def parallel_coordinates_svg(
    axes: list[Axis],
    trials: list[dict],
    metric: str,
    *,
    objective: str = "maximize",
    best: str | None = None,
    width: int = WIDTH,
    height: int = HEIGHT,
) -> str:
    """The plot as an ``<svg>`` element; every name and value is escaped.

    Each trial's ``parameters`` and ``metrics`` map names to values (strings
    as Katib writes them). A trial without its metric yet is drawn dashed up
    to its last parameter.
    """
    plot_height = height - TOP - BOTTOM
    step = (width - 2 * MARGIN_X) / max(1, len(axes) - 1)
    xs = [MARGIN_X + i * step if len(axes) > 1 else width / 2 for i in range(len(axes))]
    metric_axis = axes[-1]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="mlops-parcoords" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'font-family="sans-serif" font-size="11">'
    ]
    for x, axis in zip(xs, axes, strict=True):
        bottom_label, top_label = axis.labels()
        parts.append(
            f'<g class="axis" data-axis="{escape(axis.name)}">'
            f'<line x1="{x:.1f}" y1="{TOP}" x2="{x:.1f}" y2="{TOP + plot_height}" stroke="#444"/>'
            f'<text x="{x:.1f}" y="{TOP - 22}" text-anchor="middle" font-weight="bold">'
            f"{escape(axis.name)}{' (log)' if axis.scale == 'log' else ''}</text>"
            f'<text x="{x:.1f}" y="{TOP - 8}" text-anchor="middle" fill="#666">'
            f"{escape(top_label)}</text>"
            f'<text x="{x:.1f}" y="{TOP + plot_height + 16}" text-anchor="middle" fill="#666">'
            f"{escape(bottom_label)}</text></g>"
        )
    ordered = sorted(trials, key=lambda t: t.get("name") == best)  # the best one on top
    for trial in ordered:
        values = [
            *((trial.get("parameters") or {}).get(a.name) for a in axes[:-1]),
            (trial.get("metrics") or {}).get(metric),
        ]
        points = []
        for x, axis, value in zip(xs, axes, values, strict=True):
            where = None if value is None else axis.fraction(value)
            if where is None:
                break
            points.append(f"{x:.1f},{TOP + (1 - where) * plot_height:.1f}")
        if len(points) < min(2, len(axes)):
            continue
        complete = len(points) == len(axes)
        score = metric_axis.fraction(values[-1]) if complete else None
        if score is not None and objective == "minimize":
            score = 1 - score
        is_best = trial.get("name") == best and complete
        colour = "#dc2626" if is_best else _colour(score)
        dash = "" if complete else ' stroke-dasharray="4 3"'
        described = ", ".join(
            f"{a.name}={v}" for a, v in zip(axes, values, strict=True) if v is not None
        )
        parts.append(
            f'<polyline class="trial{" best" if is_best else ""}" '
            f'data-trial="{escape(str(trial.get("name")))}" points="{" ".join(points)}" '
            f'fill="none" stroke="{colour}" stroke-width="{3 if is_best else 1.5}" '
            f'stroke-opacity="0.85"{dash}>'
            f"<title>{escape(str(trial.get('name')))}: {escape(described)}</title></polyline>"
        )
    parts.append("</svg>")
    return "".join(parts)


def _colour(score: float | None) -> str:
    if score is None:
        return "#9ca3af"
    r, g, b = (
        round(low + (high - low) * score) for low, high in zip(LOW_COLOUR, HIGH_COLOUR, strict=True)
    )
    return f"#{r:02x}{g:02x}{b:02x}"


def _number(raw) -> float | None:
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _short(value: float) -> str:
    return f"{value:.4g}"
