"""Pure readings of a job object that the list and detail views show (tested as dicts).

The jobs API's summaries say what state a job is in and the GPUs it asks for;
the detail view also shows its conditions and, for a sweep, what it optimises.
"""

from __future__ import annotations


def conditions(obj: dict) -> list[dict]:
    """The controller's conditions, oldest first, in the fields the detail view shows."""
    status = obj.get("status") or {}
    found = status.get("conditions") or []
    return [
        {
            "type": c.get("type"),
            "status": c.get("status"),
            "reason": c.get("reason") or "",
            "message": c.get("message") or "",
            "time": c.get("lastTransitionTime") or c.get("lastUpdateTime"),
        }
        for c in found
    ]


def sweep_objective(obj: dict) -> dict | None:
    """A sweep's objective and search space: what the trials plot draws; None for other kinds."""
    spec = obj.get("spec") or {}
    if obj.get("kind") != "Experiment":
        return None
    objective = spec.get("objective") or {}
    space = []
    for parameter in spec.get("parameters") or []:
        feasible = parameter.get("feasibleSpace") or {}
        space.append(
            {
                "name": parameter.get("name"),
                "type": parameter.get("parameterType"),
                "min": feasible.get("min"),
                "max": feasible.get("max"),
                "values": feasible.get("list"),
            }
        )
    return {
        "metric": objective.get("objectiveMetricName"),
        "type": objective.get("type"),
        "goal": objective.get("goal"),
        "additional_metrics": objective.get("additionalMetricNames") or [],
        "parameters": space,
        "algorithm": (spec.get("algorithm") or {}).get("algorithmName"),
        "max_trials": spec.get("maxTrialCount"),
        "parallel_trials": spec.get("parallelTrialCount"),
    }
