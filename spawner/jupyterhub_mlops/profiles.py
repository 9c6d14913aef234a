"""GPU profiles: what a user may ask for, and whether it can start now.

Operators list profiles in traitlets config (``c.GpuProfiles.profiles``, in the
spirit of Zero-to-JupyterHub's ``profileList``); with ``auto_profiles`` the
suite adds 1, 2, 4, 8 GPUs of every GPU type present, up to the largest node
of that type. ``evaluate`` turns profiles + an inventory snapshot +
outstanding reservations + the user's held GPUs and cap into one row per
profile: free/total GPUs of its type, how many servers of its shape fit now,
and, when it cannot start, the reason a user can act on.

Everything below the ``GpuProfiles`` class is pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from kubespawner.slugs import is_valid_label, safe_slug
from traitlets import Bool, Dict, Int, List, Unicode
from traitlets.config import Configurable

from .inventory.accounting import (
    GPU_RESOURCE,
    PRODUCT_LABEL,
    Shape,
    fits_on_node,
    node_offers,
)
from .inventory.quantity import QuantityError, format_bytes, format_cpu, resource_amount
from .inventory.state import Snapshot

DEFAULT_GPU_TOLERATIONS = [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
OWNER_LABEL = "jupyterhub-mlops/user"


def owner_label_value(username: str) -> str:
    """The value of the ``jupyterhub-mlops/user`` label for a JupyterHub user
    (a valid label value; long or unusual names are hashed, as KubeSpawner does)."""
    return safe_slug(username, is_valid=is_valid_label, max_length=63)


class ProfileError(ValueError):
    """A profile definition in the config is wrong; the message names the profile and the field."""


@dataclass(frozen=True)
class Profile:
    """One choice on the spawn page (normalised from config or auto-derived)."""

    slug: str
    display_name: str
    gpu_type: str | None
    """Id of a GPU type (see ``inventory.accounting.gpu_type_id``); None for CPU-only."""
    gpus: int
    cpu_milli: int
    memory_bytes: int
    cpu: str
    memory: str
    image: str = ""
    description: str = ""
    node_selector: Mapping[str, str] = field(default_factory=dict)
    tolerations: tuple[Mapping, ...] = ()
    default: bool = False
    auto: bool = False

    def to_json(self) -> dict:
        return {
            "slug": self.slug,
            "display_name": self.display_name,
            "gpu_type": self.gpu_type,
            "gpus": self.gpus,
            "cpu": self.cpu,
            "memory": self.memory,
            "cpu_milli": self.cpu_milli,
            "memory_bytes": self.memory_bytes,
            "image": self.image,
            "description": self.description,
            "node_selector": dict(self.node_selector),
            "tolerations": [dict(t) for t in self.tolerations],
            "default": self.default,
            "auto": self.auto,
        }


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")[:60]


def profile_from_config(
    entry: Mapping,
    default_image: str = "",
    default_tolerations: Sequence[Mapping] = DEFAULT_GPU_TOLERATIONS,
) -> Profile:
    """Normalise one operator entry; raise ``ProfileError`` naming what is wrong."""
    name = entry.get("display_name") or entry.get("slug")
    if not name:
        raise ProfileError(f"GpuProfiles.profiles entry {dict(entry)!r} needs a display_name")
    gpus = entry.get("gpus", 0)
    if not isinstance(gpus, int) or gpus < 0:
        raise ProfileError(f"profile {name!r}: gpus must be a whole number >= 0, not {gpus!r}")
    if gpus and not entry.get("gpu_type"):
        raise ProfileError(f"profile {name!r}: gpu_type is required when gpus > 0")
    cpu, memory = str(entry.get("cpu", "1")), str(entry.get("memory", "4Gi"))
    try:
        cpu_milli, memory_bytes = resource_amount("cpu", cpu), resource_amount("memory", memory)
    except QuantityError as exc:
        raise ProfileError(f"profile {name!r}: {exc}") from exc
    tolerations = entry.get("tolerations")
    if tolerations is None:
        tolerations = default_tolerations if gpus else ()
    return Profile(
        slug=entry.get("slug") or slugify(name),
        display_name=name,
        gpu_type=entry.get("gpu_type") if gpus else None,
        gpus=gpus,
        cpu_milli=cpu_milli,
        memory_bytes=memory_bytes,
        cpu=cpu,
        memory=memory,
        image=entry.get("image") or default_image,
        description=entry.get("description", ""),
        node_selector=dict(entry.get("node_selector") or {}),
        tolerations=tuple(dict(t) for t in tolerations),
        default=bool(entry.get("default")),
    )


def auto_profiles(
    snapshot: Snapshot,
    sizes: Iterable[int],
    cpu_per_gpu: str,
    memory_per_gpu: str,
    image: str,
    tolerations: Sequence[Mapping],
    taken: set[str],
) -> list[Profile]:
    """k GPUs of each GPU type present on a node that offers it, for each k in
    ``sizes`` up to the largest such node. Slugs already in ``taken`` are skipped."""
    out = []
    cpu_milli, memory_bytes = (
        resource_amount("cpu", cpu_per_gpu),
        resource_amount("memory", memory_per_gpu),
    )
    largest: dict[str, tuple] = {}
    for view in snapshot.nodes:
        if view.unavailable_reason is not None:
            continue  # cordoned, NotReady or untolerated: offers no profile
        for gpu in view.record.gpu_types:
            size = view.record.allocatable.get(gpu.resource, 0)
            if size > largest.get(gpu.id, (0,))[0]:
                largest[gpu.id] = (size, gpu)
    for type_id in sorted(largest):
        size, gpu = largest[type_id]
        memory_note = f", {format_bytes(gpu.memory_mib << 20)}" if gpu.memory_mib else ""
        for k in sorted(set(sizes)):
            if k > size:
                continue
            slug = f"{slugify(type_id)}-x{k}"
            if slug in taken:
                continue
            cpu_m, mem_b = cpu_milli * k, memory_bytes * k
            out.append(
                Profile(
                    slug=slug,
                    display_name=f"{k} × {type_id}{memory_note}",
                    gpu_type=type_id,
                    gpus=k,
                    cpu_milli=cpu_m,
                    memory_bytes=mem_b,
                    cpu=format_cpu(cpu_m),
                    memory=format_bytes(mem_b),
                    image=image,
                    tolerations=tuple(dict(t) for t in tolerations),
                    auto=True,
                )
            )
    return out


# ----------------------------------------------------------------- evaluation
@dataclass(frozen=True)
class Reservation:
    """GPUs promised to a spawn whose pod the inventory does not count yet."""

    id: str
    owner: str
    profile: Profile
    shape: Shape
    node_selector: Mapping[str, str]
    pod: str
    expires_at: float


def shape_of(profile: Profile, snapshot: Snapshot) -> tuple[Shape, dict[str, str]] | None:
    """The shape a profile asks of a node and the node selector that pins its
    GPU product; None when no node has the profile's GPU type."""
    if not profile.gpus:
        return Shape(GPU_RESOURCE, 0, profile.cpu_milli, profile.memory_bytes), dict(
            profile.node_selector
        )
    for view in snapshot.nodes:
        for gpu in view.record.gpu_types:
            if gpu.id == profile.gpu_type:
                selector = {**profile.node_selector, PRODUCT_LABEL: gpu.product}
                return Shape(
                    gpu.resource, profile.gpus, profile.cpu_milli, profile.memory_bytes
                ), selector
    return None


