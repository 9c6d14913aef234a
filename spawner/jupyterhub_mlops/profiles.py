"""GPU profiles: what a user may ask for, and whether it can start now.

Operators list profiles in traitlets config (``c.GpuProfiles.profiles``, in the
spirit of Zero-to-JupyterHub's ``profileList``); with ``auto_profiles`` the
suite adds 1, 2, 4, 8 GPUs of every GPU type present, up to the largest node
of that type. ``evaluate`` turns profiles + an inventory snapshot + the
claims of servers not on a node yet (reservations of spawns in flight,
pending notebook pods) into one row per profile: free/total GPUs of its
type, how many servers of its shape fit now, and, when it cannot start, the
reason a user can act on. ``with_limits`` then applies one user's GPU cap and
the quotas of their groups.

Everything below the ``GpuProfiles`` class is pure.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from mlops_contract.placement import GPU_TOLERATION, default_gpu_tolerations
from traitlets import Bool, Dict, Int, List, Unicode, Union, observe
from traitlets.config import Config, LoggingConfigurable
from traitlets.config.loader import LazyConfigValue

from . import refusals
from .inventory.accounting import (
    GPU_RESOURCE,
    PRODUCT_LABEL,
    Requests,
    Shape,
    fits_on_node,
    gpu_type_id,
    is_gpu_resource,
    node_offers,
)
from .inventory.quantity import QuantityError, format_bytes, format_cpu, resource_amount
from .inventory.state import PendingPod, Snapshot


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
    default_tolerations: Sequence[Mapping] = (GPU_TOLERATION,),
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
class Claim:
    """Resources set aside for a server that is not on a node yet: the
    reservation of a spawn in flight, or a notebook pod the scheduler has not
    placed. Placed like the scheduler would (see ``place_claims``)."""

    vector: Requests
    """What the server takes from one node (``pods`` included)."""
    tolerations: tuple[Mapping, ...]
    node_selector: Mapping[str, str]
    gpu_type: str | None
    """The GPU type id it takes, None for CPU-only."""

    @property
    def gpus(self) -> int:
        return sum(a for r, a in self.vector if is_gpu_resource(r))


def quota_total(quota: int | Mapping[str, int]) -> int:
    """A group quota's GPUs of all types together (it is a number, or one per GPU product)."""
    return quota if isinstance(quota, int) else sum(quota.values())


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
    queued: bool = False
    """Nothing booked: the pod waits in Kueue's line (its id is empty)."""

    @property
    def claim(self) -> Claim:
        vector = tuple(sorted((r, a) for r, a in self.shape.vector().items() if a))
        return Claim(vector, self.profile.tolerations, self.node_selector, self.profile.gpu_type)


def claim_of_pending_pod(pod: PendingPod) -> Claim:
    """A notebook pod waiting for a node holds what it asks for: it is the
    reservation of its spawn, rebuilt from the cluster (so a restart of the
    availability service, which forgets its reservation book, forgets nothing)."""
    selector = dict(pod.node_selector)
    gpu = next((r for r, _ in pod.requests if is_gpu_resource(r)), None)
    gpu_type = None
    if gpu is not None:
        product = selector.get(PRODUCT_LABEL)
        gpu_type = gpu_type_id(gpu, product) if product else gpu
    return Claim(pod.requests, pod.tolerations, selector, gpu_type)


def shape_of(profile: Profile, snapshot: Snapshot) -> tuple[Shape, dict[str, str]] | None:
    """The shape a profile asks of a node and the node selector that pins its
    GPU product; None when no node has the profile's GPU type."""
    if not profile.gpus:
        return Shape(GPU_RESOURCE, 0, profile.cpu_milli, profile.memory_bytes), dict(profile.node_selector)
    for view in snapshot.nodes:
        for gpu in view.record.gpu_types:
            if gpu.id == profile.gpu_type:
                selector = {**profile.node_selector, PRODUCT_LABEL: gpu.product}
                return Shape(gpu.resource, profile.gpus, profile.cpu_milli, profile.memory_bytes), selector
    return None


