"""Kueue v0.19.2 itself on the local cluster: GPUs handed out in line.

Each test makes a ClusterQueue of 4 GPUs of one flavor, the RTX A6000s of the
fleet (two KWOK nodes of 4), and the LocalQueue ``gpus`` in a namespace labelled
as the hub labels user namespaces. Kueue's webhooks (called by the API server)
hold each workload back, Kueue admits it by quota, the real scheduler binds its
pods to nodes of the flavor Kueue chose, and KWOK runs them until a test marks a
pod finished (``jupyterhub-mlops.local/simulate``). What is pending is read from
Kueue's visibility API through the API server's aggregator.
"""

from __future__ import annotations

import json
import ssl
import urllib.error
import urllib.request
import uuid

import kubernetes
import pytest
from jupyterhub_mlops.queues import resource_flavor, server_topology
from mlops_cluster import training_operator
from mlops_cluster.simulated_runs import SIMULATE_ANNOTATION
from mlops_contract.placement import GPU_RESOURCE, default_gpu_tolerations
from mlops_contract.queueing import ADMISSION_GATE, LOCAL_QUEUE, QUEUE_NAME_LABEL, resource_flavor_name

from tests.kueue.lines import (
    GROUP,
    HOLD,
    PRODUCT,
    VERSION,
    busy_gpu_pods,
    condition,
    refused_for_quota,
    running_on_flavor,
)
from tests.mlops_testing import wait_for

pytestmark = pytest.mark.cluster

VISIBILITY = "visibility.kueue.x-k8s.io"
QUOTA = 4
PENDING_VIEWER_ROLE = "kueue-pending-workloads-cq-viewer-role"
"""Upstream's ClusterRole for reading a ClusterQueue's pending workloads."""


@pytest.fixture(scope="module")
def flavor(kueue_cluster):
    """The GPU type's ResourceFlavor, as the suite names it (applied: other tests may share it)."""
    kueue_cluster.apply_objects([server_topology(), resource_flavor(PRODUCT)])
    return resource_flavor_name(PRODUCT)


@pytest.fixture
def queue(kueue_core_v1, kueue_custom, flavor, user_namespace):
    """A ClusterQueue of ``QUOTA`` GPUs for ``user_namespace`` and its LocalQueue; the name
    of the ClusterQueue. Made once no earlier test's pod is left on the RTX servers."""
    wait_for(lambda: not busy_gpu_pods(kueue_core_v1), timeout=90, what="earlier tests' pods to leave the RTX GPUs")
    name = f"t-{uuid.uuid4().hex[:6]}"
    cluster_queue = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "ClusterQueue",
        "metadata": {"name": name},
        "spec": {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": user_namespace}},
            "resourceGroups": [
                {
                    "coveredResources": [GPU_RESOURCE],
                    "flavors": [{"name": flavor, "resources": [{"name": GPU_RESOURCE, "nominalQuota": QUOTA}]}],
                }
            ],
        },
    }
    local_queue = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "LocalQueue",
        "metadata": {"name": LOCAL_QUEUE},
        "spec": {"clusterQueue": name},
    }
    kueue_custom.create_cluster_custom_object(GROUP, VERSION, "clusterqueues", cluster_queue)
    kueue_custom.create_namespaced_custom_object(GROUP, VERSION, user_namespace, "localqueues", local_queue)
    wait_for(
        lambda: condition(kueue_custom.get_cluster_custom_object(GROUP, VERSION, "clusterqueues", name), "Active"),
        timeout=30,
        what=f"ClusterQueue {name} to be active",
    )
    yield name
    kueue_custom.delete_cluster_custom_object(GROUP, VERSION, "clusterqueues", name)


# ------------------------------------------------------------------ objects
def gpu_pod_spec(gpus: int) -> dict:
    return {
        "restartPolicy": "Never",
        "tolerations": default_gpu_tolerations(),
        "containers": [
            {
                "name": "main",
                "image": "busybox",
                "resources": {"requests": {GPU_RESOURCE: str(gpus)}, "limits": {GPU_RESOURCE: str(gpus)}},
            }
        ],
    }


def gpu_job(name: str, gpus: int = 1) -> dict:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": name, "labels": {QUEUE_NAME_LABEL: LOCAL_QUEUE}},
        "spec": {"backoffLimit": 0, "template": {"metadata": {"annotations": HOLD}, "spec": gpu_pod_spec(gpus)}},
    }


def gpu_pod(name: str, gpus: int) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {QUEUE_NAME_LABEL: LOCAL_QUEUE}, "annotations": HOLD},
        "spec": gpu_pod_spec(gpus),
    }


def pytorchjob(name: str, gpus_per_replica: int) -> dict:
    def replica() -> dict:
        spec = gpu_pod_spec(gpus_per_replica)
        spec["restartPolicy"] = "OnFailure"
        spec["containers"][0]["name"] = "pytorch"  # the operator's container name
        return {"replicas": 1, "restartPolicy": "OnFailure", "template": {"spec": spec}}

    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": name, "labels": {QUEUE_NAME_LABEL: LOCAL_QUEUE}},
        "spec": {"pytorchReplicaSpecs": {"Master": replica(), "Worker": replica()}},
    }


