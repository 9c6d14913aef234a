"""KWOK's pod-complete-after-duration stage on the real control plane: a pod annotated
with ``run_for(seconds)`` succeeds no sooner than that after it starts, a Job's pods
included (which pod-complete-job would otherwise finish a second after they run)."""

from __future__ import annotations

import kubernetes
import pytest
from mlops_cluster.simulated_runs import run_for
from mlops_contract.placement import default_gpu_tolerations

from tests.mlops_testing import wait_for

pytestmark = pytest.mark.cluster

SECONDS = 5


def _spec() -> dict:
    return {
        "restartPolicy": "Never",
        "tolerations": default_gpu_tolerations(),
        "containers": [{"name": "main", "image": "busybox", "resources": {"limits": {"nvidia.com/gpu": "1"}}}],
    }


def _ran_seconds(pod) -> float:
    return (pod.status.container_statuses[0].state.terminated.finished_at - pod.status.start_time).total_seconds()


def test_a_pod_and_a_jobs_pods_succeed_after_their_annotated_duration(control_plane, core_v1, namespace):
    batch = kubernetes.client.BatchV1Api(control_plane.api_client())
    core_v1.create_namespaced_pod(
        namespace, {"metadata": {"name": "notebook", "annotations": run_for(SECONDS)}, "spec": _spec()}
    )
    batch.create_namespaced_job(
        namespace,
        {
            "metadata": {"name": "train"},
            "spec": {
                "parallelism": 2,
                "completions": 2,
                "backoffLimit": 0,
                "template": {"metadata": {"annotations": run_for(SECONDS)}, "spec": _spec()},
            },
        },
    )

    def all_succeeded():
        pods = core_v1.list_namespaced_pod(namespace).items
        return pods if len(pods) == 3 and all(p.status.phase == "Succeeded" for p in pods) else None

    pods = wait_for(all_succeeded, timeout=60, what="the three pods to succeed")
    # API timestamps have whole seconds: a run of SECONDS can read one less.
    assert sorted(_ran_seconds(p) >= SECONDS - 1 for p in pods) == [True, True, True]