def _eligible(snapshot: Snapshot, tolerations, selector) -> list[tuple[str, dict, Mapping]]:
    """(name, free copy, allocatable) of nodes that offer to such a pod."""
    return [
        (v.record.name, dict(v.free), v.record.allocatable)
        for v in snapshot.nodes
        if node_offers(v.record, tolerations, selector) is None
    ]


def place_reservations(snapshot: Snapshot, reservations: Iterable[Reservation]) -> dict[str, dict]:
    """Free resources per node after setting aside outstanding reservations.

    Each reservation is put on the eligible node where it leaves the least
    room (best fit), in the order they were made; a reservation that fits
    nowhere takes nothing (its pod will not be scheduled either)."""
    free = {v.record.name: dict(v.free) for v in snapshot.nodes}
    for res in reservations:
        best = None
        for view in snapshot.nodes:
            if node_offers(view.record, res.profile.tolerations, res.node_selector) is not None:
                continue
            room = fits_on_node(res.shape, free[view.record.name])
            if room and (best is None or room < best[0]):
                best = (room, view.record.name)
        if best:
            node_free = free[best[1]]
            for resource, amount in res.shape.vector().items():
                node_free[resource] = node_free.get(resource, 0) - amount
    return free


@dataclass(frozen=True)
class ProfileStatus:
    """One row of the spawn page."""

    profile: Profile
    free: int | None
    total: int | None
    fits: int | None
    disabled_reason: str | None
    reason_code: str | None

    def to_json(self) -> dict:
        return {
            **self.profile.to_json(),
            "free": self.free,
            "total": self.total,
            "fits": self.fits,
            "disabled_reason": self.disabled_reason,
            "reason_code": self.reason_code,
        }


