"""The GPU inventory: what every node could offer and what its pods hold.

- ``accounting``: pure functions (request formula, node offers, GPU types, fits).
- ``state``: ``GpuInventory``, updated one watch event at a time; ``Snapshot``.
- ``watch``: ``InventoryWatcher``, the two watches (Nodes, Pods) that feed it.
"""

from .accounting import GpuType, NodeRecord, Shape, fits_on_node, pod_requests, servers_that_fit
from .state import GpuInventory, Snapshot
from .watch import InventoryWatcher

__all__ = [
    "GpuInventory",
    "GpuType",
    "InventoryWatcher",
    "NodeRecord",
    "Shape",
    "Snapshot",
    "fits_on_node",
    "pod_requests",
    "servers_that_fit",
]
