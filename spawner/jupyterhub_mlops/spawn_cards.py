"""The spawn page's cards, grouped from the availability document (pure).

The availability service answers one row per profile; a fleet of a few GPU
types already makes a dozen auto-derived rows (each type × 1, 2, 4, 8). The
page groups them: one card per GPU type, the GPU count chosen inside it (each
count is still the row, and the slug, of its auto-derived profile, so what is
posted is one slug as before), the type's servers as free-vs-total bars
(out-of-service ones with their reason) and the pods waiting in Kueue's line
for it. The CPU-only choice and every operator-defined profile stay cards of
their own, in the operator's order, before the type cards.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from .inventory.quantity import format_bytes


@dataclass(frozen=True)
class Server:
    """One server with GPUs of a type: a bar of ``free`` out of ``total``."""

    node: str
    total: int
    free: int
    unavailable: str | None
    """Why the server offers nothing now (cordoned, not ready, an untolerated taint)."""


@dataclass(frozen=True)
class Card:
    """One card of the page: the choices (rows) it holds and what it shows."""

    key: str
    """``profile:<slug>`` for a profile of its own, ``type:<GPU type id>`` for a type."""
    title: str
    gpu_type: str | None
    choices: tuple[Mapping, ...]
    """The availability rows chosen from this card (a type card: by GPU count)."""
    servers: tuple[Server, ...] = ()
    free: int | None = None
    total: int | None = None
    queued: int = 0
    """Pods waiting in Kueue's line for this GPU type."""

    @property
    def unavailable(self) -> tuple[Server, ...]:
        return tuple(s for s in self.servers if s.unavailable is not None)


def type_title(entry: Mapping) -> str:
    """``NVIDIA-A100-SXM4-80GB · 80 GiB``: the type id and the memory of one GPU (or slice)."""
    memory = entry.get("memory_mib")
    return f"{entry['id']} · {format_bytes(memory << 20)}" if memory else str(entry["id"])


def servers_of(entry: Mapping) -> tuple[Server, ...]:
    return tuple(Server(s["node"], s["total"], s["free"], s.get("unavailable")) for s in entry.get("servers") or ())


def group_cards(doc: Mapping) -> list[Card]:
    """The cards for one snapshot document (``Availability.view_for``).

    A type card is made for every GPU type that has auto-derived rows, and
    for a type whose servers are all out of service: that card has no choice
    but shows them with the reason, so their GPUs are seen as unavailable
    rather than absent. Counts are in increasing order; a count exists only where some
    server of the type has that many GPUs (``profiles.auto_profiles``).
    """
    rows: Sequence[Mapping] = doc.get("profiles") or ()
    types: Mapping[str, Mapping] = doc.get("gpu_types") or {}
    cards = [
        Card(f"profile:{row['slug']}", row["display_name"], row.get("gpu_type"), (row,))
        for row in rows
        if not row.get("auto")
    ]
    by_type: dict[str, list[Mapping]] = {}
    for row in rows:
        if row.get("auto"):
            by_type.setdefault(row["gpu_type"], []).append(row)
    for type_id in sorted(set(by_type) | set(types)):
        entry = types.get(type_id) or {"id": type_id}
        choices = sorted(by_type.get(type_id, ()), key=lambda row: row["gpus"])
        servers = servers_of(entry)
        if not choices and not (servers and all(s.unavailable for s in servers)):
            continue  # nothing to choose and nothing out of service to explain
        cards.append(
            Card(
                f"type:{type_id}",
                type_title(entry),
                type_id,
                tuple(choices),
                servers,
                entry.get("free"),
                entry.get("total"),
                entry.get("queued", 0),
            )
        )
    return cards


def selected_slug(cards: Sequence[Card]) -> str | None:
    """The choice checked when the page opens: the default profile if it can
    start, else the first choice that can."""
    enabled = [row for card in cards for row in card.choices if not row.get("reason_code")]
    default = next((row for row in enabled if row.get("default")), None)
    chosen = default or (enabled[0] if enabled else None)
    return chosen["slug"] if chosen else None
