"""``Availability``: the inventory, its reservations and the profiles, as the
availability service answers from them.

Why the inventory lives in the service and not in the hub: one process must
own the watch (DESIGN, data flow 1) and the reservation book must sit next to
it so that "does it fit? then reserve" is one step on one event loop. The
service is that process; the spawner in the hub asks it over HTTP (a local
request of a millisecond) for the form's rows and for reservations. A restart
of the hub or of this service loses nothing that lasts: the held GPUs come
from the pods themselves (the inventory watches them), and a notebook pod
still waiting for a node keeps its GPUs set aside as a claim rebuilt from
the watch; only reservations of spawns whose pod is not created yet live in
memory (for the second or so before the spawner creates it).

Caps apply per user (``GpuProfiles.user_gpu_cap``, ``group_member_gpu_caps``)
and quotas per group (``group_gpu_quotas``: what all members hold together);
the members of a group come from the Hub API (``groups.GroupDirectory``).

Answers are cached per ``version`` (inventory version + reservation
generation), so a burst of requests between two events costs one computation.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..inventory.accounting import is_gpu_resource
from ..inventory.state import GpuInventory, Snapshot
from ..profiles import (
    Claim,
    GpuProfiles,
    GroupUsage,
    Profile,
    ProfileStatus,
    UserLimits,
    claim_of_pending_pod,
    evaluate,
    with_limits,
)
from ..spawn_form import QUEUEABLE_REASONS
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
    held_by_owner_and_type: dict[str, dict[str | None, int]]
    counted_pods: dict[str, set[str]]
    claims: list[Claim]
    """Set aside for servers not on a node yet: pending owned pods, then the
    reservations whose pod does not exist yet."""


class Availability:
    def __init__(self, inventory: GpuInventory, profiles: GpuProfiles, reservation_ttl: float = 600):
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
        pending = {key: claim_of_pending_pod(p) for key, p in snapshot.pending.items()}
        held: dict[str, int] = {}
        held_typed: dict[str, dict[str | None, int]] = {}  # None: a pending pod naming no GPU type
        counted: dict[str, set[str]] = {}
        type_of = {}  # (node, resource) -> GPU type id
        for view in snapshot.nodes:
            for gpu in view.record.gpu_types:
                type_of[(view.record.name, gpu.resource)] = gpu.id
        for owner, pods in snapshot.pods_by_owner.items():
            counted[owner] = {key for key, *_ in pods}
            for key, node, requests, _holds in pods:
                for resource, amount in requests:
                    if is_gpu_resource(resource):
                        held[owner] = held.get(owner, 0) + amount
                        # A pending pod's type: the product its node selector asks for.
                        claim = pending.get(key) if not node else None
                        type_id = type_of.get((node, resource)) or (claim.gpu_type if claim else resource)
                        by_type = held_typed.setdefault(owner, {})
                        by_type[type_id] = by_type.get(type_id, 0) + amount
        for owner, gpus in self.book.gpus_by_owner(counted).items():
            held[owner] = held.get(owner, 0) + gpus
        claims = list(pending.values())
        claims += [r.claim for r in self.book.active() if r.pod not in pending]
        self._computed = _Computed(
            self.version,
            snapshot,
            snapshot.gpu_types(),
            profiles,
            evaluate(profiles, snapshot, claims),
            held,
            held_typed,
            counted,
            claims,
        )
        return self._computed

    def reserved_by_type(self) -> dict[str, int]:
        """GPU type -> GPUs set aside for servers not on a node yet."""
        out: dict[str, int] = {}
        for claim in self.computed().claims:
            if claim.gpu_type and claim.gpus:
                out[claim.gpu_type] = out.get(claim.gpu_type, 0) + claim.gpus
        return out

    def limits_for(self, owner: str, groups: list[str], members: Mapping[str, frozenset[str] | None]) -> UserLimits:
        """The user's GPUs, cap and group quotas. ``members``: group -> owner
        label values of its members (None: unknown), for the user's groups
        that have a quota."""
        held = self.computed().held_by_owner
        usage = []
        for group, quota in sorted(self.profiles.quotas_for(groups).items()):
            owners = members.get(group)
            together = None
            if owners is not None:
                together = sum(held.get(o, 0) for o in owners | {owner})
            usage.append(GroupUsage(group, together, quota))
        return UserLimits(held.get(owner, 0), self.profiles.cap_for(groups), tuple(usage))

    def view_for(self, owner: str, groups: list[str], members: Mapping[str, frozenset[str] | None]) -> dict:
        """The versioned JSON document for one user (``members``: see ``limits_for``)."""
        c = self.computed()
        limits = self.limits_for(owner, groups, members)
        return {
            "version": c.version,
            "in_sync": c.snapshot.in_sync,
            "taken_at": c.snapshot.taken_at,
            "queueing": self.profiles.queue_with_kueue,
            "gpu_types": c.gpu_types,
            "profiles": [row.to_json() for row in with_limits(c.rows, limits)],
            "user": {
                "owner": owner,
                "held_gpus": limits.held,
                "cap": limits.cap,
                "groups": [{"name": u.group, "held_gpus": u.held, "quota": u.quota} for u in limits.groups],
            },
        }

    def reserve(
        self,
        owner: str,
        groups: list[str],
        slug: str,
        pod: str,
        members: Mapping[str, frozenset[str] | None],
        queue: bool = False,
    ):
        """Grant the profile to ``owner`` for ``pod`` or raise ``Refused``.
        Synchronous: nothing else runs between the check and the booking.

        ``queue``: when the GPUs are not free now (or the group's quota is in use),
        grant a place in Kueue's line instead of refusing: nothing is booked, and
        Kueue admits the pod when its GPUs are free (``queued`` on the grant)."""
        c = self.computed()
        rows = with_limits(c.rows, self.limits_for(owner, groups, members))
        row = next((r for r in rows if r.profile.slug == slug), None)
        if row is None:
            raise Refused(
                "unknown_profile",
                f"There is no profile {slug[:100]!r}; reload the spawn page and choose one listed.",
            )
        if row.reason_code is not None:
            if queue and row.reason_code in QUEUEABLE_REASONS:
                return self.book.queued(owner, row.profile, self.inventory, pod)
            raise Refused(row.reason_code, row.disabled_reason or "")
        return self.book.add(owner, row.profile, self.inventory, pod, self.reservation_ttl)
