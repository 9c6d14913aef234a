"""Will the job fit on the GPUs free right now? Asked of the hub's availability API.

The hub-side availability service serves a JSON snapshot per user; we read,
for each GPU type (the ``nvidia.com/gpu.product`` value), ``free`` and, when
given, ``free_per_node`` (a pod's GPUs must all be on one node), and the
caller's own ``user: {held_gpus, cap}`` (the hub's per-user GPU cap; a
snapshot without it means no cap). The request carries the user's own
JupyterHub token (``JUPYTERHUB_API_TOKEN`` in a single-user server), so the
hub answers for that user.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from .errors import ClusterUnreachable, TokenRefused, UpstreamError


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


@dataclass(frozen=True)
class CapCheck:
    within: bool
    held_gpus: int
    requested_gpus: int
    cap: int | None
    group: str | None = None
    """Set when a group's quota (not the user's cap) is what the job would break."""

    @property
    def message(self) -> str:
        if self.group is not None:
            return (
                f"Over your group's GPU quota: your group {self.group} holds {self.held_gpus} "
                f"of its {self.cap} GPUs, and this job needs {self.requested_gpus} more"
            )
        return (
            f"Over your GPU cap: you hold {self.held_gpus} GPUs, this job needs "
            f"{self.requested_gpus} more, and your limit is {self.cap}"
        )


def check_cap(snapshot: dict, gpus_per_pod: int, pods: int) -> CapCheck:
    """Whether ``pods`` pods of ``gpus_per_pod`` GPUs keep the user within their cap and
    their groups' quotas (pure).

    Reads the hub's per-user answer ``snapshot["user"]`` (``held_gpus``, ``cap``, and
    ``groups``: ``[{name, held_gpus, quota}]``); without it, or with ``cap``/``quota`` null,
    there is no limit. A limit of 0 allows no GPUs. The user's own cap is checked first.
    """
    user = snapshot.get("user") or {}
    requested = gpus_per_pod * pods
    held = int(user.get("held_gpus") or 0)
    cap = user.get("cap")
    if requested and cap is not None and held + requested > int(cap):
        return CapCheck(False, held, requested, int(cap))
    for group in user.get("groups") or []:
        quota, group_held = group.get("quota"), group.get("held_gpus")
        if group_held is None:  # the hub could not list the members: not knowable here
            continue
        if requested and quota is not None and int(group_held) + requested > int(quota):
            return CapCheck(False, int(group_held), requested, int(quota), group.get("name"))
    return CapCheck(True, held, requested, None if cap is None else int(cap))


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
                f"The hub's GPU availability API at {self.url} did not answer ({type(exc).__name__})."
            ) from exc
        if response.status_code in (401, 403):
            try:
                why = str(response.json().get("error") or "")[:200]
            except ValueError:
                why = ""
            raise TokenRefused(
                "The hub refused this server's JupyterHub token for GPU availability"
                + (f": {why}" if why else ".")
                + " Restart your server from the hub to get a fresh token, or ask your operator.",
                server_message=response.text[:200],
            )
        if response.status_code >= 400:
            raise UpstreamError(f"The hub's GPU availability API answered {response.status_code}.")
        return response.json()
