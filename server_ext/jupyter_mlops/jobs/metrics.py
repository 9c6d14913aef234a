"""``jupyterhub_mlops_user_jobs{kind,state}``: the user's jobs by kind and state, for Prometheus.

Read from the REST API's list cache at scrape time, so a scrape makes no
API-server call; kinds not yet in sync are left out rather than guessed.
Served on jupyter-server's own ``/metrics``. Its own name keeps it apart from
the hub's cluster-wide ``jupyterhub_mlops_jobs``, which counts the same jobs
again; both share the kind names and states of ``mlops_contract.jobs``.
"""

from __future__ import annotations

from collections import Counter

from mlops_contract import metrics
from prometheus_client.core import GaugeMetricFamily

from .kind import STATES
from .kinds import KINDS


class JobsCollector:
    def __init__(self) -> None:
        self.settings: dict | None = None
        """The serving application's settings, where the jobs client lives once built."""

    def collect(self):
        family = GaugeMetricFamily(
            metrics.USER_JOBS, "Jobs of this user by kind and state", labels=list(metrics.JOB_LABELS)
        )
        client = (self.settings or {}).get("mlops_jobs_client")
        cache = getattr(client, "cache", None)
        for kind in KINDS.values():
            objects = cache.objects(kind) if cache is not None else None
            if objects is None:
                continue
            counts = Counter(kind.state(obj)[0] for obj in objects)
            for state in STATES:
                family.add_metric([kind.name, state], counts.get(state, 0))
        yield family


COLLECTOR = JobsCollector()
"""Registered once per process (prometheus_client refuses a second registration)."""
