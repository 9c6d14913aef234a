"""``JobsClient``: submit, find and list a user's jobs as their own service account.

One client per identity; the Python API uses ``default_client()`` (built from
the environment, read once: ``settings``), the REST handlers one built from
the server extension's config (``MlopsJobs``). Submission never leaves a half-created job behind: a snapshot
ConfigMap created for a job that then fails to be created is deleted again.
"""

from __future__ import annotations

import builtins
import os
import threading
import time
from collections.abc import Iterator

from mlops_contract.api import IF_NOT_FITS

from .aiokube import AsyncKubeClient
from .availability import AvailabilityClient, check_cap, check_fit
from .cache import JobCache
from .credentials import KubeCredentials
from .errors import (
    AlreadyExists,
    ComponentMissing,
    GpusUnavailable,
    InvalidSpec,
    JobsError,
    NotFound,
    OverGpuCap,
)
from .handle import JobHandle
from .kind import SNAPSHOT_ANNOTATION, JobKind
from .kinds import KINDS, kind_named
from .kube import KubeClient, watch_event, watch_params
from .kueue_line import with_places
from .resources import CONFIGMAPS, PVCS, TRIALS
from .settings import JobsSettings, NotebookPod
from .snapshot import (
    CONFIGMAP_LIMIT,
    Archive,
    SharedVolume,
    Snapshot,
    SnapshotRef,
    configmap_manifest,
    too_large,
)
from .trials import selector


