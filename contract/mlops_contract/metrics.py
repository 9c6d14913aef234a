"""Names of the Prometheus metrics about jobs, and their labels.

Two exporters count jobs, and a query must never add one to the other: the hub
counts every job in the cluster, each notebook server counts its own user's.
Both label a series with a kind name and a state of ``mlops_contract.jobs``.
"""

from __future__ import annotations

JOBS = "jupyterhub_mlops_jobs"
"""Jobs in every namespace, by kind and state: the hub's availability service."""
USER_JOBS = "jupyterhub_mlops_user_jobs"
"""One user's jobs, by kind and state: that user's notebook server."""
JOB_LABELS = ("kind", "state")
"""Values: ``JobKind.name`` and one of ``STATES`` (``mlops_contract.jobs``)."""
