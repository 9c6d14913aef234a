"""Other researchers' pods holding GPUs, so the demo's availability figures
are not all "everything free". Nothing runs in them (no run-locally
annotation): KWOK marks them Running and they hold their GPUs until deleted.
"""

from __future__ import annotations

from mlops_contract.labels import (
    KUBESPAWNER_SERVER_LABEL,
    KUBESPAWNER_USER_LABEL,
    OWNER_LABEL,
    label_value,
    owner_labels,
)
from mlops_contract.placement import GPU_TOLERATION

NAMESPACE = "demo-others"

# (user, GPU product label or None for MIG, resource, count)
HOLDINGS = [
    ("carol", "NVIDIA-A100-SXM4-80GB", "nvidia.com/gpu", 4),
    ("dave", "NVIDIA-A100-SXM4-80GB", "nvidia.com/gpu", 2),
    ("erin", "NVIDIA-RTX-A6000", "nvidia.com/gpu", 4),
    ("frank", None, "nvidia.com/mig-1g.10gb", 3),
    ("grace", None, "nvidia.com/mig-3g.40gb", 1),
]


def notebook_pod(user: str, product: str | None, resource: str, count: int) -> dict:
    """A pod labelled like a GPUKubeSpawner notebook pod of ``user``."""
    spec: dict = {
        "tolerations": [GPU_TOLERATION],
        "containers": [
            {
                "name": "notebook",
                "image": "quay.io/jupyter/pytorch-notebook:cuda12-latest",
                "resources": {"limits": {resource: str(count)}, "requests": {resource: str(count)}},
            }
        ],
    }
    if product:
        spec["nodeSelector"] = {"nvidia.com/gpu.product": product}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"jupyter-{user}",
            "namespace": NAMESPACE,
            "labels": {
                "component": "singleuser-server",
                KUBESPAWNER_USER_LABEL: label_value(user),
                KUBESPAWNER_SERVER_LABEL: "",
                **owner_labels(user),
            },
        },
        "spec": spec,
    }


def seed_manifests() -> list[dict]:
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    return [namespace, *(notebook_pod(*holding) for holding in HOLDINGS)]


def describe(pod: dict) -> str:
    """``carol holds 4 x nvidia.com/gpu (NVIDIA-A100-SXM4-80GB)``"""
    user = pod["metadata"]["labels"][OWNER_LABEL]
    held = pod["spec"]["containers"][0]["resources"]["limits"]
    product = pod["spec"].get("nodeSelector", {}).get("nvidia.com/gpu.product")
    what = ", ".join(f"{count} x {resource}" for resource, count in held.items())
    return f"{user} holds {what}" + (f" ({product})" if product else "")