class JobsClient:
    def __init__(
        self,
        kube: KubeClient,
        *,
        availability: AvailabilityClient | None = None,
        shared_volume: SharedVolume | None = None,
        argo_server_url: str | None = None,
        argo_server_ca_file: str | None = None,
        notebook: NotebookPod | None = None,
    ):
        self.kube = kube
        self.availability = availability
        self.shared_volume = shared_volume
        self.argo_server_url = argo_server_url
        """Submit workflows through this Argo Server (Hera's WorkflowsService); None: the
        Kubernetes API. Reading, listing and deleting always use the Kubernetes API."""
        self.argo_server_ca_file = argo_server_ca_file
        """CA bundle for an https ``argo_server_url``; None: the system's."""
        self.notebook = notebook or NotebookPod()
        """What the jobs' pods inherit from the notebook (image, owner label, workflow account)."""
        self.cache: JobCache | None = None
        self.async_kube: AsyncKubeClient | None = None

    def start_cache(self) -> None:
        """Serve lists and streams from one informer per kind (see ``cache``).

        For the long-lived REST server: call it on its event loop, where the
        informers and ``async_kube`` (for log following) then live.
        """
        if self.cache is None:
            self.async_kube = AsyncKubeClient(self.kube.credentials, self.kube.timeout)
            self.cache = JobCache(self.async_kube, list(KINDS.values())).start()

    def served(self) -> tuple[JobCache, AsyncKubeClient]:
        """The informers and the async client that ``start_cache`` made (a server's client)."""
        if self.cache is None or self.async_kube is None:
            raise RuntimeError("only a client whose start_cache() ran serves streams")
        return self.cache, self.async_kube

    def close(self) -> None:
        if self.cache is not None:
            self.cache.close()
        self.kube.close()

    @classmethod
    def from_environment(cls, environ: dict | None = None) -> JobsClient:
        """``from_settings`` with ``JobsSettings.from_environment(environ)``."""
        return cls.from_settings(JobsSettings.from_environment(environ))

    @classmethod
    def from_settings(cls, settings: JobsSettings) -> JobsClient:
        """Credentials as ``KubeCredentials.from_settings``; plus, when set, the availability
        API (called with the hub token), the shared volume and the Argo Server."""
        availability = None
        if settings.availability_url:
            availability = AvailabilityClient(settings.availability_url, settings.hub_api_token or None)
        shared = None
        if settings.shared_volume_claim:
            shared = SharedVolume(
                settings.shared_volume_claim,
                settings.shared_volume_path or os.path.expanduser("~"),
            )
        return cls(
            KubeClient(KubeCredentials.from_settings(settings)),
            availability=availability,
            shared_volume=shared,
            argo_server_url=settings.argo_server_url or None,
            argo_server_ca_file=settings.argo_server_ca_file or None,
            notebook=settings.notebook_pod(),
        )

    @property
    def namespace(self) -> str:
        return self.kube.namespace

    # ------------------------------------------------------------ finding
    def handle(self, kind: str | JobKind, name: str) -> JobHandle:
        """A handle without asking the server whether the job exists."""
        return JobHandle(self, kind if isinstance(kind, JobKind) else kind_named(kind), name)

    def get(self, kind: str | JobKind, name: str) -> JobHandle:
        """The handle of an existing job; ``NotFound`` otherwise."""
        handle = self.handle(kind, name)
        handle.get()
        return handle

    def list(self, kind: str | None = None) -> list[dict]:
        """Summaries of my jobs (every job in my namespace), newest first.

        Without ``kind`` every kind is listed; kinds whose component is not
        installed are left out rather than failing the whole list.
        """
        kinds = [kind_named(kind)] if kind else list(KINDS.values())
        summaries: list[dict] = []
        for each in kinds:
            items = self.cache.objects(each) if self.cache is not None else None
            try:
                if items is None:
                    items = self.kube.list(each.resource, self.namespace)["items"]
            except ComponentMissing:
                if kind:
                    raise
                continue
            summaries.extend(each.summary(obj) for obj in items)
        summaries = with_places(summaries, self.kube, self.namespace)
        return sorted(summaries, key=lambda s: s["created"] or "", reverse=True)

    def trials(self, experiment: str, namespace: str | None = None) -> builtins.list[dict]:
        """The Katib Trials of the sweep ``experiment``: from the server's watch when it is in
        sync (``start_cache``; trimmed to ``trials.kept_of_trial``), else listed."""
        namespace = namespace or self.namespace
        served = self._served_trials(experiment, namespace)
        if served is not None:
            return served
        return self.kube.list(TRIALS, namespace, label_selector=selector(experiment))["items"]

    def trial_names(self, experiment: str, namespace: str | None = None) -> set[str]:
        """The names of the sweep's Trials: from the watch, else a metadata-only list."""
        namespace = namespace or self.namespace
        served = self._served_trials(experiment, namespace)
        if served is not None:
            return {t["metadata"]["name"] for t in served}
        return {m["name"] for m in self.kube.list_metadata(TRIALS, namespace, label_selector=selector(experiment))}

    def _served_trials(self, experiment: str, namespace: str) -> builtins.list[dict] | None:
        """None where the watch cannot answer: no cache, not in sync, or another namespace."""
        if self.cache is None or namespace != self.namespace:
            return None
        return self.cache.trials_of(experiment, wait=self.kube.timeout)

    def watch_events(
        self,
        kind: JobKind,
        *,
        name: str | None = None,
        resource_version: str | None = None,
        timeout_seconds: int = 60,
    ) -> Iterator[tuple[str, dict]]:
        """(type, object) for each change of the kind's jobs (or one job) from ``resource_version``.

        Ends after ``timeout_seconds`` (the server closes the watch). A type of
        ``RESYNC`` means the version was too old (410): re-read, then watch on.
        """
        params = watch_params(resource_version, timeout_seconds, name)
        with self.kube.open_stream("watch", kind.resource, None, params=params) as stream:
            for line in stream:
                event = watch_event(line)
                if event is None or event[0] == "BOOKMARK":
                    continue
                yield event
                if event[0] == "RESYNC":
                    return

    # ------------------------------------------------------------ submitting
    def submit(self, spec, *, if_not_fits: str = "refuse") -> JobHandle:
        """Validate ``spec`` (PyTorchJob, Sweep or ArgoWorkflow), check GPUs, ship code, create."""
        if if_not_fits not in IF_NOT_FITS:
            raise InvalidSpec("if_not_fits", f"must be one of {', '.join(IF_NOT_FITS)}")
        spec.validate(self.notebook)
        warnings = self._check_gpus(spec, if_not_fits)
        ref, configmap, archive, is_new = None, None, None, False
        if spec.snapshot is not None:
            ref, archive, is_new = self._ship(spec.snapshot)
            configmap = ref.configmap
        manifest = spec.to_manifest(self.namespace, ref, self.notebook)
        if configmap:
            manifest["metadata"].setdefault("annotations", {})[SNAPSHOT_ANNOTATION] = configmap
        handle = self.create_job(
            KINDS[spec.kind],
            manifest,
            snapshot_configmap=configmap,
            snapshot_is_new=is_new,
            snapshot_archive=archive,
        )
        handle.warnings = warnings
        return handle

    def create_job(
        self,
        kind: JobKind,
        manifest: dict,
        *,
        snapshot_configmap: str | None,
        snapshot_is_new: bool,
        snapshot_archive: Archive | None = None,
    ) -> JobHandle:
        """Create the job, then make it the owner of its snapshot ConfigMap; all or nothing."""
        try:
            created = kind.create(self, manifest)
        except BaseException:
            if snapshot_is_new and snapshot_configmap:
                self._delete_quietly(CONFIGMAPS, snapshot_configmap)
            raise
        meta = created["metadata"]
        self.observe(kind, created)
        if snapshot_configmap:
            owner = {
                # From the kind, not the answer: the Argo Server's answer leaves them out.
                "apiVersion": kind.resource.api_version,
                "kind": kind.resource.kind,
                "name": meta["name"],
                "uid": meta["uid"],
            }
            try:
                self._own_snapshot(snapshot_configmap, owner, snapshot_archive)
            except BaseException:
                self._delete_quietly(kind.resource, meta["name"])
                self.observe(kind, created, deleted=True)
                if snapshot_is_new:
                    self._delete_quietly(CONFIGMAPS, snapshot_configmap)
                raise
        return JobHandle(self, kind, meta["name"], meta.get("namespace") or self.namespace)

    def _own_snapshot(self, name: str, owner: dict, archive: Archive | None) -> None:
        """Add ``owner`` to the snapshot ConfigMap, shipping it again if it is being collected.

        Snapshots are shared by content: the one found at submission may belong
        to a job deleted a moment ago, which the garbage collector is removing.
        """
        try:
            # Strategic merge keyed by uid: adds this owner next to earlier ones.
            patched = self.kube.patch(
                CONFIGMAPS, name, {"metadata": {"ownerReferences": [owner]}}, patch_type="strategic"
            )
            if not patched["metadata"].get("deletionTimestamp"):
                return
        except NotFound:
            pass
        if archive is None:
            raise NotFound(
                f"The code snapshot {name} was deleted with the job it came with; "
                "submit the job again from your notebook."
            )
        deadline = time.monotonic() + 3 * self.kube.timeout
        while time.monotonic() < deadline:
            try:
                self.kube.get(CONFIGMAPS, name)
            except NotFound:
                break
            time.sleep(0.2)
        body = configmap_manifest(archive, self.namespace)
        body["metadata"]["ownerReferences"] = [owner]
        try:
            self.kube.create(CONFIGMAPS, body)
        except AlreadyExists:  # shipped again by a submission running alongside
            self._own_snapshot(name, owner, None)

    def observe(self, kind: JobKind, obj: dict, deleted: bool = False) -> None:
        """Tell the list cache (if any) about a write made through this client."""
        if self.cache is not None:
            self.cache.observe(kind, obj, deleted)

    def forget(self, kind: JobKind, name: str, uid: str | None) -> None:
        """Tell the list cache (if any) that the job ``name`` with ``uid`` was deleted through this client."""
        if self.cache is not None:
            self.cache.forget(kind, name, uid)

    def _delete_quietly(self, resource, name: str) -> None:
        try:
            self.kube.delete(resource, name)
        except NotFound:
            pass

    def _check_gpus(self, spec, if_not_fits: str) -> builtins.list[str]:  # not JobsClient.list
        gpu_type, gpus, pods = spec.gpu_request()
        if not gpus:
            return []
        if self.availability is None:
            return ["GPU availability was not checked: the hub's availability API is not configured."]
        try:
            snapshot = self.availability.snapshot()
        except JobsError as exc:
            if if_not_fits == "refuse":
                raise
            # The user accepted waiting in the queue: an unanswered check need not stop them.
            return [f"GPU availability could not be checked: {exc.message}"]
        cap = check_cap(snapshot, gpus, pods)
        if not cap.within:  # queueing would not help: refused either way
            raise OverGpuCap(
                f"{cap.message}. Ask for fewer GPUs, or stop a server or job that holds some.",
                held_gpus=cap.held_gpus,
                requested_gpus=cap.requested_gpus,
                cap=cap.cap,
            )
        fit = check_fit(snapshot, gpu_type, gpus, pods)
        if fit.fits:
            return []
        if if_not_fits == "refuse":
            raise GpusUnavailable(
                f"Not enough free GPUs now: {fit.message}. Submit with if_not_fits='queue' to queue it anyway.",
                reason=fit.message,
            )
        return [f"Queued: {fit.message}."]

    # ------------------------------------------------------------ snapshots
    def _ship(self, snapshot: Snapshot) -> tuple[SnapshotRef, Archive | None, bool]:
        """Put the snapshot where the job reads it: (ref, archive if in a ConfigMap, new)."""
        archive = snapshot.build()
        if len(archive.data) <= CONFIGMAP_LIMIT:
            try:
                self.kube.create(CONFIGMAPS, configmap_manifest(archive, self.namespace))
                is_new = True
            except AlreadyExists:
                is_new = False  # the same code, already shipped for another job: share it
            return (
                SnapshotRef(configmap=archive.configmap_name, digest=archive.digest),
                archive,
                is_new,
            )
        if self.shared_volume is None or not self._read_write_many(self.shared_volume.claim):
            raise too_large(archive)
        path = self.shared_volume.store(archive)
        return (
            SnapshotRef(claim=self.shared_volume.claim, volume_path=path, digest=archive.digest),
            None,
            False,
        )

    _rwx_cache: dict[str, bool] = {}
    _rwx_lock = threading.Lock()

    def _read_write_many(self, claim: str) -> bool:
        with self._rwx_lock:
            if claim not in self._rwx_cache:
                pvc = self.kube.get(PVCS, claim)
                self._rwx_cache[claim] = "ReadWriteMany" in (pvc.get("spec") or {}).get("accessModes", [])
            return self._rwx_cache[claim]


_default: JobsClient | None = None
_default_lock = threading.Lock()


def default_client() -> JobsClient:
    """The notebook's client, built once from the environment (``JobsClient.from_environment``)."""
    global _default
    with _default_lock:
        if _default is None:
            _default = JobsClient.from_environment()
        return _default


def set_default_client(client: JobsClient | None) -> None:
    """Replace the client the Python API uses (``None``: rebuild from the environment next time)."""
    global _default
    with _default_lock:
        _default = client


__all__ = ["JobsClient", "default_client", "set_default_client", "JobsError"]
