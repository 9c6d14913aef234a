"""Jobs by kind and state for Prometheus: ``jupyterhub_mlops_jobs{kind,state}``.

A hub-side collector: one list/watch per job kind across all namespaces
(PyTorchJobs, sweeps = Katib Experiments, Argo Workflows), a table of each job's state
kept up to date per watch event, and a ``prometheus_client`` collector that
renders the table's counts at scrape time. Register it on the registry whose
``/metrics`` the availability service serves::

    watcher = JobsWatcher(api_client)            # a kubernetes_asyncio ApiClient
    registry.register(JobsCollector(watcher.table))
    asyncio.create_task(watcher.run())

Needs list/watch on the three kinds cluster-wide (the ClusterRole
``jupyterhub-mlops:hub`` in helm-values/rbac.yaml grants exactly that). A kind
whose CRD is not installed counts zero jobs and is looked for again later.

Kind names and states are those of ``mlops_contract.jobs``, the ones each user's
notebook server exports as ``jupyterhub_mlops_user_jobs`` and shows in the sidebar.
"""

from __future__ import annotations

import asyncio
import logging

from kubernetes_asyncio import client, watch
from kubernetes_asyncio.client.exceptions import ApiException
from mlops_contract import jobs, metrics
from mlops_contract.jobs import JobKind
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

log = logging.getLogger(__name__)

STATES = jobs.STATES
"""Every state a job is counted in; each (kind, state) pair is exported, zeros included,
so a dashboard shows a flat line rather than a gap."""
JOB_KINDS = jobs.JOB_KINDS


def job_state(kind: str, obj: dict) -> str:
    """The state ``obj`` (a job of ``kind``, as the API returns it) is counted in: the
    notebook side's state of the same object, by the rules of ``mlops_contract.jobs``."""
    return jobs.BY_NAME[kind].state(obj)[0]


class JobsTable:
    """The state of every job seen, by kind and uid; counts on demand."""

    def __init__(self) -> None:
        self._states: dict[str, dict[str, str]] = {k.name: {} for k in JOB_KINDS}
        """kind -> uid -> state; kinds outside JOB_KINDS are kept but never exported."""

    def replace(self, kind: str, objects: list[dict]) -> None:
        """A fresh list of every job of ``kind`` (after a relist)."""
        self._states[kind] = {o["metadata"]["uid"]: job_state(kind, o) for o in objects}

    def apply(self, kind: str, event_type: str, obj: dict) -> None:
        """One watch event (ADDED, MODIFIED, DELETED; BOOKMARK changes nothing)."""
        uid = (obj.get("metadata") or {}).get("uid")
        if not uid:
            return
        if event_type == "DELETED":
            self._states[kind].pop(uid, None)
        elif event_type in ("ADDED", "MODIFIED"):
            self._states[kind][uid] = job_state(kind, obj)

    def counts(self) -> dict[tuple[str, str], int]:
        """(kind, state) -> number of jobs, for every kind and state."""
        result = {(k.name, s): 0 for k in JOB_KINDS for s in STATES}
        for kind in (k.name for k in JOB_KINDS):
            for state in self._states[kind].values():
                result[(kind, state)] += 1
        return result


class JobsCollector(Collector):
    """Renders a :class:`JobsTable` as the gauge ``jupyterhub_mlops_jobs{kind,state}``."""

    def __init__(self, table: JobsTable) -> None:
        self.table = table

    def collect(self):
        gauge = GaugeMetricFamily(
            metrics.JOBS, "Jobs of the suite's kinds by state, all namespaces.", labels=list(metrics.JOB_LABELS)
        )
        for (kind, state), count in sorted(self.table.counts().items()):
            gauge.add_metric([kind, state], count)
        yield gauge


class JobsWatcher:
    """Keeps a :class:`JobsTable` in step with the API server: list, then watch from
    that resourceVersion; relist only when the watch answers 410 Gone."""

    def __init__(
        self,
        api_client: client.ApiClient,
        *,
        kinds: tuple[JobKind, ...] = JOB_KINDS,
        request_timeout: float = 30,
        watch_seconds: int = 300,
        retry_seconds: float = 60,
    ) -> None:
        self.api = client.CustomObjectsApi(api_client)
        self.kinds = kinds
        self.table = JobsTable()
        self.request_timeout = request_timeout
        self.watch_seconds = watch_seconds
        self.retry_seconds = retry_seconds
        """Wait before looking again for a kind that is not installed or not allowed."""

    async def run(self) -> None:
        """Watch every kind until cancelled."""
        await asyncio.gather(*(self._follow(kind) for kind in self.kinds))

    async def _follow(self, kind: JobKind) -> None:
        backoff = 1.0
        while True:
            try:
                version: str | None = await self._relist(kind)
                backoff = 1.0
                while version is not None:
                    version = await self._watch(kind, version)
            except ApiException as exc:
                if exc.status == 404:
                    log.info(
                        "%s: not installed in this cluster (no CRD %s.%s); counted as none",
                        kind.name,
                        kind.plural,
                        kind.group,
                    )
                    self.table.replace(kind.name, [])
                    await asyncio.sleep(self.retry_seconds)
                elif exc.status == 403:
                    log.error(
                        "%s: the hub may not list %s.%s cluster-wide; apply helm-values/rbac.yaml",
                        kind.name,
                        kind.plural,
                        kind.group,
                    )
                    await asyncio.sleep(self.retry_seconds)
                else:
                    log.warning("%s: API error %s, retrying in %.0fs", kind.name, exc.status, backoff)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, self.retry_seconds)
            except (TimeoutError, OSError) as exc:
                log.warning("%s: API server unreachable (%s), retrying in %.0fs", kind.name, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.retry_seconds)

    async def _relist(self, kind: JobKind) -> str:
        listing = await self.api.list_cluster_custom_object(
            kind.group, kind.version, kind.plural, _request_timeout=self.request_timeout
        )
        self.table.replace(kind.name, listing.get("items") or [])
        return listing["metadata"]["resourceVersion"]

    async def _watch(self, kind: JobKind, version: str) -> str | None:
        """Apply events from ``version`` on; return where to resume, or None to relist."""
        stream = watch.Watch()
        try:
            async with stream.stream(
                self.api.list_cluster_custom_object,
                kind.group,
                kind.version,
                kind.plural,
                resource_version=version,
                allow_watch_bookmarks=True,
                timeout_seconds=self.watch_seconds,
                _request_timeout=self.watch_seconds + self.request_timeout,
            ) as events:
                async for event in events:
                    self.table.apply(kind.name, event["type"], event["object"])
        except ApiException as exc:
            if exc.status == 410:  # our resourceVersion is too old: start again from a list
                return None
            raise
        return stream.resource_version or version
