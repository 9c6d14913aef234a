"""Pure readings of a job object that the list and detail views show (tested as dicts).

The jobs API's summaries say what state a job is in; the sidebar also shows
how many GPUs it asks for, its conditions and, for a sweep, what it optimises.
"""

from __future__ import annotations

from mlops_contract import jobs


def requested_gpus(kind: str, obj: dict) -> dict:
    """``{"gpus", "gpu_type"}``: the GPUs a job holds at most at once and their product.

    A PyTorchJob: every replica's GPUs. A sweep: one trial's GPUs times its
    parallel trials. A workflow: its largest step. ``gpu_type`` is None when
    the job takes any type (or no GPU). Counted by ``mlops_contract.jobs``.
    """
    if kind not in jobs.BY_NAME:
        raise ValueError(f"unknown job kind {kind!r}")
    gpus, gpu_type = jobs.BY_NAME[kind].requested_gpus(obj)
    return {"gpus": gpus, "gpu_type": gpu_type}


def conditions(obj: dict) -> list[dict]:
    """The controller's conditions, oldest first, in the fields the detail view shows."""
    status = obj.get("status") or {}
    found = status.get("conditions") or []
    return [{"type": c.get("type"), "status": c.get("status"), "reason": c.get("reason") or "",
             "message": c.get("message") or "",
             "time": c.get("lastTransitionTime") or c.get("lastUpdateTime")} for c in found]


def sweep_objective(obj: dict) -> dict | None:
    """A sweep's objective and search space: what the trials plot draws; None for other kinds."""
    spec = obj.get("spec") or {}
    if obj.get("kind") != "Experiment":
        return None
    objective = spec.get("objective") or {}
    space = []
    for parameter in spec.get("parameters") or []:
        feasible = parameter.get("feasibleSpace") or {}
        space.append({"name": parameter.get("name"), "type": parameter.get("parameterType"),
                      "min": feasible.get("min"), "max": feasible.get("max"),
                      "values": feasible.get("list")})
    return {"metric": objective.get("objectiveMetricName"), "type": objective.get("type"),
            "goal": objective.get("goal"),
            "additional_metrics": objective.get("additionalMetricNames") or [],
            "parameters": space,
            "algorithm": (spec.get("algorithm") or {}).get("algorithmName"),
            "max_trials": spec.get("maxTrialCount"), "parallel_trials": spec.get("parallelTrialCount")}
