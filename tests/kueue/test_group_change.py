"""A user moved to another group joins that group's line at their next spawn.

The hub provisions the user's namespace on every spawn; a LocalQueue of the old group's
line is made again for the new one (Kueue keeps a LocalQueue's ClusterQueue immutable).
Real Kueue admits; nothing here writes a status.
"""

from __future__ import annotations

import pytest
from jupyterhub_mlops.queues import local_queues
from mlops_contract.queueing import NOTEBOOK_QUEUE

from tests.kueue.lines import GROUP, VERSION, condition
from tests.mlops_testing import wait_for

pytestmark = pytest.mark.cluster


def workload_condition(lines, namespace: str, pod: str, kind: str, status: str = "True") -> dict | None:
    uid = lines.core.read_namespaced_pod(pod, namespace).metadata.uid
    workload = lines.workload_of(namespace, uid)
    return workload and condition(workload, kind, status)


def running(lines, namespace: str, pod: str) -> bool:
    return any(p.metadata.name == pod for p in lines.running(namespace))


def test_a_user_moved_to_another_group_waits_in_its_line_and_keeps_what_runs(lines):
    """Old group's quota 1 is held by the user's first notebook, so a second waits (a
    notebook never borrows). Moved to a group with 2 free, the waiting one is admitted on
    the new group's quota; the first keeps running on the quota that admitted it."""
    old, new = lines.group(quota=1), lines.group(quota=2)
    user = lines.member(old)
    first = lines.notebook(user, gpus=1)
    wait_for(lambda: running(lines, user.namespace, first), timeout=60, what="the first notebook")
    second = lines.notebook(user, gpus=1)
    wait_for(
        lambda: workload_condition(lines, user.namespace, second, "QuotaReserved", "False"),
        timeout=30,
        what="Kueue to hold the second notebook in the old group's line",
    )

    lines.move(user, new)

    queues = lines.custom.list_namespaced_custom_object(GROUP, VERSION, user.namespace, "localqueues")["items"]
    wanted = {q["metadata"]["name"]: q["spec"]["clusterQueue"] for q in local_queues(user.namespace, new)}
    assert {q["metadata"]["name"]: q["spec"]["clusterQueue"] for q in queues} == wanted
    wait_for(lambda: running(lines, user.namespace, second), timeout=60, what="the second notebook on the new quota")
    admitted = workload_condition(lines, user.namespace, second, "QuotaReserved")
    assert wanted[NOTEBOOK_QUEUE] in admitted["message"]
    assert running(lines, user.namespace, first), "the first notebook was stopped by the move"
    assert workload_condition(lines, user.namespace, first, "Evicted") is None

    # Provisioning again with nothing changed leaves the queues as they are (not made again).
    uids = {q["metadata"]["name"]: q["metadata"]["uid"] for q in queues}
    lines.move(user, new)
    again = lines.custom.list_namespaced_custom_object(GROUP, VERSION, user.namespace, "localqueues")["items"]
    assert {q["metadata"]["name"]: q["metadata"]["uid"] for q in again} == uids
