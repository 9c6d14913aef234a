"""Groups' Kueue lines as the suite makes them, for end-to-end tests of queued jobs.

``Lines`` applies the suite's own objects (``jupyterhub_mlops.queues``: the priority
classes, the GPU type's flavor, a group's quota and batch ClusterQueues in the one
cohort) for groups named afresh per test, provisions their members as the hub does
(namespace, notebook account, the LocalQueues ``notebooks`` and ``gpus``), and makes
notebook pods as the hub makes them. The fleet's RTX A6000s (two nodes of 4) are the
GPUs in play; a test starts once no earlier test's pod holds one.

Nothing here writes a status: Kueue admits and preempts, the Job controller and the
Training Operator make pods, the scheduler binds them, KWOK runs them until a test
marks one finished.
"""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import kubernetes
from jupyter_mlops.jobs import PyTorchJob
from jupyterhub_mlops.queue_position import queue_labels
from jupyterhub_mlops.queues import group_queues, resource_flavor, server_topology, workload_priority_classes
from mlops_cluster import training_operator
from mlops_cluster.simulated_runs import SIMULATE_ANNOTATION
from mlops_contract.namespaces import user_namespace
from mlops_contract.placement import GPU_PRODUCT_LABEL, GPU_RESOURCE, default_gpu_tolerations
from mlops_contract.queueing import COHORT, KUEUE_GROUP, KUEUE_VERSION

from tests.jobs_support import IMAGE, User, make_user, provision
from tests.mlops_testing import wait_for

GROUP, VERSION = KUEUE_GROUP, KUEUE_VERSION
PRODUCT = "NVIDIA-RTX-A6000"
"""Two nodes of 4 GPUs in cluster/fleet.yaml."""
HOLD = {SIMULATE_ANNOTATION: "hold"}
"""KWOK keeps such a pod Running, even a Job's, until the annotation says succeed."""


def condition(obj: dict, kind: str, status: str = "True") -> dict | None:
    for found in (obj.get("status") or {}).get("conditions") or []:
        if found["type"] == kind and found["status"] == status:
            return found
    return None


def ddp(name: str, gpus: int) -> PyTorchJob:
    """Two replicas of ``gpus`` RTX GPUs each, running as long as the test lets them."""
    return PyTorchJob(
        name=name, command="python train.py", replicas=2, gpus=gpus, gpu_type=PRODUCT, image=IMAGE, snapshot=None
    )


def replicas(name: str) -> str:
    """The label selector of a PyTorchJob's replica pods."""
    return f"{training_operator.JOB_NAME_LABEL}={name}"


def refused_for_quota(workload: dict | None) -> dict | None:
    """``workload`` once Kueue has tried and found no quota for it."""
    refused = workload and condition(workload, "QuotaReserved", "False")
    return workload if refused and "insufficient unused quota" in refused["message"] else None


def busy_gpu_pods(core) -> list[str]:
    """Pods that hold (or will hold) an RTX GPU: bound there and not finished. Kueue places
    workloads server by server, so an earlier test's pod still on a server takes room
    from the next test's, whatever queue it came from."""
    pods = core.list_pod_for_all_namespaces(_request_timeout=10).items
    return [
        f"{p.metadata.namespace}/{p.metadata.name}"
        for p in pods
        if (p.spec.node_name or "").startswith("gpu-rtx-") and p.status.phase not in ("Succeeded", "Failed")
    ]


def running_on_flavor(pod) -> bool:
    """Bound by the scheduler to a node of the GPU type, and Running there."""
    return (
        pod.status.phase == "Running"
        and (pod.spec.node_selector or {}).get(GPU_PRODUCT_LABEL) == PRODUCT
        and (pod.spec.node_name or "").startswith("gpu-rtx-")
    )