def capacity(profile: Profile, snapshot: Snapshot, free_after: Mapping[str, Mapping[str, int]]):
    """(free GPUs of the type, total, servers that fit, why none can start) ignoring caps."""
    found = shape_of(profile, snapshot)
    if found is None:
        return 0, 0, 0, ("no_gpu_type", f"No node in the cluster has {profile.gpu_type} GPUs.")
    shape, selector = found
    free_gpus = total = fits = 0
    large_enough = False
    for view in snapshot.nodes:
        alloc = view.record.allocatable
        if shape.gpus and not alloc.get(shape.gpu_resource):
            continue  # cheap test first: most nodes lack this GPU type
        if node_offers(view.record, profile.tolerations, selector) is not None:
            continue
        node_free = free_after[view.record.name]
        if shape.gpus:
            total += alloc.get(shape.gpu_resource, 0)
            free_gpus += max(0, node_free.get(shape.gpu_resource, 0))
        if fits_on_node(shape, alloc):
            large_enough = True
            fits += fits_on_node(shape, node_free)
    if not large_enough:
        what = f"{profile.gpus} {profile.gpu_type} GPUs" if profile.gpus else "this shape"
        return (
            free_gpus,
            total,
            0,
            (
                "no_node_large_enough",
                f"No node that accepts it is large enough for {what} "
                f"with {profile.cpu} CPU and {profile.memory} memory.",
            ),
        )
    if fits == 0:
        if shape.gpus and free_gpus < profile.gpus:
            why = f"None free: {free_gpus} of {total} {profile.gpu_type} GPUs are free."
        else:
            why = "No single node has room for this shape right now (GPUs, CPU or memory)."
        return free_gpus, total, 0, ("none_free", why)
    return free_gpus, total, fits, None


def evaluate(
    profiles: Sequence[Profile], snapshot: Snapshot, reservations: Iterable[Reservation]
) -> list[ProfileStatus]:
    """One row per profile, for anyone (caps are applied by ``with_cap``)."""
    if not snapshot.in_sync:
        return [
            ProfileStatus(
                p,
                None,
                None,
                None,
                "GPU availability is unknown right now "
                "(the inventory is reconnecting to the cluster); try again in a minute.",
                "unknown",
            )
            for p in profiles
        ]
    free_after = place_reservations(snapshot, reservations)
    rows = []
    for profile in profiles:
        free, total, fits, why = capacity(profile, snapshot, free_after)
        rows.append(
            ProfileStatus(
                profile,
                free if profile.gpus else None,
                total if profile.gpus else None,
                fits,
                why[1] if why else None,
                why[0] if why else None,
            )
        )
    return rows


def with_cap(rows: Iterable[ProfileStatus], held_gpus: int, cap: int | None) -> list[ProfileStatus]:
    """The rows as seen by a user holding ``held_gpus`` under ``cap`` (None: no cap):
    a GPU profile that would take them over the cap is disabled, saying so."""
    out = []
    for row in rows:
        gpus = row.profile.gpus
        if row.reason_code is None and cap is not None and gpus and held_gpus + gpus > cap:
            row = ProfileStatus(
                row.profile,
                row.free,
                row.total,
                row.fits,
                f"Over your cap: you hold {held_gpus} GPUs, this profile needs "
                f"{gpus} more, and your limit is {cap}.",
                "over_cap",
            )
        out.append(row)
    return out


