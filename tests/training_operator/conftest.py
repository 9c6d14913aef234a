"""A cluster where the real Training Operator runs PyTorchJobs and their pods really run.

``operator_cluster`` is a control plane of its own with
``ControlPlane(training_operator=True)`` (on the other half of the pod IP range,
so it can run beside the session's ``control_plane``), and ``job_pod_runner``
plays the kubelet for every pod in the researchers' namespaces, which carry the
label ``jupyterhub-mlops.local/run-locally=true``. Nothing writes a PyTorchJob's
status here but the operator, and nothing writes a pod's status but KWOK (IP,
Running) and the pod runner (what the process did).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import kubernetes
import pytest
import pytest_asyncio
from jobs_support import make_user
from mlops_cluster import ControlPlane
from mlops_cluster.controlplane import second_pod_cidr
from mlops_cluster.pod_runner import PodRunner

RUN_LOCALLY = "jupyterhub-mlops.local/run-locally"


@pytest.fixture(scope="session")
def operator_cluster(tmp_path_factory):
    cp = ControlPlane(tmp_path_factory.mktemp("operator-cluster"), training_operator=True,
                      pod_cidr=second_pod_cidr())
    cp.start()
    yield cp
    cp.stop()


@pytest.fixture(scope="session")
def operator_core_v1(operator_cluster):
    return kubernetes.client.CoreV1Api(operator_cluster.api_client("admin"))


@pytest.fixture(scope="session")
def job_pod_runner(operator_cluster, tmp_path_factory):
    """The kubelet's part. The image would bring ``python``: this interpreter's folder
    leads PATH. Short crash-loop back-off (0.5 s doubling to 2 s) keeps failing jobs quick."""
    base = tmp_path_factory.mktemp("job-pods")
    env = {"PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    runner = PodRunner(operator_cluster.api_client("admin"), home_base=base / "homes",
                       log_dir=base / "logs", base_env=env, restart_backoff=0.5,
                       max_restart_backoff=2.0).start()
    yield runner
    runner.stop()


async def researcher(cluster, core_v1, tmp_dir: Path, name: str):
    user = await make_user(cluster, core_v1, tmp_dir, name)
    core_v1.patch_namespace(user.namespace, {"metadata": {"labels": {RUN_LOCALLY: "true"}}})
    return user


@pytest_asyncio.fixture(scope="session")
async def carol(operator_cluster, operator_core_v1, job_pod_runner, tmp_path_factory):
    return await researcher(operator_cluster, operator_core_v1, tmp_path_factory.mktemp("carol"),
                            "carol")


@pytest_asyncio.fixture(scope="session")
async def dave(operator_cluster, operator_core_v1, job_pod_runner, tmp_path_factory):
    return await researcher(operator_cluster, operator_core_v1, tmp_path_factory.mktemp("dave"),
                            "dave")
