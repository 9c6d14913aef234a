"""Fixtures shared by every test: the real local control plane and per-test namespaces.

The control plane starts once per session (``control_plane``) and is stopped at
the end; its processes die with the test run even when it is killed (see
cluster/mlops_cluster/processes.py). Each test that needs the cluster gets a
namespace of its own (``namespace``).
"""

from __future__ import annotations

import os
import re
import time
import uuid
from pathlib import Path

import pytest
from mlops_cluster import ControlPlane
from mlops_cluster.controlplane import pod_network
from mlops_cluster.fleet import DEFAULT_FLEET
from mlops_contract.jobs import JOB_KINDS

from tests.mlops_testing import ARTIFACTS, create_namespace
from tests.worker_schedule import SuiteScheduling, order_slow_first

# The session-wide fixtures the areas share (alice and bob, the job controllers'
# helpers, the hub's availability service), registered here once: each starts at
# most once per worker. Ask for them by name; importing one into a module or an
# area's conftest.py would define it a second time, and start it a second time.
# (pytest accepts pytest_plugins only in this top-level conftest.py.)
pytest_plugins = ("tests.jobs_support", "tests.hub_availability")


def _worker_pod_range() -> None:
    """`make test` runs the suite on pytest-xdist workers, each with control planes of
    its own: worker N takes the pod range 2N ranges above the base one (MLOPS_POD_CIDR
    or the default), so no two workers' pod processes listen on the same address and
    port, and a second checkout beside them can take the range just above the base.
    Set in the environment, so that clusters the tests start in subprocesses (the demo)
    and nested pytest runs stay in it too."""
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if not worker.startswith("gw") or os.environ.get("MLOPS_POD_RANGE_OF") == worker:
        return
    base = pod_network()
    first = base.network_address + 2 * int(worker[2:]) * base.num_addresses + 1
    os.environ["MLOPS_POD_CIDR"] = f"{first}/{base.prefixlen}"
    os.environ["MLOPS_POD_RANGE_OF"] = worker


_worker_pod_range()


@pytest.fixture(scope="session")
def control_plane(request, tmp_path_factory) -> ControlPlane:
    run_dir = Path(os.environ.get("MLOPS_TEST_RUN_DIR") or tmp_path_factory.mktemp("cluster"))
    # The overrides exist for tests/cluster/test_smoke_premises.py, which breaks
    # a premise on purpose and checks that the smoke tests notice; the smoke tests
    # need no job controller, so it asks for a bare cluster, which starts sooner.
    controllers = os.environ.get("MLOPS_TEST_BARE_CLUSTER") != "1"
    cp = ControlPlane(
        run_dir,
        fleet_file=Path(os.environ.get("MLOPS_TEST_FLEET") or DEFAULT_FLEET),
        authorization_mode=os.environ.get("MLOPS_TEST_AUTHORIZATION_MODE", "RBAC"),
        # Jobs move as on a real cluster: Argo's own controller runs Workflows, the
        # Training Operator PyTorchJobs, Katib sweeps (job_runner below runs their pods).
        argo_controller=controllers,
        training_operator=controllers,
        katib=controllers,
    )
    began = time.monotonic()
    cp.start()
    message = f"local control plane ready in {time.monotonic() - began:.1f}s at {cp.server} (logs: {cp.log_dir})"
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    with capture.global_and_fixture_disabled():
        print(f"\n{message}", flush=True)
    (ARTIFACTS).mkdir(exist_ok=True)
    (ARTIFACTS / "control-plane-startup.txt").write_text(f"{cp.startup_seconds:.2f}\n")
    yield cp
    cp.stop()


@pytest.fixture(scope="session")
def job_runner(control_plane, tmp_path_factory):
    """The kubelet's part for the pods the real controllers create (Argo's steps, the
    Training Operator's replicas) in namespaces labelled ``RUN_LOCALLY``
    (``tests.jobs_support.runs_locally``). One for the session, here and not in a plugin
    module, so that no pod is ever run by two runners."""
    from tests.jobs_support import controllers_pod_runner

    runner = controllers_pod_runner(control_plane, tmp_path_factory.mktemp("job-pods"))
    yield runner
    runner.stop()


SESSION_USERS = ("alice", "bob")


@pytest.fixture(autouse=True)
def _jobs_end_with_their_test(request):
    """A test's jobs in the session users' namespaces are deleted when it ends.

    Under the real controllers a job left behind keeps pods on the fleet's nodes for
    the rest of the session: its GPUs and CPU are then missing to later tests'
    notebooks, and the hub's counts of jobs and held GPUs are off.
    """
    users = [request.getfixturevalue(name) for name in SESSION_USERS if name in request.fixturenames]
    custom = request.getfixturevalue("admin_custom_objects") if users else None
    yield
    for user in users:
        for kind in JOB_KINDS:
            # Background: the garbage collector removes the pods the controllers made.
            custom.delete_collection_namespaced_custom_object(
                kind.group, kind.version, user.namespace, kind.plural, propagation_policy="Background"
            )


@pytest.fixture(scope="session")
def admin_custom_objects(control_plane):
    import kubernetes

    return kubernetes.client.CustomObjectsApi(control_plane.api_client("admin"))


@pytest.fixture(scope="session")
def core_v1(control_plane):
    import kubernetes

    return kubernetes.client.CoreV1Api(control_plane.api_client("admin"))


def _namespace_name(nodeid: str) -> str:
    base = re.sub(r"[^a-z0-9-]+", "-", nodeid.split("::")[-1].lower()).strip("-")[:40].strip("-")
    return f"t-{base}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def namespace(request, control_plane, core_v1) -> str:
    """A fresh namespace for this test, deleted afterwards."""
    name = create_namespace(core_v1, _namespace_name(request.node.nodeid), labels={"jupyterhub-mlops/test": "true"})
    yield name
    core_v1.delete_namespace(name)


def pytest_collection_modifyitems(config, items) -> None:
    """Every test has a node id of its own: pytest-xdist schedules by node id, so tests
    sharing one would silently run only once. The long ones go first (tests/worker_schedule.py)."""
    seen: set[str] = set()
    shared = sorted({item.nodeid for item in items if item.nodeid in seen or seen.add(item.nodeid)})
    if shared:
        raise pytest.UsageError(f"tests share a node id and would not all run under pytest-xdist: {shared}")
    order_slow_first(items)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") == "loadfile":
        return SuiteScheduling(config, log)
    return None
