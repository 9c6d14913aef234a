"""Will the job fit on the GPUs free right now? Asked of the hub's availability API.

The hub-side availability service (issue 3) serves a JSON snapshot; we read,
for each GPU type (the ``nvidia.com/gpu.product`` value), ``free`` and, when
given, ``free_per_node`` (a pod's GPUs must all be on one node). The request
carries the user's own JupyterHub token (``JUPYTERHUB_API_TOKEN`` in a
single-user server).
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from .errors import ClusterUnreachable, PermissionDenied, UpstreamError


@dataclass(frozen=True)
class Fit:
    fits: bool
    message: str


def check_fit(snapshot: dict, gpu_type: str | None, gpus_per_pod: int, pods: int) -> Fit:
    """Whether ``pods`` pods of ``gpus_per_pod`` GPUs of ``gpu_type`` fit now (pure).

    ``gpu_type`` None means any type. With ``free_per_node`` the pods are
    packed greedily onto nodes (largest free first); without it only the
    total free count is compared.
    """
    if not gpus_per_pod:
        return Fit(True, "no GPUs requested")
    if snapshot.get("gpu_types") is None:  # the hub's inventory is out of sync: unknown
        return Fit(True, "GPU availability is unknown right now; submitted without the check")
    types = snapshot["gpu_types"]
    candidates = {gpu_type: types.get(gpu_type)} if gpu_type else dict(types)
    if gpu_type and types.get(gpu_type) is None:
        known = ", ".join(sorted(types)) or "none"
        return Fit(False, f"the cluster has no {gpu_type} GPUs (types: {known})")
    best_free = 0
    for name, entry in candidates.items():
        per_node = entry.get("free_per_node")
        if per_node is not None:
            placed = sum(free // gpus_per_pod for free in per_node)
        else:
            placed = int(entry.get("free", 0)) // gpus_per_pod
        if placed >= pods:
            return Fit(True, f"{pods} x {gpus_per_pod} {name} GPU(s) fit now")
        best_free = max(best_free, int(entry.get("free", 0)))
    what = gpu_type or "any type"
    return Fit(
        False,
        f"{pods} pod(s) of {gpus_per_pod} GPU(s) ({what}) do not fit now "
        f"(at most {best_free} free); the job would wait in the queue",
    )


class AvailabilityClient:
    def __init__(self, url: str, token: str | None, timeout: float = 5.0):
        self.url = url
        self.token = token
        self.timeout = timeout

    def snapshot(self) -> dict:
        headers = {"Authorization": f"token {self.token}"} if self.token else {}
        try:
            response = httpx.get(self.url, headers=headers, timeout=self.timeout)
        except httpx.TransportError as exc:
            raise ClusterUnreachable(
                f"The hub's GPU availability API at {self.url} did not answer "
                f"({type(exc).__name__})."
            ) from exc
        if response.status_code in (401, 403):
            raise PermissionDenied("read", "GPU availability", None, response.text[:200])
        if response.status_code >= 400:
            raise UpstreamError(f"The hub's GPU availability API answered {response.status_code}.")
        return response.json()
