"""The GPUs a job asks for, read from its object (pure; tested as dicts).

Every job summary carries them (``JobKind.summary``), so the list, the watch
streams and the detail view show the same figure.
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
