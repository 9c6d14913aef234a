"""The GPUs a job's manifest asks for, read from its pod templates (pure functions over dicts).

What a job holds at most at once: every replica of a PyTorchJob, one trial
times the parallel trials of a sweep, the largest step of a workflow (steps
run one pod each). Each kind's ``requested_gpus`` picks its reading; the
availability check at submission and the sidebar's GPU column use the same.
"""

from __future__ import annotations

from .podspec import GPU_PRODUCT_LABEL, GPU_RESOURCE

Request = tuple[int, str | None]
"""(GPUs, the GPU product they are pinned to or None for any type)."""


def pod_gpus(pod_spec: dict) -> Request:
    """GPUs of one pod (limits of its containers) and the product it is pinned to."""
    gpus = 0
    for container in pod_spec.get("containers") or []:
        limits = (container.get("resources") or {}).get("limits") or {}
        gpus += int(limits.get(GPU_RESOURCE, 0) or 0)
    return gpus, (pod_spec.get("nodeSelector") or {}).get(GPU_PRODUCT_LABEL)


def pytorchjob_gpus(spec: dict) -> Request:
    """Every replica's GPUs of a PyTorchJob ``spec``."""
    total, gpu_type = 0, None
    for replica in (spec.get("pytorchReplicaSpecs") or {}).values():
        gpus, product = pod_gpus(((replica.get("template") or {}).get("spec")) or {})
        total += gpus * int(replica.get("replicas", 1))
        gpu_type = gpu_type or product
    return total, gpu_type


def workflow_gpus(spec: dict) -> Request:
    """The largest step's GPUs of a Workflow ``spec``."""
    best: Request = (0, None)
    for template in spec.get("templates") or []:
        body = template.get("container") or template.get("script") or {}
        gpus, _ = pod_gpus({"containers": [body]})
        if gpus > best[0]:
            best = (gpus, (template.get("nodeSelector") or {}).get(GPU_PRODUCT_LABEL))
    return best


def trial_gpus(trial_spec: dict) -> Request:
    """One trial's GPUs from a Katib ``trialTemplate.trialSpec`` (PyTorchJob, Workflow or Job)."""
    kind, spec = trial_spec.get("kind"), trial_spec.get("spec") or {}
    readers = {
        "PyTorchJob": pytorchjob_gpus,
        "Workflow": workflow_gpus,
        "Job": lambda job: pod_gpus(((job.get("template") or {}).get("spec")) or {}),
    }
    return readers[kind](spec) if kind in readers else (0, None)


def as_json(request: Request) -> dict:
    """``{"gpus", "gpu_type"}``, as the REST answers carry it."""
    return {"gpus": request[0], "gpu_type": request[1]}
