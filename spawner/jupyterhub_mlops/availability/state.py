"""``Availability``: the inventory, its reservations and the profiles, as the
availability service answers from them.

Why the inventory lives in the service and not in the hub: one process must
own the watch (DESIGN, data flow 1) and the reservation book must sit next to
it so that "does it fit? then reserve" is one step on one event loop. The
service is that process; the spawner in the hub asks it over HTTP (a local
request of a millisecond) for the form's rows and for reservations. A hub
restart therefore loses nothing: the held GPUs come from the pods themselves
(the inventory watches them) and the reservations from the service.

Answers are cached per ``version`` (inventory version + reservation
generation), so a burst of requests between two events costs one computation.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..inventory.accounting import is_gpu_resource
from ..inventory.state import GpuInventory, Snapshot
from ..profiles import GpuProfiles, Profile, ProfileStatus, evaluate, with_cap
from .reservations import ReservationBook


class Refused(Exception):
    """A reservation cannot be granted; ``code`` is a metric label, the message a sentence."""

    def __init__(self, code: str, message: str):
        super().__init__(message)
        self.code = code


@dataclass
class _Computed:
    version: int
    snapshot: Snapshot
    gpu_types: dict | None
    profiles: list[Profile]
    rows: list[ProfileStatus]
    held_by_owner: dict[str, int]
    held_by_owner_and_type: dict[str, dict[str, int]]
    counted_pods: dict[str, set[str]]


class Availability:
    def __init__(
        self, inventory: GpuInventory, profiles: GpuProfiles, reservation_ttl: float = 600
    ):
        self.inventory = inventory
        self.profiles = profiles
        self.book = ReservationBook()
        self.reservation_ttl = reservation_ttl
        self._computed: _Computed | None = None

    @property
    def version(self) -> int:
        return self.inventory.version + self.book.generation

    def settle(self) -> None:
        """Called after inventory changes: end reservations whose pods now count."""
        self.book.settle(self.inventory)

    def computed(self) -> _Computed:
        self.book.settle(self.inventory)
        if self._computed is not None and self._computed.version == self.version:
            return self._computed
        snapshot = self.inventory.snapshot()
        profiles = self.profiles.all_profiles(snapshot)
        held, held_typed, counted = {}, {}, {}
        type_of = {}  # (node, resource) -> GPU type id
        for view in snapshot.nodes:
            for gpu in view.record.gpu_types:
                type_of[(view.record.name, gpu.resource)] = gpu.id
        for owner, pods in snapshot.pods_by_owner.items():
            counted[owner] = {key for key, *_ in pods}
            for _key, node, requests, _holds in pods:
                for resource, amount in requests:
                    if is_gpu_resource(resource):
                        held[owner] = held.get(owner, 0) + amount
                        type_id = type_of.get((node, resource), resource)
                        by_type = held_typed.setdefault(owner, {})
                        by_type[type_id] = by_type.get(type_id, 0) + amount
        for owner, gpus in self.book.gpus_by_owner(counted).items():
            held[owner] = held.get(owner, 0) + gpus
        self._computed = _Computed(
            self.version,
            snapshot,
            snapshot.gpu_types(),
            profiles,
            evaluate(profiles, snapshot, self.book.active()),
            held,
            held_typed,
            counted,
        )
        return self._computed

    def view_for(self, owner: str, groups: list[str]) -> dict:
        """The versioned JSON document for one user."""
        c = self.computed()
        held = c.held_by_owner.get(owner, 0)
        cap = self.profiles.cap_for(groups)
        return {
            "version": c.version,
            "in_sync": c.snapshot.in_sync,
            "taken_at": c.snapshot.taken_at,
            "gpu_types": c.gpu_types,
            "profiles": [row.to_json() for row in with_cap(c.rows, held, cap)],
            "user": {"owner": owner, "held_gpus": held, "cap": cap},
        }

    def reserve(self, owner: str, groups: list[str], slug: str, pod: str):
        """Grant the profile to ``owner`` for ``pod`` or raise ``Refused``."""
        c = self.computed()
        held = c.held_by_owner.get(owner, 0)
        rows = with_cap(c.rows, held, self.profiles.cap_for(groups))
        row = next((r for r in rows if r.profile.slug == slug), None)
        if row is None:
            raise Refused(
                "unknown_profile",
                f"There is no profile {slug[:100]!r}; reload the spawn page and choose one listed.",
            )
        if row.reason_code is not None:
            raise Refused(row.reason_code, row.disabled_reason)
        return self.book.add(owner, row.profile, self.inventory, pod, self.reservation_ttl)