# ------------------------------------------------------------------ reading
def workload_of(custom, namespace: str, owner: str) -> dict | None:
    """The Workload Kueue made for the object named ``owner``."""
    for workload in custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "workloads")["items"]:
        if any(ref["name"] == owner for ref in workload["metadata"].get("ownerReferences") or []):
            return workload
    return None


def held_back(custom, namespace: str, owner: str) -> dict | None:
    """``owner``'s Workload once Kueue has tried and found no quota for it."""
    return refused_for_quota(workload_of(custom, namespace, owner))


def pods(core_v1, namespace: str, selector: str = "") -> list:
    return core_v1.list_namespaced_pod(namespace, label_selector=selector, _request_timeout=10).items


def gates(pod) -> list[str]:
    return [gate.name for gate in pod.spec.scheduling_gates or []]


def finish(core_v1, namespace: str, pod_name: str) -> None:
    core_v1.patch_namespaced_pod(pod_name, namespace, {"metadata": {"annotations": {SIMULATE_ANNOTATION: "succeed"}}})


def get_raw(cp, identity: str, path: str) -> tuple[int, dict]:
    """GET ``path`` of the API server as ``identity``: (status, JSON body)."""
    request = urllib.request.Request(cp.server + path, headers={"Authorization": f"Bearer {cp.token(identity)}"})
    context = ssl.create_default_context(cafile=str(cp.ca_file))
    try:
        with urllib.request.urlopen(request, timeout=10, context=context) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def pending_in(cp, cluster_queue: str) -> list[dict]:
    status, body = get_raw(cp, "admin", f"/apis/{VISIBILITY}/v1beta1/clusterqueues/{cluster_queue}/pendingworkloads")
    assert status == 200, body
    assert body["kind"] == "PendingWorkloadsSummary"
    return body["items"]


# -------------------------------------------------------------------- tests
def test_jobs_beyond_the_quota_wait_suspended_and_are_listed_in_line(
    kueue_cluster, kueue_batch_v1, kueue_core_v1, kueue_custom, user_namespace, queue
):
    names = [f"train-{i}" for i in range(QUOTA + 1)]
    for name in names:
        created = kueue_batch_v1.create_namespaced_job(user_namespace, gpu_job(name))
        assert created.spec.suspend is True  # Kueue's webhook, on the way in

    def four_running():
        jobs = kueue_batch_v1.list_namespaced_job(user_namespace).items
        started = sorted(j.metadata.name for j in jobs if j.spec.suspend is False)
        placed = [p for p in pods(kueue_core_v1, user_namespace) if running_on_flavor(p)]
        return started if len(started) == QUOTA and len(placed) == QUOTA else None

    started = wait_for(four_running, timeout=90, what="Kueue to admit 4 one-GPU jobs and their pods to run")
    (waiting,) = set(names) - set(started)
    pending = wait_for(
        lambda: held_back(kueue_custom, user_namespace, waiting), timeout=30, what=f"Kueue to hold {waiting} back"
    )
    assert kueue_batch_v1.read_namespaced_job(waiting, user_namespace).spec.suspend is True
    assert not pods(kueue_core_v1, user_namespace, f"job-name={waiting}")

    (listed,) = pending_in(kueue_cluster, queue)
    assert listed["metadata"]["name"] == pending["metadata"]["name"]
    assert (listed["localQueueName"], listed["positionInClusterQueue"], listed["positionInLocalQueue"]) == (
        LOCAL_QUEUE,
        0,
        0,
    )
    status, in_local_queue = get_raw(
        kueue_cluster,
        "admin",
        f"/apis/{VISIBILITY}/v1beta2/namespaces/{user_namespace}/localqueues/{LOCAL_QUEUE}/pendingworkloads",
    )
    assert status == 200, in_local_queue
    assert [w["metadata"]["name"] for w in in_local_queue["items"]] == [pending["metadata"]["name"]]

    # One job ends: its GPU goes to the one in line.
    (first_pod,) = pods(kueue_core_v1, user_namespace, f"job-name={started[0]}")
    finish(kueue_core_v1, user_namespace, first_pod.metadata.name)
    (admitted,) = wait_for(
        lambda: [p for p in pods(kueue_core_v1, user_namespace, f"job-name={waiting}") if running_on_flavor(p)],
        timeout=60,
        what=f"{waiting} to be admitted and run once a GPU is free",
    )
    assert kueue_batch_v1.read_namespaced_job(waiting, user_namespace).spec.suspend is False
    assert pending_in(kueue_cluster, queue) == []


