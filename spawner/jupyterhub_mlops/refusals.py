"""Why a profile cannot start now, in the sentences the spawn page, the form's
refusals and the reservation path all show: the one place they are written.

Each function returns ``(reason code, sentence)``; the code is a metric label
and picks the HTTP status (``spawn_form.STATUS_OF_REASON``). A sentence says
what is missing, in the numbers a user can compare with the page ("needs 4 on
one server; at most 3 are free on any"), never just that something failed.
"""

from __future__ import annotations

from collections.abc import Sequence

Refusal = tuple[str, str]


def unknown() -> Refusal:
    return (
        "unknown",
        "GPU availability is unknown right now (the inventory is reconnecting to the cluster); try again in a minute.",
    )


def no_gpu_type(gpu_type: str) -> Refusal:
    return "no_gpu_type", f"No server in the cluster has {gpu_type} GPUs."


def servers_unavailable(gpu_type: str, unavailable: Sequence[tuple[str, str]]) -> Refusal:
    """Every server of the type offers nothing; ``unavailable``: (server, reason)."""
    why = "; ".join(f"{name}: {reason}" for name, reason in unavailable)
    return "servers_unavailable", f"No {gpu_type} server takes new work now ({why})."


def too_large(gpus: int, gpu_type: str, largest: int) -> Refusal:
    """No server of the type has ``gpus`` GPUs at all (``largest``: the most one has)."""
    return (
        "no_node_large_enough",
        f"Needs {gpus} on one server; the largest {gpu_type} server that takes it has {largest}.",
    )


def no_room_for_shape(what: str, cpu: str, memory: str) -> Refusal:
    """No server that accepts the profile is large enough, GPUs aside (CPU, memory)."""
    return (
        "no_node_large_enough",
        f"No server that accepts it is large enough for {what} with {cpu} CPU and {memory} memory.",
    )


def too_few_free(gpus: int, gpu_type: str, largest_free: int) -> Refusal:
    """A pod's GPUs must all be on one server: what matters is the most free on one."""
    most = f"at most {largest_free} are free on any" if largest_free else "none is free on any"
    return "none_free", f"Needs {gpus} on one server; {most} {gpu_type} server."


def no_cpu_or_memory(gpus: int, cpu: str, memory: str) -> Refusal:
    """The GPUs are free on a server, but not the CPU, memory or pod slot with them."""
    beside = f" beside {gpus} free GPUs" if gpus else ""
    return (
        "none_free",
        f"Needs {cpu} CPU and {memory} memory{beside} on one server; no server has that much free right now.",
    )


def over_cap(held: int, gpus: int, cap: int) -> Refusal:
    return (
        "over_cap",
        f"Over your cap: you hold {held} GPUs, this profile needs {gpus} more, and your limit is {cap}.",
    )


def group_quota_unknown(group: str) -> Refusal:
    return (
        "group_quota_unknown",
        f"The GPU quota of your group {group} cannot be checked right now (the hub does not answer); "
        "try again in a minute.",
    )


def over_group_quota(group: str, held: int, quota: int, gpus: int) -> Refusal:
    return (
        "over_group_quota",
        f"Over your group's quota: your group {group} holds {held} of its {quota} GPUs, "
        f"and this profile needs {gpus} more.",
    )
