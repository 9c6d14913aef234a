"""Smoke tests of the local control plane: the real scheduler, KWOK and RBAC.

Each test rests on a premise of the default fleet (cluster/fleet.yaml) and
fails when that premise is broken: with no GPU node the first cannot bind its
pod; with a node of 64 GPUs the second would schedule; without RBAC the third
would read another user's namespace.
"""

from __future__ import annotations

import ipaddress
import json

import kubernetes
import pytest
from mlops_cluster.controlplane import pod_network

from tests.mlops_testing import wait_for

pytestmark = pytest.mark.cluster

GPU_TOLERATION = {"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}


def gpu_pod(name: str, gpus: int) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "tolerations": [GPU_TOLERATION],
            "containers": [
                {
                    "name": "train",
                    "image": "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime",
                    "resources": {"limits": {"nvidia.com/gpu": str(gpus)}},
                }
            ],
        },
    }


def failed_scheduling(core_v1, namespace: str, pod_name: str):
    return next(
        (
            e
            for e in core_v1.list_namespaced_event(namespace).items
            if e.reason == "FailedScheduling" and e.involved_object.name == pod_name
        ),
        None,
    )


def test_two_gpu_pod_is_bound_to_a_gpu_node_with_room_and_runs(core_v1, namespace):
    core_v1.create_namespaced_pod(namespace, gpu_pod("two-gpus", 2))

    def running_or_refused():
        pod = core_v1.read_namespaced_pod("two-gpus", namespace)
        return pod.status.phase == "Running" or failed_scheduling(core_v1, namespace, "two-gpus")

    outcome = wait_for(running_or_refused, timeout=60, what="the pod to run or be refused")
    assert outcome is True, f"the scheduler refused the pod: {outcome.message}"
    pod = core_v1.read_namespaced_pod("two-gpus", namespace)
    node = core_v1.read_node(pod.spec.node_name)
    # Bound by the real scheduler (not by us), to a node that has GPUs to give.
    assert pod.spec.node_name, "the scheduler did not bind the pod"
    assert node.metadata.labels.get("nvidia.com/gpu.present") == "true"
    assert int(node.status.allocatable["nvidia.com/gpu"]) >= 2
    assert not node.spec.unschedulable, "bound to a cordoned node"
    # KWOK hands out loopback pod IPs, so a process can stand in for the pod.
    assert ipaddress.ip_address(pod.status.pod_ip) in pod_network()


def test_pod_asking_more_gpus_than_any_node_has_stays_pending(core_v1, namespace):
    # The largest servers of the default fleet have 8 GPUs.
    core_v1.create_namespaced_pod(namespace, gpu_pod("too-big", 16))

    def refused_or_bound():
        pod = core_v1.read_namespaced_pod("too-big", namespace)
        return failed_scheduling(core_v1, namespace, "too-big") or (pod.spec.node_name and pod)

    outcome = wait_for(refused_or_bound, timeout=60, what="a FailedScheduling event")
    assert getattr(outcome, "reason", None) == "FailedScheduling", f"the pod was bound to {outcome.spec.node_name}"
    assert "nvidia.com/gpu" in outcome.message
    pod = core_v1.read_namespaced_pod("too-big", namespace)
    assert pod.status.phase == "Pending"
    assert not pod.spec.node_name


def test_user_b_is_forbidden_from_user_a_namespace(control_plane, core_v1, namespace):
    rbac = kubernetes.client.RbacAuthorizationV1Api(control_plane.api_client("admin"))
    rbac.create_namespaced_role_binding(
        namespace,
        {
            "metadata": {"name": "alice-edit"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "edit"},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}],
        },
    )
    alice = kubernetes.client.CoreV1Api(control_plane.api_client("alice"))
    bob = kubernetes.client.CoreV1Api(control_plane.api_client("bob"))

    # Alice can use her namespace (RBAC bindings take effect at once, but be patient).
    wait_for(lambda: alice.list_namespaced_pod(namespace) is not None, what="alice's access")
    alice.create_namespaced_config_map(namespace, {"metadata": {"name": "mine"}, "data": {"k": "v"}})

    for attempt in (
        lambda: bob.list_namespaced_pod(namespace),
        lambda: bob.read_namespaced_config_map("mine", namespace),
        lambda: bob.delete_namespaced_config_map("mine", namespace),
    ):
        with pytest.raises(kubernetes.client.ApiException) as denied:
            attempt()
        assert denied.value.status == 403
        assert 'User "bob" cannot' in json.loads(denied.value.body)["message"]
    # Nothing of Alice's was touched.
    assert alice.read_namespaced_config_map("mine", namespace).data == {"k": "v"}