def test_a_pod_waits_behind_kueues_gate_until_its_gpus_are_admitted(kueue_core_v1, kueue_custom, user_namespace, queue):
    holder = kueue_core_v1.create_namespaced_pod(user_namespace, gpu_pod("holder", QUOTA))
    assert ADMISSION_GATE in gates(holder)  # Kueue's pod webhook, on the way in
    wait_for(
        lambda: (pod := kueue_core_v1.read_namespaced_pod("holder", user_namespace)) and running_on_flavor(pod),
        timeout=60,
        what="the 4-GPU pod to be ungated and run",
    )
    assert gates(kueue_core_v1.read_namespaced_pod("holder", user_namespace)) == []

    waiting = kueue_core_v1.create_namespaced_pod(user_namespace, gpu_pod("waiting", 1))
    assert ADMISSION_GATE in gates(waiting)
    wait_for(lambda: held_back(kueue_custom, user_namespace, "waiting"), timeout=30, what="Kueue to hold the pod back")
    still = kueue_core_v1.read_namespaced_pod("waiting", user_namespace)
    assert ADMISSION_GATE in gates(still)
    assert still.spec.node_name is None

    finish(kueue_core_v1, user_namespace, "holder")
    wait_for(
        lambda: (pod := kueue_core_v1.read_namespaced_pod("waiting", user_namespace)) and running_on_flavor(pod),
        timeout=60,
        what="the waiting pod to be ungated and run once the GPUs are free",
    )
    assert gates(kueue_core_v1.read_namespaced_pod("waiting", user_namespace)) == []


def test_a_pytorchjob_is_admitted_whole_or_not_at_all(
    kueue_cluster, kueue_batch_v1, kueue_core_v1, kueue_custom, user_namespace, queue
):
    """2 replicas x 2 GPUs with 3 GPUs free: no replica starts; with 4, both do."""
    kueue_batch_v1.create_namespaced_job(user_namespace, gpu_job("holder"))
    (holder_pod,) = wait_for(
        lambda: [p for p in pods(kueue_core_v1, user_namespace, "job-name=holder") if running_on_flavor(p)],
        timeout=60,
        what="the one-GPU job to run",
    )

    created = kueue_custom.create_namespaced_custom_object(
        "kubeflow.org", "v1", user_namespace, "pytorchjobs", pytorchjob("ddp", gpus_per_replica=2)
    )
    assert created["spec"]["runPolicy"]["suspend"] is True  # Kueue's webhook, on the way in
    wait_for(lambda: held_back(kueue_custom, user_namespace, "ddp"), timeout=30, what="Kueue to hold the job back")
    replicas = f"{training_operator.JOB_NAME_LABEL}=ddp"
    assert pods(kueue_core_v1, user_namespace, replicas) == []
    job = kueue_custom.get_namespaced_custom_object("kubeflow.org", "v1", user_namespace, "pytorchjobs", "ddp")
    assert job["spec"]["runPolicy"]["suspend"] is True

    finish(kueue_core_v1, user_namespace, holder_pod.metadata.name)
    both = wait_for(
        lambda: (
            (found := [p for p in pods(kueue_core_v1, user_namespace, replicas) if running_on_flavor(p)])
            and len(found) == 2
            and found
        ),
        timeout=90,
        what="both replicas to run once 4 GPUs are free",
    )
    assert sorted(p.metadata.labels["training.kubeflow.org/replica-type"] for p in both) == ["master", "worker"]


def test_pending_workloads_are_served_through_the_aggregator_under_rbac(kueue_cluster, queue):
    """alice, with no role for them, is refused; bound to upstream's viewer role she
    reads them: the API server's RBAC decides, and the answer is Kueue's."""
    path = f"/apis/{VISIBILITY}/v1beta1/clusterqueues/{queue}/pendingworkloads"
    status, refused = get_raw(kueue_cluster, "alice", path)
    assert status == 403, refused
    assert refused["reason"] == "Forbidden"
    assert 'cannot get resource "clusterqueues/pendingworkloads"' in refused["message"]

    rbac = kubernetes.client.RbacAuthorizationV1Api(kueue_cluster.api_client("admin"))
    binding = f"alice-pending-{queue}"
    rbac.create_cluster_role_binding(
        {
            "metadata": {"name": binding},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": PENDING_VIEWER_ROLE},
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": "alice"}],
        }
    )
    try:
        status, allowed = wait_for(
            lambda: (answer := get_raw(kueue_cluster, "alice", path))[0] != 403 and answer,
            timeout=30,
            what="alice's new role to take effect",
        )
        assert status == 200, allowed
        assert (allowed["kind"], allowed["items"]) == ("PendingWorkloadsSummary", [])
    finally:
        rbac.delete_cluster_role_binding(binding)


def test_the_older_api_version_is_converted_by_kueues_webhook(kueue_cluster, kueue_custom, queue):
    """ClusterQueues are stored as v1beta2; a v1beta1 read goes through Kueue's /convert,
    which the API server calls at the local manager as upstream's CRD patch says."""
    crd = json.loads(kueue_cluster.kubectl("get", "crd", f"clusterqueues.{GROUP}", "-o", "json").stdout)
    assert crd["spec"]["conversion"]["strategy"] == "Webhook"
    old = kueue_custom.get_cluster_custom_object(GROUP, "v1beta1", "clusterqueues", queue)
    assert old["apiVersion"] == f"{GROUP}/v1beta1"
    (group,) = old["spec"]["resourceGroups"]
    (flavor,) = group["flavors"]
    assert flavor["name"] == resource_flavor_name(PRODUCT)
    assert flavor["resources"] == [{"name": GPU_RESOURCE, "nominalQuota": str(QUOTA)}]
