"""What every job kind's containers share: image, command, GPUs, resources, names.

Pure functions; each validator raises ``InvalidSpec`` naming the field.
"""

from __future__ import annotations

import re
import shlex

from mlops_contract.placement import GPU_PRODUCT_LABEL, GPU_RESOURCE
from mlops_contract.queueing import PRIORITY_CLASS_LABEL, QUEUE_NAME_LABEL, WorkloadClass

from .errors import InvalidSpec
from .settings import NotebookPod

NAME_RE = re.compile(r"^[a-z]([-a-z0-9]{0,50}[a-z0-9])?$")
QUANTITY_RE = re.compile(r"^[0-9]+(\.[0-9]+)?(m|k|M|G|T|P|Ki|Mi|Gi|Ti|Pi)?$")
SUBMITTED_BY = "jupyterhub-mlops/submitted-by"
"""Label on every job the suite creates; lists select on it."""


def pod_metadata(notebook: NotebookPod, labels: dict | None = None) -> dict:
    """Metadata of a pod template: the notebook's owner label plus ``labels``.

    No empty ``labels`` map: Katib's Experiment webhook converts a trial template to its
    kind and refuses it when that drops anything, an empty map included."""
    merged = {**notebook.owner_labels, **(labels or {})}
    return {"labels": merged} if merged else {}


def queue_labels(notebook: NotebookPod, gpus: int, workload_class: WorkloadClass) -> dict:
    """The labels that put a GPU workload in the namespace's Kueue line as ``workload_class``;
    none without GPUs or when the hub does not queue (CPU work is the scheduler's alone)."""
    if not gpus or not notebook.kueue_queue:
        return {}
    return {QUEUE_NAME_LABEL: notebook.kueue_queue, PRIORITY_CLASS_LABEL: workload_class.name}


NAME_LIMIT = 52


def check_name(name: str | None, field: str = "name", limit: int = NAME_LIMIT) -> None:
    """``limit``: the longest name the kind's controller accepts (Katib: 40)."""
    if name is not None and (not NAME_RE.match(name) or len(name) > limit):
        raise InvalidSpec(
            field,
            f"{name!r} must be 1-{limit} lowercase letters, digits or '-', "
            "starting with a letter and not ending with '-'",
        )


def check_command(command, field: str = "command") -> list[str]:
    if isinstance(command, str):
        try:
            command = shlex.split(command)
        except ValueError as exc:  # e.g. an unbalanced quote
            raise InvalidSpec(field, f"cannot be split like a shell command: {exc}") from exc
    if not isinstance(command, list) or not command or not all(isinstance(c, str) for c in command):
        raise InvalidSpec(field, "must be a non-empty list of strings (or a shell-style string)")
    return command


def check_text(value, field: str) -> str | None:
    """An optional string that, when given, is not empty."""
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise InvalidSpec(field, "must be a non-empty string when given")
    return value


def check_int(value, field: str, minimum: int = 0, maximum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidSpec(field, f"must be an integer, got {value!r}")
    if value < minimum or (maximum is not None and value > maximum):
        bound = f"between {minimum} and {maximum}" if maximum is not None else f">= {minimum}"
        raise InvalidSpec(field, f"must be {bound}, got {value}")
    return value


def check_quantity(value, field: str) -> str | None:
    if value is None:
        return None
    text = str(value)
    if not QUANTITY_RE.match(text):
        raise InvalidSpec(field, f"{text!r} is not a Kubernetes quantity (e.g. '4', '500m', '16Gi')")
    return text


def check_env(env, field: str = "env") -> dict[str, str]:
    if env is None:
        return {}
    if not isinstance(env, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in env.items()):
        raise InvalidSpec(field, "must map variable names to string values")
    return env


def container(
    name: str,
    image: str,
    command: list[str],
    *,
    gpus: int,
    cpu: str | None,
    memory: str | None,
    env: dict[str, str],
) -> dict:
    """A container manifest: the image, command, environment and resource limits."""
    limits: dict[str, str] = {}
    if gpus:
        limits[GPU_RESOURCE] = str(gpus)
    if cpu:
        limits["cpu"] = cpu
    if memory:
        limits["memory"] = memory
    body: dict = {"name": name, "image": image, "command": list(command)}
    if env:
        body["env"] = [{"name": k, "value": v} for k, v in sorted(env.items())]
    if limits:
        body["resources"] = {"limits": limits, "requests": dict(limits)}
    return body


def pod_spec(
    containers: list[dict],
    *,
    gpus: int,
    gpu_type: str | None,
    notebook: NotebookPod,
    restart_policy: str | None = None,
) -> dict:
    """A pod spec that lands on GPU nodes of ``gpu_type`` when GPUs are asked for,
    with the notebook's GPU tolerations (where the hub counts GPUs as free)."""
    spec: dict = {"containers": containers}
    if restart_policy:
        spec["restartPolicy"] = restart_policy
    if gpus:
        spec["tolerations"] = [dict(t) for t in notebook.gpu_tolerations]
        if gpu_type:
            spec["nodeSelector"] = {GPU_PRODUCT_LABEL: gpu_type}
    return spec


def metadata(name: str | None, prefix: str, namespace: str, labels: dict | None = None) -> dict:
    meta: dict = {
        "namespace": namespace,
        "labels": {SUBMITTED_BY: "jupyter-mlops", **(labels or {})},
    }
    if name:
        meta["name"] = name
    else:
        meta["generateName"] = f"{prefix}-"
    return meta