# ----------------------------------------------------------------- the config
class GpuProfiles(Configurable):
    """The profiles on the spawn page and the GPU caps (config section ``GpuProfiles``)."""

    profiles = List(
        Dict(),
        help="""
        Profiles offered on the spawn page, in order. Each is a dict with:
        display_name (required), slug (defaults from display_name), description,
        gpu_type (a GPU type id as listed by the availability API, e.g.
        "NVIDIA-A100-SXM4-80GB", "NVIDIA-A100-SXM4-80GB/mig-1g.10gb"),
        gpus (how many of that type, 0 for CPU-only), cpu and memory (Kubernetes
        quantities, requested and limited), image, node_selector (extra labels
        the node must carry), tolerations (default: GpuProfiles.gpu_tolerations
        for GPU profiles), default (pre-selected).
        """,
    ).tag(config=True)

    auto_profiles = Bool(
        True,
        help="""
        Also offer, for every GPU type present in the cluster, profiles of
        auto_profile_sizes GPUs (up to the largest node of that type).
        """,
    ).tag(config=True)

    auto_profile_sizes = List(
        Int(),
        default_value=[1, 2, 4, 8],
        help="""
        GPU counts offered by auto-derived profiles.""",
    ).tag(config=True)

    auto_profile_cpu_per_gpu = Unicode(
        "4",
        help="""
        CPU requested per GPU by auto-derived profiles (a Kubernetes quantity).""",
    ).tag(config=True)

    auto_profile_memory_per_gpu = Unicode(
        "16Gi",
        help="""
        Memory requested per GPU by auto-derived profiles (a Kubernetes quantity).""",
    ).tag(config=True)

    default_image = Unicode(
        "quay.io/jupyter/pytorch-notebook:cuda12-latest",
        help="""
        Image of auto-derived profiles and of operator profiles that name none.""",
    ).tag(config=True)

    gpu_tolerations = List(
        Dict(),
        default_value=DEFAULT_GPU_TOLERATIONS,
        help="""
        Tolerations of GPU profiles that set none: match the taints of your GPU
        nodes (the GPU Operator's convention is nvidia.com/gpu=present:NoSchedule).
        The availability numbers count only nodes whose NoSchedule/NoExecute
        taints these tolerate.""",
    ).tag(config=True)

    user_gpu_cap = Int(
        0,
        help="""
        Most GPUs (of all types together) one user may hold at once, counting
        running and pending servers. 0 means no cap.""",
    ).tag(config=True)

    group_gpu_caps = Dict(
        value_trait=Int(),
        help="""
        Per JupyterHub group, the most GPUs one member may hold at once, e.g.
        {"students": 1, "staff": 8}. A member of several groups gets the largest
        of their caps; a user in none of them gets user_gpu_cap.""",
    ).tag(config=True)

    def configured(self) -> list[Profile]:
        out = [
            profile_from_config(e, self.default_image, self.gpu_tolerations) for e in self.profiles
        ]
        slugs = [p.slug for p in out]
        duplicated = sorted({s for s in slugs if slugs.count(s) > 1})
        if duplicated:
            raise ProfileError(f"GpuProfiles.profiles: slugs used twice: {duplicated}")
        return out

    def all_profiles(self, snapshot: Snapshot) -> list[Profile]:
        """Operator profiles first, then auto-derived ones (when enabled)."""
        out = self.configured()
        if self.auto_profiles and snapshot.in_sync:
            out += auto_profiles(
                snapshot,
                self.auto_profile_sizes,
                self.auto_profile_cpu_per_gpu,
                self.auto_profile_memory_per_gpu,
                self.default_image,
                self.gpu_tolerations,
                {p.slug for p in out},
            )
        return out

    def cap_for(self, groups: Iterable[str]) -> int | None:
        """The GPU cap of a user in ``groups``; None when uncapped."""
        caps = [self.group_gpu_caps[g] for g in groups if g in self.group_gpu_caps]
        if caps:
            return max(caps)  # 0 here means: no GPUs for this group
        return self.user_gpu_cap or None