def _eligible(snapshot: Snapshot, tolerations, selector) -> list[tuple[str, dict, Mapping]]:
    """(name, free copy, allocatable) of nodes that offer to such a pod."""
    return [
        (v.record.name, dict(v.free), v.record.allocatable)
        for v in snapshot.nodes
        if node_offers(v.record, tolerations, selector) is None
    ]


def _room(vector: Requests, free: Mapping[str, int]) -> int:
    """How many copies of ``vector`` fit in ``free``."""
    return min((free.get(r, 0) // a for r, a in vector if a > 0), default=0)


def place_claims(snapshot: Snapshot, claims: Iterable[Claim]) -> dict[str, dict]:
    """Free resources per node after setting aside the claims.

    Each claim is put on the eligible node where it leaves the least room
    (best fit), in the order given; a claim that fits nowhere takes nothing
    (its pod will not be scheduled either)."""
    free = {v.record.name: dict(v.free) for v in snapshot.nodes}
    for claim in claims:
        best = None
        for view in snapshot.nodes:
            if node_offers(view.record, claim.tolerations, claim.node_selector) is not None:
                continue
            room = _room(claim.vector, free[view.record.name])
            if room and (best is None or room < best[0]):
                best = (room, view.record.name)
        if best:
            node_free = free[best[1]]
            for resource, amount in claim.vector:
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
    """(free GPUs of the type, total, servers that fit, why none can start) ignoring caps.

    Why none can start names what is missing (``refusals``): a server of the
    type that takes work at all, one with enough GPUs, that many free on one
    server, or the CPU and memory beside them."""
    found = shape_of(profile, snapshot)
    if found is None:
        return 0, 0, 0, refusals.no_gpu_type(profile.gpu_type or "")
    shape, selector = found
    free_gpus = total = fits = largest = largest_free = 0
    large_enough = False
    unavailable = []  # (server, why) of servers of the type that offer it nothing
    for view in snapshot.nodes:
        alloc = view.record.allocatable
        if shape.gpus and not alloc.get(shape.gpu_resource):
            continue  # cheap test first: most nodes lack this GPU type
        why = node_offers(view.record, profile.tolerations, selector)
        if why is not None:
            # Out of service for every GPU pod (not merely another pool than the profile's).
            down = node_offers(view.record, profile.tolerations)
            if down is not None and any(gpu.id == profile.gpu_type for gpu in view.record.gpu_types):
                unavailable.append((view.record.name, down))
            continue
        node_free = free_after[view.record.name]
        if shape.gpus:
            total += alloc.get(shape.gpu_resource, 0)
            here = max(0, node_free.get(shape.gpu_resource, 0))
            free_gpus += here
            largest = max(largest, alloc.get(shape.gpu_resource, 0))
            if alloc.get(shape.gpu_resource, 0) >= shape.gpus:
                largest_free = max(largest_free, here)
        if fits_on_node(shape, alloc):
            large_enough = True
            fits += fits_on_node(shape, node_free)
    if fits:
        return free_gpus, total, fits, None
    gpu_type = profile.gpu_type or ""
    if shape.gpus and not total and unavailable:
        refusal = refusals.servers_unavailable(gpu_type, unavailable)
    elif shape.gpus and total and largest < shape.gpus:
        refusal = refusals.too_large(shape.gpus, gpu_type, largest)
    elif not large_enough:
        what = f"{profile.gpus} {gpu_type} GPUs" if profile.gpus else "this shape"
        refusal = refusals.no_room_for_shape(what, profile.cpu, profile.memory)
    elif shape.gpus and largest_free < shape.gpus:
        refusal = refusals.too_few_free(shape.gpus, gpu_type, largest_free)
    else:
        refusal = refusals.no_cpu_or_memory(shape.gpus, profile.cpu, profile.memory)
    return free_gpus, total, 0, refusal


def evaluate(profiles: Sequence[Profile], snapshot: Snapshot, claims: Iterable[Claim]) -> list[ProfileStatus]:
    """One row per profile, for anyone (caps and quotas are applied by ``with_limits``)."""
    if not snapshot.in_sync:
        code, sentence = refusals.unknown()
        return [ProfileStatus(p, None, None, None, sentence, code) for p in profiles]
    free_after = place_claims(snapshot, claims)
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


@dataclass(frozen=True)
class GroupUsage:
    """GPUs held together by the members of one JupyterHub group, against its quota.
    ``held`` is None when the members could not be read (the quota is then unknown)."""

    group: str
    held: int | None
    quota: int


@dataclass(frozen=True)
class UserLimits:
    """What one user may still take: GPUs they hold (running and pending servers,
    spawns in flight), their own cap (None: none) and their groups' quotas."""

    held: int = 0
    cap: int | None = None
    groups: tuple[GroupUsage, ...] = ()

    def refusal(self, gpus: int) -> tuple[str, str] | None:
        """``(reason code, sentence)`` when ``gpus`` more would break a limit."""
        if not gpus:
            return None
        if self.cap is not None and self.held + gpus > self.cap:
            return refusals.over_cap(self.held, gpus, self.cap)
        for usage in self.groups:
            if usage.held is None:
                return refusals.group_quota_unknown(usage.group)
            if usage.held + gpus > usage.quota:
                return refusals.over_group_quota(usage.group, usage.held, usage.quota, gpus)
        return None


def with_limits(rows: Iterable[ProfileStatus], limits: UserLimits) -> list[ProfileStatus]:
    """The rows as seen by one user: a GPU profile that would take them over
    their cap or one of their groups over its quota is disabled, saying so."""
    out = []
    for row in rows:
        refusal = limits.refusal(row.profile.gpus) if row.reason_code is None else None
        if refusal is not None:
            row = ProfileStatus(row.profile, row.free, row.total, row.fits, refusal[1], refusal[0])
        out.append(row)
    return out


# ----------------------------------------------------------------- the config
RENAMED_GPU_TOLERATIONS = ("KubeSpawner", "GPUKubeSpawner")
"""Config sections whose ``gpu_tolerations`` (GPUKubeSpawner's former trait) moves to
``GpuProfiles.gpu_tolerations``; the later, more specific section wins, as in traitlets."""


def renamed_gpu_tolerations(config: Config) -> list | None:
    """The tolerations an operator set under the former name, or None."""
    found = None
    for section in RENAMED_GPU_TOLERATIONS:
        value = dict.get(config, section, {}).get("gpu_tolerations")
        if isinstance(value, LazyConfigValue):  # c.GPUKubeSpawner.gpu_tolerations.append(...)
            value = value.get_value(default_gpu_tolerations())
        if value is not None:
            found = value
    return found


class GpuProfiles(LoggingConfigurable):
    """The profiles on the spawn page, and the GPU caps and quotas (config section
    ``GpuProfiles``)."""

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
        "",
        help="""
        Image of auto-derived profiles and of operator profiles that name none.
        Empty (the default): the spawner's own image, KubeSpawner.image, which
        Zero-to-JupyterHub sets from singleuser.image.""",
    ).tag(config=True)

    gpu_tolerations = List(
        Dict(),
        default_value=default_gpu_tolerations(),
        help="""
        Tolerations of GPU pods: match the taints of your GPU nodes (the GPU
        Operator's convention, nvidia.com/gpu=present:NoSchedule, is tolerated by
        the default). The one setting of where GPUs are: the availability
        numbers count only nodes whose NoSchedule/NoExecute taints these
        tolerate, GPUKubeSpawner adds them to every notebook pod, and GPU
        profiles that set no tolerations of their own use them. Replaces
        GPUKubeSpawner.gpu_tolerations (its value is moved here, with a
        warning).""",
    ).tag(config=True)

    user_gpu_cap = Int(
        0,
        help="""
        Most GPUs (of all types together) one user may hold at once, counting
        running and pending servers. 0 means no cap. Members of a group in
        group_member_gpu_caps get that group's cap instead.""",
    ).tag(config=True)

    group_member_gpu_caps = Dict(
        value_trait=Int(),
        help="""
        Per JupyterHub group, the most GPUs EACH member may hold at once, e.g.
        {"students": 1, "staff": 8}: it replaces user_gpu_cap for the members.
        A member of several of these groups gets the largest of their caps
        (0: no GPUs at all). For a limit on what a group holds in total, see
        group_gpu_quotas.""",
    ).tag(config=True)

    group_gpu_quotas = Dict(
        value_trait=Union([Int(), Dict(value_trait=Int())]),
        help="""
        Per JupyterHub group, the most GPUs ALL its members TOGETHER may hold at
        once (running and pending servers and spawns in flight), e.g.
        {"vision-lab": 16} (GPUs of any type), or per GPU product, e.g.
        {"vision-lab": {"NVIDIA-A100-SXM4-80GB": 4}} (the total counts on the
        spawn page; the types need queue_with_kueue, where Kueue holds them).
        A user in several such groups must stay within each one's quota.
        Enforced by the availability service, which reads group members from
        the Hub API (its token needs the scope read:groups;
        jupyterhub_mlops.availability.configure_hub grants it). With
        queue_with_kueue these same numbers are Kueue's quotas.""",
    ).tag(config=True)

    queue_with_kueue = Bool(
        False,
        help="""
        Hand GPUs out in line with Kueue (install it with helm-values/kueue.yaml).
        GPU notebooks, jobs, workflow steps and sweep trials then carry a Kueue
        queue: a spawn whose GPUs are not free may wait in line, its place shown
        on the progress page; jobs wait instead of holding half their GPUs. The
        availability service keeps Kueue's ResourceFlavors, ClusterQueues and
        priority classes in step with group_gpu_quotas, and the hub gives every
        user namespace its LocalQueues (jupyterhub_mlops.queues).""",
    ).tag(config=True)

    group_gpu_caps = Dict(
        value_trait=Int(),
        help="""
        Deprecated: renamed group_member_gpu_caps (a cap per member, not per
        group); the value is moved there with a warning.""",
    ).tag(config=True)

    @observe("group_gpu_caps")
    def _move_group_gpu_caps(self, change):
        self.log.warning(
            "GpuProfiles.group_gpu_caps is deprecated: it caps each member of a group and "
            "is now named GpuProfiles.group_member_gpu_caps (for a cap on the GPUs a whole "
            "group holds, use GpuProfiles.group_gpu_quotas)."
        )
        # The new name wins where both set a group.
        self.group_member_gpu_caps = {**change.new, **self.group_member_gpu_caps}

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self._move_spawner_gpu_tolerations()

    def _move_spawner_gpu_tolerations(self) -> None:
        # Read from the raw config, not from a spawner: the availability service
        # has no spawner, and must count GPUs where the hub sends pods.
        old = renamed_gpu_tolerations(self.config)
        if old is None:
            return
        if self.trait_has_value("gpu_tolerations"):  # the new name wins
            self.log.warning(
                "GPUKubeSpawner.gpu_tolerations is ignored: GpuProfiles.gpu_tolerations is set "
                "too and decides both where GPUs are counted and where pods go. Remove "
                "GPUKubeSpawner.gpu_tolerations from the config."
            )
            return
        self.log.warning(
            "GPUKubeSpawner.gpu_tolerations is deprecated: its value now sets "
            "GpuProfiles.gpu_tolerations, which decides both where GPUs are counted as free "
            "and where notebook pods go. Rename it in the config."
        )
        self.gpu_tolerations = old

    def configured(self) -> list[Profile]:
        out = [profile_from_config(e, self.default_image, self.gpu_tolerations) for e in self.profiles]
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
        """The GPU cap of one user in ``groups``; None when uncapped."""
        caps = [self.group_member_gpu_caps[g] for g in groups if g in self.group_member_gpu_caps]
        if caps:
            return max(caps)  # 0 here means: no GPUs for this group
        return self.user_gpu_cap or None

    def quotas_for(self, groups: Iterable[str]) -> dict[str, int]:
        """group -> quota (GPUs of all types together), for the groups of ``groups`` that have one."""
        return {g: quota_total(self.group_gpu_quotas[g]) for g in groups if g in self.group_gpu_quotas}
