"""``ReservationBook``: GPUs promised to spawns in flight, so two spawns never
both take the last GPUs.

A spawn reserves its shape before its pod exists; the reservation lasts until
the inventory counts the pod (bound to a node: its requests are now in the
node's usage), until the spawner releases it (the spawn failed or stopped),
or until it expires (a hub that died mid-spawn). Once the pod exists but
waits for a node, the pod itself carries the claim (``Availability.claims``),
so the book is only needed for the moments before the pod is created and
losing it in a restart of the service loses nothing that lasts. The book
lives in the one process that owns the inventory and is only touched from
its event loop, so "check that it fits, then reserve" is atomic without locks.
"""

from __future__ import annotations

import itertools
import secrets
import time

from ..inventory.state import GpuInventory
from ..profiles import Profile, Reservation, shape_of


class ReservationBook:
    def __init__(self):
        self._by_id: dict[str, Reservation] = {}
        self.generation = 0
        """Bumped on every change, so readers can cache per (inventory version, generation)."""
        self._order = itertools.count()

    def __len__(self) -> int:
        return len(self._by_id)

    def active(self) -> list[Reservation]:
        """Outstanding reservations, oldest first."""
        return list(self._by_id.values())

    def get(self, reservation_id: str) -> Reservation | None:
        return self._by_id.get(reservation_id)

    def add(self, owner: str, profile: Profile, inventory: GpuInventory, pod: str, ttl: float) -> Reservation:
        found = shape_of(profile, inventory.snapshot())
        if found is None:
            raise ValueError(f"no node has {profile.gpu_type} GPUs")
        shape, selector = found
        reservation = Reservation(
            f"r{next(self._order)}-{secrets.token_hex(6)}",
            owner,
            profile,
            shape,
            selector,
            pod,
            time.time() + ttl,
        )
        self._by_id[reservation.id] = reservation
        self.generation += 1
        return reservation

    def queued(self, owner: str, profile: Profile, inventory: GpuInventory, pod: str) -> Reservation:
        """A grant that books nothing: the pod waits in Kueue's line (``Reservation.queued``)."""
        found = shape_of(profile, inventory.snapshot())
        if found is None:
            raise ValueError(f"no node has {profile.gpu_type} GPUs")
        shape, selector = found
        return Reservation("", owner, profile, shape, selector, pod, time.time(), queued=True)

    def release(self, reservation_id: str) -> bool:
        """Forget a reservation; False when it was already gone."""
        if self._by_id.pop(reservation_id, None) is None:
            return False
        self.generation += 1
        return True

    def settle(self, inventory: GpuInventory, now: float | None = None) -> None:
        """Drop reservations whose pod the inventory now counts, and expired ones."""
        now = time.time() if now is None else now
        for res in list(self._by_id.values()):
            pod = inventory.pods.get(res.pod)
            if (pod is not None and pod.holds) or res.expires_at < now:
                self.release(res.id)

    def gpus_by_owner(self, counted_pods: dict[str, set[str]]) -> dict[str, int]:
        """GPUs reserved per owner, leaving out reservations whose pod the
        inventory already lists for that owner (pending pods), so nothing is
        counted twice."""
        out: dict[str, int] = {}
        for res in self._by_id.values():
            if res.pod in counted_pods.get(res.owner, ()):
                continue
            out[res.owner] = out.get(res.owner, 0) + res.shape.gpus
        return out
