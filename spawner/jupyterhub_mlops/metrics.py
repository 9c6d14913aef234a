"""Prometheus metrics of the GPU inventory and the spawner (names shared by the suite).

Gauges describe the inventory and live in the availability service's process
(scraped at ``/services/gpu-availability/metrics``); the counters of spawns and
refusals are incremented where the decision is taken: the service refuses
reservations, the spawner in the hub refuses tampered forms (scraped at
``/hub/metrics`` with the hub's other metrics).
"""

from __future__ import annotations

from prometheus_client import Counter, Gauge

GPUS_TOTAL = Gauge("jupyterhub_mlops_gpus_total", "GPUs on nodes that offer them now, per GPU type", ["gpu_type"])
GPUS_FREE = Gauge("jupyterhub_mlops_gpus_free", "GPUs free now, per GPU type", ["gpu_type"])
GPUS_HELD = Gauge(
    "jupyterhub_mlops_gpus_held",
    "GPUs requested by pods bound to nodes that offer them, per GPU type",
    ["gpu_type"],
)
GPUS_HELD_BY_USER = Gauge(
    "jupyterhub_mlops_gpus_held_by_user",
    "GPUs requested by a user's unfinished notebook pods",
    ["user", "gpu_type"],
)
GPU_RESERVATIONS = Gauge(
    "jupyterhub_mlops_gpu_reservations",
    "GPUs set aside for notebook servers not on a node yet (spawns in flight, pending pods)",
    ["gpu_type"],
)
INVENTORY_IN_SYNC = Gauge(
    "jupyterhub_mlops_inventory_in_sync",
    "1 when both watches are in sync with the API server, else 0",
)
SPAWN_REFUSALS = Counter("jupyterhub_mlops_spawn_refusals_total", "Spawns refused, by reason", ["reason"])
SPAWNS = Counter("jupyterhub_mlops_spawns_total", "Spawns granted, by profile", ["profile"])


def set_gauges(
    gpu_types: dict | None,
    held_by_user: dict[str, dict[str, int]],
    reserved_by_type: dict[str, int],
    in_sync: bool,
) -> None:
    """Refresh the gauges from a snapshot (labels that disappeared are removed)."""
    INVENTORY_IN_SYNC.set(1 if in_sync else 0)
    for gauge in (GPUS_TOTAL, GPUS_FREE, GPUS_HELD, GPUS_HELD_BY_USER, GPU_RESERVATIONS):
        gauge.clear()
    for type_id, entry in (gpu_types or {}).items():
        GPUS_TOTAL.labels(type_id).set(entry["total"])
        GPUS_FREE.labels(type_id).set(entry["free"])
        GPUS_HELD.labels(type_id).set(entry["held"])
    for user, by_type in held_by_user.items():
        for type_id, gpus in by_type.items():
            GPUS_HELD_BY_USER.labels(user, type_id).set(gpus)
    for type_id, gpus in reserved_by_type.items():
        GPU_RESERVATIONS.labels(type_id).set(gpus)
