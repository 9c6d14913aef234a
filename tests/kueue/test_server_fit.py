"""Kueue admits a workload only when its pods fit on a server, not merely in the quota.

The suite's flavors name a topology of servers (``jupyterhub_mlops.queues.server_topology``).
Without it, Kueue would admit a 4-GPU notebook whenever 4 GPUs of the quota are free,
however they are spread over servers: the pod would then wait Pending, holding quota
that smaller workloads could run on. Real Kueue, the real scheduler, KWOK nodes.
"""

from __future__ import annotations

import uuid

import pytest
from jupyterhub_mlops.queues import SERVER_LEVEL
from mlops_contract.placement import GPU_PRODUCT_LABEL, GPU_RESOURCE, default_gpu_tolerations
from mlops_contract.queueing import ADMISSION_GATE

from tests.jobs_support import IMAGE
from tests.kueue.lines import HOLD, PRODUCT, condition
from tests.mlops_testing import create_namespace, wait_for

pytestmark = pytest.mark.cluster

SERVERS = ("gpu-rtx-0", "gpu-rtx-1")
"""The RTX A6000 servers of cluster/fleet.yaml, 4 GPUs each."""


def outside_pod(server: str) -> dict:
    """A 1-GPU pod Kueue does not manage (an operator's, in a namespace of no user), pinned to ``server``."""
    resources = {GPU_RESOURCE: "1"}
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": f"outside-{server}", "annotations": dict(HOLD)},
        "spec": {
            "nodeSelector": {SERVER_LEVEL: server, GPU_PRODUCT_LABEL: PRODUCT},
            "tolerations": default_gpu_tolerations(),
            "containers": [{"name": "main", "image": IMAGE, "resources": {"requests": resources, "limits": resources}}],
        },
    }


@pytest.fixture
def one_gpu_taken_on_each_server(lines):
    """3 GPUs free on each RTX server; the namespace (not the hub's) deleted afterwards."""
    namespace = f"t-outside-{uuid.uuid4().hex[:6]}"
    create_namespace(lines.core, namespace)
    for server in SERVERS:
        lines.core.create_namespaced_pod(namespace, outside_pod(server))
    for server in SERVERS:
        wait_for(
            lambda s=server: lines.core.read_namespaced_pod(f"outside-{s}", namespace).status.phase == "Running",
            timeout=60,
            what=f"the outside pod on {server}",
        )
    yield namespace
    lines.core.delete_namespace(namespace)


def workload_condition(lines, namespace: str, pod: str, kind: str, status: str = "True") -> dict | None:
    uid = lines.core.read_namespaced_pod(pod, namespace).metadata.uid
    workload = lines.workload_of(namespace, uid)
    return workload and condition(workload, kind, status)


def test_a_notebook_that_fits_the_quota_but_no_server_waits_holding_nothing(lines, one_gpu_taken_on_each_server):
    """Quota 4, all of it free, 3 free on each server: a 4-GPU notebook is not admitted
    and holds no quota, so a 2-GPU notebook after it runs; once a server has 4 free,
    the 4-GPU one runs there."""
    outside = one_gpu_taken_on_each_server
    user = lines.member(lines.group(quota=4))

    big = lines.notebook(user, gpus=4)
    refused = wait_for(
        lambda: workload_condition(lines, user.namespace, big, "QuotaReserved", "False"),
        timeout=30,
        what="Kueue to hold the 4-GPU notebook back",
    )
    pod = lines.core.read_namespaced_pod(big, user.namespace)
    assert ADMISSION_GATE in [gate.name for gate in pod.spec.scheduling_gates or []]
    assert pod.spec.node_name is None
    assert refused["message"], refused

    small = lines.notebook(user, gpus=2)
    wait_for(
        lambda: any(p.metadata.name == small for p in lines.running(user.namespace)),
        timeout=60,
        what="the 2-GPU notebook to run beside the one that fits no server",
    )
    assert workload_condition(lines, user.namespace, big, "QuotaReserved") is None

    # A server with 4 free: the outside pod there ends, and the 2-GPU notebook too.
    small_on = lines.core.read_namespaced_pod(small, user.namespace).spec.node_name
    lines.finish(user.namespace, small)
    lines.finish(outside, f"outside-{small_on}")
    placed = wait_for(
        lambda: [p for p in lines.running(user.namespace) if p.metadata.name == big],
        timeout=90,
        what="the 4-GPU notebook to run once a server has 4 free",
    )
    assert placed[0].spec.node_name == small_on
