"""A control plane of their own for the Kueue tests: Kueue's manager with its webhooks
and visibility API, the Training Operator for PyTorchJobs, Argo's workflow-controller
for workflows and Katib for sweeps.

Nothing here writes a Workload's, a Job's, a PyTorchJob's, a Workflow's or an
Experiment's status: Kueue admits, the Job controller, the Training Operator, Argo
and Katib make pods, the real scheduler binds them, KWOK runs and finishes them
(``cluster/kwok/stages.yaml``), or, for the namespaces a test opts in
(``kueue_job_runner``), the pod runner runs them as local processes.
"""

from __future__ import annotations

import uuid

import kubernetes
import pytest
from jupyterhub_mlops.provisioning import namespace_manifest
from mlops_cluster import ControlPlane
from mlops_cluster.controlplane import second_pod_cidr

from tests.mlops_testing import create_namespace


@pytest.fixture(scope="session")
def kueue_cluster(tmp_path_factory):
    # The upper half of the pod range: the session's cluster may run pods in the same
    # worker, and no two processes may get the same pod IP.
    cp = ControlPlane(
        tmp_path_factory.mktemp("kueue-cluster"),
        kueue=True,
        training_operator=True,
        argo_controller=True,
        katib=True,
        pod_cidr=second_pod_cidr(),
    )
    cp.start()
    yield cp
    cp.stop()


@pytest.fixture(scope="session")
def kueue_job_runner(kueue_cluster, tmp_path_factory):
    """The kubelet's part for the pods Argo and Katib make in this cluster (steps, trials,
    suggestion services), in namespaces labelled ``RUN_LOCALLY``
    (``tests.jobs_support.runs_locally``): the session's ``job_runner`` for this cluster.
    A pod Kueue holds back has no node and no IP, so it runs only once admitted."""
    from tests.jobs_support import controllers_pod_runner

    runner = controllers_pod_runner(kueue_cluster, tmp_path_factory.mktemp("kueue-job-pods"))
    yield runner
    runner.stop()


@pytest.fixture(scope="session")
def kueue_core_v1(kueue_cluster):
    return kubernetes.client.CoreV1Api(kueue_cluster.api_client("admin"))


@pytest.fixture(scope="session")
def kueue_custom(kueue_cluster):
    return kubernetes.client.CustomObjectsApi(kueue_cluster.api_client("admin"))


@pytest.fixture(scope="session")
def kueue_batch_v1(kueue_cluster):
    return kubernetes.client.BatchV1Api(kueue_cluster.api_client("admin"))


@pytest.fixture
def user_namespace(kueue_core_v1):
    """A namespace as the hub provisions it for a user (the labels Kueue's
    ``managedJobsNamespaceSelector`` selects), deleted afterwards."""
    name = f"t-kueue-{uuid.uuid4().hex[:6]}"
    labels = namespace_manifest(name, f"user-{name}")["metadata"]["labels"]
    create_namespace(kueue_core_v1, name, labels=labels)
    yield name
    kueue_core_v1.delete_namespace(name)


@pytest.fixture
def lines(kueue_cluster, tmp_path):
    """Groups' Kueue lines and their members, made afresh for one test (``tests/kueue/lines.py``)."""
    from tests.kueue.lines import Lines

    made = Lines(kueue_cluster, tmp_path)
    yield made
    made.close()