class Lines:
    def __init__(self, cluster, tmp_dir: Path):
        self.cluster = cluster
        self.tmp_dir = tmp_dir
        admin = cluster.api_client("admin")
        self.core = kubernetes.client.CoreV1Api(admin)
        self.custom = kubernetes.client.CustomObjectsApi(admin)
        self.hub_core = kubernetes.client.CoreV1Api(cluster.api_client("hub"))
        self.cluster_queues: list[str] = []
        self.namespaces: list[str] = []
        cluster.apply_objects([*workload_priority_classes(), server_topology(), resource_flavor(PRODUCT)])
        wait_for(lambda: not self.busy_gpu_pods(), timeout=90, what="earlier tests' pods to leave the RTX GPUs")
        # Any other ClusterQueue in the cohort would lend its quota to this test's groups.
        wait_for(
            lambda: (
                not [
                    q
                    for q in self.custom.list_cluster_custom_object(GROUP, VERSION, "clusterqueues")["items"]
                    if q["spec"].get("cohortName") == COHORT
                ]
            ),
            timeout=120,
            what="earlier tests' ClusterQueues in the cohort to be gone",
        )

    # ------------------------------------------------------------ setting up
    def group(self, quota: int) -> str:
        """A group (a fresh name) with ``quota`` RTX GPUs: its two ClusterQueues, active."""
        name = f"g{uuid.uuid4().hex[:6]}"
        queues = group_queues(name, {PRODUCT: quota})
        for queue in queues:
            self.custom.create_cluster_custom_object(GROUP, VERSION, "clusterqueues", queue)
            self.cluster_queues.append(queue["metadata"]["name"])
        for queue in queues:
            wait_for(
                lambda q=queue["metadata"]["name"]: condition(self.cluster_queue(q), "Active"),
                timeout=30,
                what=f"ClusterQueue {queue['metadata']['name']} to be active",
            )
        return name

    def member(self, group: str, username: str = "researcher") -> User:
        """A user of ``group`` as the hub provisions them, whose notebook queues its jobs."""
        user = asyncio.run(make_user(self.cluster, self.core, self.tmp_dir, username, group))
        self.namespaces.append(user.namespace)
        return user

    def move(self, user: User, group: str) -> None:
        """Provision ``user`` again as a member of ``group``, as the hub does on their next
        spawn after an operator moved them (same namespace, the new group's line)."""
        prefix = user.namespace.removesuffix(user.name)
        assert user_namespace(user.name, prefix) == user.namespace
        asyncio.run(provision(self.cluster, user.name, group, prefix=prefix))

    def notebook(self, user: User, gpus: int) -> str:
        """The user's notebook pod as the hub makes it (no owner, the notebook labels, in
        the ``notebooks`` queue), held Running by KWOK once admitted; its name."""
        name = f"jupyter-{user.name}-{uuid.uuid4().hex[:4]}"
        resources = {GPU_RESOURCE: str(gpus)}
        pod = {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {
                "name": name,
                "labels": {"component": "singleuser-server", **queue_labels()},
                "annotations": dict(HOLD),
            },
            "spec": {
                "restartPolicy": "OnFailure",
                "nodeSelector": {GPU_PRODUCT_LABEL: PRODUCT},
                "tolerations": default_gpu_tolerations(),
                "containers": [
                    {"name": "notebook", "image": IMAGE, "resources": {"requests": resources, "limits": resources}}
                ],
            },
        }
        self.hub_core.create_namespaced_pod(user.namespace, pod)
        return name

    # --------------------------------------------------------------- reading
    def cluster_queue(self, name: str) -> dict:
        return self.custom.get_cluster_custom_object(GROUP, VERSION, "clusterqueues", name)

    def pods(self, namespace: str, selector: str = "") -> list:
        return self.core.list_namespaced_pod(namespace, label_selector=selector, _request_timeout=10).items

    def running(self, namespace: str, selector: str = "") -> list:
        return [p for p in self.pods(namespace, selector) if running_on_flavor(p)]

    def busy_gpu_pods(self) -> list[str]:
        return busy_gpu_pods(self.core)

    def workloads(self, namespace: str) -> list[dict]:
        return self.custom.list_namespaced_custom_object(GROUP, VERSION, namespace, "workloads")["items"]

    def workload_of(self, namespace: str, owner_uid: str) -> dict | None:
        """The Workload Kueue keeps for the object with ``owner_uid``."""
        for workload in self.workloads(namespace):
            if any(ref["uid"] == owner_uid for ref in workload["metadata"].get("ownerReferences") or []):
                return workload
        return None

    def held_back(self, namespace: str, uid: str) -> dict | None:
        """The job's Workload once Kueue has tried and found no quota for it."""
        return refused_for_quota(self.workload_of(namespace, uid))

    def finish(self, namespace: str, pod: str) -> None:
        self.core.patch_namespaced_pod(pod, namespace, {"metadata": {"annotations": {SIMULATE_ANNOTATION: "succeed"}}})

    # ------------------------------------------------------------ tearing down
    def close(self) -> None:
        for name in self.namespaces:
            self.core.delete_namespace(name)
        for name in self.namespaces:
            wait_for(lambda n=name: not self._exists(n), timeout=90, what=f"namespace {name} to be deleted")
        for name in self.cluster_queues:
            self.custom.delete_cluster_custom_object(GROUP, VERSION, "clusterqueues", name)

    def _exists(self, namespace: str) -> bool:
        try:
            self.core.read_namespace(namespace)
            return True
        except kubernetes.client.ApiException as exc:
            if exc.status == 404:
                return False
            raise
