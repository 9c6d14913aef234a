"""The trace as Kubernetes objects: pure functions, tested as dicts.

A notebook is a plain pod, as KubeSpawner makes one; a training job or a sweep
trial is a batch/v1 Job whose pods all run at once (``parallelism`` =
``completions`` = its pods), which Kueue admits as one workload, all of its
GPUs or none. Every pod carries the KWOK annotations that finish it after its
duration divided by the time-compression factor (``mlops_cluster.simulated_runs``).

Queued (``pinned_to=None``): the workload carries its LocalQueue and priority
class (the LocalQueue names are the contract's: notebooks to the group's quota,
the rest to its batch queue), in its owner's namespace, which the hub would
have made. Static (``pinned_to=<node>``): no queue label, in a namespace
outside Kueue's reach (``static_namespace``), and the pods may only go to that
server, which they alone tolerate (``STATIC_TAINT``), where the scheduler lines
them up. Both runs share one cluster and one clock, on nodes of their own.
"""

from __future__ import annotations

from mlops_cluster.simulated_runs import run_for
from mlops_contract.namespaces import user_namespace
from mlops_contract.placement import GPU_RESOURCE, default_gpu_tolerations
from mlops_contract.queueing import LOCAL_QUEUE, NOTEBOOK, NOTEBOOK_QUEUE, PRIORITY_CLASS_LABEL, QUEUE_NAME_LABEL

from .trace import Workload

WORKLOAD_LABEL = "benchmarks.jupyterhub-mlops/workload"
"""On every pod (and Job): the trace workload it plays, to read the run back."""
IMAGE = "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime"
HOUR_S = 3600.0
STATIC_TAINT = {"key": "benchmarks.jupyterhub-mlops/static", "value": "true", "effect": "NoSchedule"}
"""On the static run's servers: the queued run's pods, which Kueue sends to any
server of the GPU type, stay off them."""


def static_namespace(owner: str) -> str:
    """The static run's namespace of ``owner``: not one the hub provisions, so Kueue's
    webhooks and the suite's admission policies leave it alone, as before the suite."""
    return f"static-{user_namespace(owner)}"


def _pod_spec(workload: Workload, pinned_to: str | None, restart: str) -> dict:
    spec: dict = {
        "restartPolicy": restart,
        "tolerations": default_gpu_tolerations() + ([dict(STATIC_TAINT, operator="Equal")] if pinned_to else []),
        "containers": [
            {
                "name": "main",
                "image": IMAGE,
                "resources": {
                    "requests": {"cpu": "1", "memory": "1Gi"},
                    "limits": {GPU_RESOURCE: str(workload.gpus_per_pod)},
                },
            }
        ],
    }
    if pinned_to:
        spec["nodeSelector"] = {"kubernetes.io/hostname": pinned_to}
    return spec


def _labels(workload: Workload, pinned_to: str | None) -> dict[str, str]:
    labels = {WORKLOAD_LABEL: workload.name}
    if not pinned_to:
        queue = NOTEBOOK_QUEUE if workload.workload_class == NOTEBOOK else LOCAL_QUEUE
        labels |= {QUEUE_NAME_LABEL: queue, PRIORITY_CLASS_LABEL: workload.workload_class.name}
    return labels


def workload_object(workload: Workload, factor: float, pinned_to: str | None = None) -> dict:
    """The pod (notebook) or Job (job, trial) that plays ``workload``, ``factor`` times
    faster than the lab lived it, in its owner's namespace (static: ``static_namespace``)."""
    namespace = static_namespace(workload.owner) if pinned_to else user_namespace(workload.owner)
    labels = _labels(workload, pinned_to)
    annotations = run_for(workload.duration * HOUR_S / factor)
    if workload.workload_class == NOTEBOOK:
        return {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": workload.name, "namespace": namespace, "labels": labels, "annotations": annotations},
            "spec": _pod_spec(workload, pinned_to, "Never"),
        }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": workload.name, "namespace": namespace, "labels": labels},
        "spec": {
            "parallelism": workload.pods,
            "completions": workload.pods,
            "completionMode": "Indexed",
            "backoffLimit": 0,
            # Kueue unsuspends it on admission; suspended from the start, no pod runs before.
            "suspend": not pinned_to,
            "template": {
                "metadata": {"labels": {WORKLOAD_LABEL: workload.name}, "annotations": annotations},
                "spec": _pod_spec(workload, pinned_to, "Never"),
            },
        },
    }
