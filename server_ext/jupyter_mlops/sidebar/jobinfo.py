"""Pure readings of a job object that the list and detail views show (tested as dicts).

The jobs API's summaries say what state a job is in; the sidebar also shows
how many GPUs it asks for, its conditions and, for a sweep, what it optimises.
"""

from __future__ import annotations

GPU_RESOURCE = "nvidia.com/gpu"
GPU_PRODUCT_LABEL = "nvidia.com/gpu.product"


def _pod_gpus(pod_spec: dict) -> tuple[int, str | None]:
    """GPUs of one pod (limits of its containers) and the product it is pinned to."""
    gpus = 0
    for container in pod_spec.get("containers") or []:
        limits = (container.get("resources") or {}).get("limits") or {}
        gpus += int(limits.get(GPU_RESOURCE, 0) or 0)
    return gpus, (pod_spec.get("nodeSelector") or {}).get(GPU_PRODUCT_LABEL)


def _pytorchjob_gpus(spec: dict) -> tuple[int, str | None]:
    total, gpu_type = 0, None
    for replica in (spec.get("pytorchReplicaSpecs") or {}).values():
        gpus, product = _pod_gpus(((replica.get("template") or {}).get("spec")) or {})
        total += gpus * int(replica.get("replicas", 1))
        gpu_type = gpu_type or product
    return total, gpu_type


def _workflow_gpus(spec: dict) -> tuple[int, str | None]:
    # Steps run one pod each; the largest step is what the workflow needs at once.
    best: tuple[int, str | None] = (0, None)
    for template in spec.get("templates") or []:
        body = template.get("container") or template.get("script") or {}
        gpus, _ = _pod_gpus({"containers": [body]})
        if gpus > best[0]:
            best = (gpus, (template.get("nodeSelector") or {}).get(GPU_PRODUCT_LABEL))
    return best


def _trial_gpus(trial_spec: dict) -> tuple[int, str | None]:
    kind, spec = trial_spec.get("kind"), trial_spec.get("spec") or {}
    if kind == "PyTorchJob":
        return _pytorchjob_gpus(spec)
    if kind == "Workflow":
        return _workflow_gpus(spec)
    if kind == "Job":
        return _pod_gpus(((spec.get("template") or {}).get("spec")) or {})
    return 0, None


def requested_gpus(kind: str, obj: dict) -> dict:
    """``{"gpus", "gpu_type"}``: the GPUs a job holds at most at once and their product.

    A PyTorchJob: every replica's GPUs. A sweep: one trial's GPUs times its
    parallel trials. A workflow: its largest step. ``gpu_type`` is None when
    the job takes any type (or no GPU).
    """
    spec = obj.get("spec") or {}
    if kind == "pytorchjob":
        gpus, gpu_type = _pytorchjob_gpus(spec)
    elif kind == "sweep":
        per_trial, gpu_type = _trial_gpus((spec.get("trialTemplate") or {}).get("trialSpec") or {})
        gpus = per_trial * int(spec.get("parallelTrialCount") or 1)
    elif kind == "workflow":
        gpus, gpu_type = _workflow_gpus(spec)
    else:
        raise ValueError(f"unknown job kind {kind!r}")
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
