"""A sweep's best trial and its parallel-coordinates plot data, computed once for every view.

The REST API serves them in a sweep's detail (``best_trial``, ``plot``); the
notebook draws ``plot`` as SVG (``magics/plot.py``) and the sidebar draws the
same data in the browser, so where a trial sits and which trial is best are
decided here only. Pure functions over the trial dicts ``SweepKind.parts``
makes (``parameters`` and ``metrics`` map names to values, strings as Katib
writes them).

``plot`` is ``{"metric", "objective", "best", "axes", "lines"}``: one axis per
search parameter, then the objective metric, each ``{"name", "scale",
"labels": [bottom, top]}``; one line per trial, ``{"trial", "points",
"complete", "score", "values"}``, where ``points`` are fractions of the axes' height (0
bottom, 1 top) up to the first value that cannot be placed (a trial without
its metric yet stops at its last parameter), and ``score`` is how good its
metric is, 0 to 1 whichever way the objective points (None when incomplete),
and ``values`` its raw value on each axis (None where it has none). The best
trial's line comes last.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


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
        value = number(raw)
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
            if parameter.get("parameterType") == "discrete" and all(number(v) is not None for v in values):
                values.sort(key=float)
            axes.append(Axis(name, "categorical", categories=values))
            continue
        low, high = number(space.get("min")), number(space.get("max"))
        if low is None or high is None:
            continue
        scale = (
            "log" if (space.get("distribution") or "").lower() in ("loguniform", "lognormal") and low > 0 else "linear"
        )
        axes.append(Axis(name, scale, low, high))
    observed = [v for v in (number((t.get("metrics") or {}).get(metric)) for t in trials) if v is not None]
    if observed:
        axes.append(Axis(metric, "linear", min(observed), max(observed)))
    else:
        axes.append(Axis(metric, "linear", 0.0, 1.0))
    return axes


def best_trial(trials: list[dict], metric: str, objective: str = "maximize") -> dict | None:
    """``{"name", "parameters", "metrics"}`` of the trial with the best ``metric`` (the first
    of equals); None when no trial reported it."""
    best, best_value = None, 0.0
    for trial in trials:
        value = number((trial.get("metrics") or {}).get(metric))
        if value is None:
            continue
        if best is None or (value < best_value if objective == "minimize" else value > best_value):
            best, best_value = trial, value
    if best is None:
        return None
    return {
        "name": best["name"],
        "parameters": dict(best.get("parameters") or {}),
        "metrics": dict(best.get("metrics") or {}),
    }


def plot_data(
    axes: list[Axis],
    trials: list[dict],
    metric: str,
    *,
    objective: str = "maximize",
    best: str | None = None,
) -> dict:
    """The plot's axes and one line per trial that can be placed on two axes (see above)."""
    lines = []
    for trial in sorted(trials, key=lambda t: t.get("name") == best):  # the best one last
        values = [
            *((trial.get("parameters") or {}).get(a.name) for a in axes[:-1]),
            (trial.get("metrics") or {}).get(metric),
        ]
        points = []
        for axis, value in zip(axes, values, strict=True):
            where = None if value is None else axis.fraction(value)
            if where is None:
                break
            points.append(where)
        if len(points) < min(2, len(axes)):
            continue
        complete = len(points) == len(axes)
        score = points[-1] if complete else None
        if score is not None and objective == "minimize":
            score = 1 - score
        lines.append(
            {
                "trial": str(trial.get("name")),
                "points": points,
                "complete": complete,
                "score": score,
                "values": [None if v is None else str(v) for v in values],
            }
        )
    return {
        "metric": metric,
        "objective": objective,
        "best": best,
        "axes": [{"name": a.name, "scale": a.scale, "labels": list(a.labels())} for a in axes],
        "lines": lines,
    }


def sweep_plot_data(spec: dict, trials: list[dict], best: str | None) -> dict:
    """``plot_data`` for an Experiment ``spec`` and its trials."""
    objective = spec.get("objective") or {}
    metric = objective.get("objectiveMetricName", "")
    axes = axes_for(spec.get("parameters") or [], trials, metric)
    return plot_data(axes, trials, metric, objective=objective.get("type", "maximize"), best=best)


def number(raw) -> float | None:
    """``raw`` as a finite float; None when it is not one."""
    try:
        value = float(raw)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def _short(value: float) -> str:
    return f"{value:.4g}"
