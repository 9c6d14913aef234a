"""jupyterhub_mlops.jobs_metrics: the status -> state mapping (pure), and the
collector following real jobs on the real API server with the hub's own identity.

The real Training Operator, Argo's workflow-controller and Katib run in the
session's cluster and write the PyTorchJobs', Workflows' and Experiments' status
themselves (``job_runner`` runs their pods, so they succeed or fail by their
exit code and, for a sweep's trials, by what they print).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import json

import kubernetes_asyncio
import pytest
from jupyterhub_mlops.jobs_metrics import (
    JOB_KINDS,
    STATES,
    JobsCollector,
    JobsTable,
    JobsWatcher,
    job_state,
)
from mlops_contract import metrics
from mlops_contract.jobs import SWEEP
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from tests.deploy import deploy_support
from tests.jobs_support import printing_experiment_spec, runs_locally


def conditions(*types, false=()):
    return {"status": {"conditions": [{"type": t, "status": "False" if t in false else "True"} for t in types]}}


@pytest.mark.parametrize(
    ("kind", "obj", "state"),
    [
        ("pytorchjob", {}, "Pending"),
        ("pytorchjob", conditions("Created"), "Pending"),
        ("pytorchjob", conditions("Created", "Running"), "Running"),
        ("pytorchjob", conditions("Created", "Running", "Restarting"), "Running"),
        ("pytorchjob", conditions("Created", "Running", "Succeeded"), "Succeeded"),
        ("pytorchjob", conditions("Created", "Running", "Failed"), "Failed"),
        # The operator keeps Running but flips it to False when the job ends.
        ("pytorchjob", conditions("Created", "Running", "Succeeded", false=("Running",)), "Succeeded"),
        ("pytorchjob", conditions("Created", "Suspended"), "Cancelled"),
        ("pytorchjob", conditions("Created", "Running", false=("Running",)), "Pending"),
        ("sweep", conditions("Created", "Running"), "Running"),
        ("sweep", conditions("Created", "Running", "Succeeded"), "Succeeded"),
        ("sweep", conditions("Created", "Failed", "Running"), "Failed"),
        ("workflow", {}, "Pending"),
        ("workflow", {"status": {"phase": "Pending"}}, "Pending"),
        ("workflow", {"status": {"phase": "Running"}}, "Running"),
        ("workflow", {"status": {"phase": "Succeeded"}}, "Succeeded"),
        ("workflow", {"status": {"phase": "Failed"}}, "Failed"),
        ("workflow", {"status": {"phase": "Error"}}, "Failed"),
        ("workflow", {"status": {"phase": "Bogus"}}, "Pending"),
    ],
)
def test_job_state(kind, obj, state):
    assert job_state(kind, obj) == state


def scrape(registry) -> dict[tuple[str, str], float]:
    """The exposition text parsed back: what Prometheus would read."""
    text = generate_latest(registry).decode()
    (family,) = [f for f in text_string_to_metric_families(text) if f.name == metrics.JOBS]
    return {(s.labels["kind"], s.labels["state"]): s.value for s in family.samples}


def test_table_and_collector_export_every_kind_and_state():
    table = JobsTable()
    registry = CollectorRegistry()
    registry.register(JobsCollector(table))
    job = {"metadata": {"uid": "u1", "namespace": "a", "name": "j"}, **conditions("Created")}
    table.apply("pytorchjob", "ADDED", job)
    table.apply("workflow", "ADDED", {"metadata": {"uid": "u2"}, "status": {"phase": "Running"}})
    table.apply("workflow", "BOOKMARK", {"metadata": {"resourceVersion": "9"}})
    counts = scrape(registry)
    assert len(counts) == 3 * len(STATES)
    assert counts[("pytorchjob", "Pending")] == 1 and counts[("workflow", "Running")] == 1
    table.apply("pytorchjob", "MODIFIED", {**job, **conditions("Created", "Failed")})
    table.apply("workflow", "DELETED", {"metadata": {"uid": "u2"}})
    counts = scrape(registry)
    assert counts[("pytorchjob", "Pending")] == 0 and counts[("pytorchjob", "Failed")] == 1
    assert counts[("workflow", "Running")] == 0
    assert sum(counts.values()) == 1


# ---------------------------------------------------------------------- real API server


def pytorchjob(command: str, *, suspend: bool = False) -> dict:
    """A one-replica PyTorchJob running ``python -c command`` once (no restart)."""
    container = {
        "name": "pytorch",
        "image": "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime",
        "command": ["python", "-c", command],
    }
    return {
        "runPolicy": {"suspend": suspend},
        "pytorchReplicaSpecs": {
            "Master": {"replicas": 1, "restartPolicy": "Never", "template": {"spec": {"containers": [container]}}}
        },
    }


ENDS_WELL = "print('trained')"
RAISES = "raise SystemExit('diverged')"
RUNS_ON = "import time; time.sleep(600)"
JOBS = {
    "pytorchjob": ("kubeflow.org/v1", "PyTorchJob", "pytorchjobs", pytorchjob(RUNS_ON)),
    "sweep": ("kubeflow.org/v1beta1", "Experiment", "experiments", printing_experiment_spec(trials=2)),
    # Waits for ever (a suspend step): the workflow-controller keeps it Running.
    "workflow": (
        "argoproj.io/v1alpha1",
        "Workflow",
        "workflows",
        {"entrypoint": "main", "templates": [{"name": "main", "suspend": {}}]},
    ),
}
BROKEN_WORKFLOW = {"entrypoint": "missing", "templates": [{"name": "main", "suspend": {}}]}
"""Names no template: the workflow-controller fails it at once."""


def create_job(control_plane, kind: str, namespace: str, name: str, spec: dict | None = None) -> None:
    api_version, k, _, default_spec = JOBS[kind]
    control_plane.kubectl(
        "create",
        "-n",
        namespace,
        "-f",
        "-",
        input=json.dumps(
            {"apiVersion": api_version, "kind": k, "metadata": {"name": name}, "spec": spec or default_spec}
        ),
    )


def counted_elsewhere(custom, namespaces) -> collections.Counter:
    """(kind, state) -> jobs outside ``namespaces``, as the API server has them now: the
    session's cluster holds other tests' jobs, and the watcher counts every namespace."""
    counts: collections.Counter = collections.Counter()
    for kind in JOB_KINDS:
        for obj in custom.list_cluster_custom_object(kind.group, kind.version, kind.plural)["items"]:
            if obj["metadata"]["namespace"] not in namespaces:
                counts[(kind.name, job_state(kind.name, obj))] += 1
    return counts


async def eventually(registry, expected: dict, timeout: float = 30, elsewhere=collections.Counter) -> dict:
    """The scraped counts once they are ``expected`` plus what ``elsewhere()`` counts now."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        counts, others = scrape(registry), elsewhere()
        if all(counts[key] == value + others[key] for key, value in expected.items()):
            return {key: value - others[key] for key, value in counts.items()}
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"after {timeout}s: {counts}, expected {expected} plus elsewhere {dict(others)}")
        await asyncio.sleep(0.5)


@pytest.fixture
def user_namespaces(control_plane, core_v1):
    yield from deploy_support.user_namespaces(core_v1)


@pytest.fixture
def running_namespaces(user_namespaces, core_v1, job_runner):
    """``user_namespaces`` whose job pods really run (``job_runner``)."""
    runs_locally(core_v1, *user_namespaces)
    return user_namespaces


@pytest.mark.cluster
async def test_watcher_follows_jobs_in_every_namespace_as_the_hub(
    control_plane, admin_custom_objects, running_namespaces
):
    alice, bob = running_namespaces
    api = await kubernetes_asyncio.config.new_client_from_config(config_file=str(control_plane.kubeconfig("hub")))
    watcher = JobsWatcher(api, watch_seconds=5)

    def elsewhere() -> collections.Counter:
        return counted_elsewhere(admin_custom_objects, running_namespaces)

    registry = CollectorRegistry()
    registry.register(JobsCollector(watcher.table))
    # Jobs before the watcher starts arrive by the list, later ones by the watch. A job
    # created suspended waits (the operator creates no pods and says Suspended).
    create_job(control_plane, "pytorchjob", alice, "before", pytorchjob(ENDS_WELL, suspend=True))
    task = asyncio.create_task(watcher.run())
    try:
        await eventually(registry, {("pytorchjob", "Cancelled"): 1}, elsewhere=elsewhere)
        create_job(control_plane, "pytorchjob", bob, "pytorchjob-b")
        create_job(control_plane, "sweep", bob, "sweep-b")
        create_job(control_plane, "workflow", bob, "workflow-b", BROKEN_WORKFLOW)
        create_job(control_plane, "workflow", alice, "wf-a")
        create_job(control_plane, "pytorchjob", alice, "crash", pytorchjob(RAISES))
        await eventually(
            registry, {("pytorchjob", "Running"): 1, ("pytorchjob", "Failed"): 1}, timeout=120, elsewhere=elsewhere
        )
        # alice resumes her job: its process prints and ends well.
        control_plane.kubectl(
            "patch",
            "pytorchjobs",
            "before",
            "-n",
            alice,
            "--type=merge",
            "-p",
            json.dumps({"spec": {"runPolicy": {"suspend": False}}}),
        )
        # Across a watch's end (watch_seconds=5): the watcher resumes where it was.
        await asyncio.sleep(6)
        control_plane.kubectl("delete", "pytorchjobs", "pytorchjob-b", "-n", bob)
        counts = await eventually(
            registry,
            {
                ("pytorchjob", "Succeeded"): 1,
                ("pytorchjob", "Failed"): 1,
                ("pytorchjob", "Running"): 0,
                ("pytorchjob", "Pending"): 0,
                ("pytorchjob", "Cancelled"): 0,
                ("sweep", "Succeeded"): 1,
                ("sweep", "Pending"): 0,
                ("sweep", "Running"): 0,
                ("workflow", "Failed"): 1,
                ("workflow", "Running"): 1,
                ("workflow", "Pending"): 0,
            },
            timeout=120,
            elsewhere=elsewhere,
        )
        assert sum(counts.values()) == 5  # this test's jobs, and no other of them counted twice
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await api.close()


@pytest.mark.cluster
async def test_a_kind_not_installed_or_not_allowed_counts_zero_and_spoils_nothing(
    control_plane, admin_custom_objects, user_namespaces, caplog
):
    """Argo missing from a cluster, or a hub without the rights: the other kinds go on."""
    alice, _ = user_namespaces
    # Suspended, so that the operator leaves it waiting in one state.
    create_job(control_plane, "pytorchjob", alice, "counted", pytorchjob(RUNS_ON, suspend=True))
    # Allowed by the hub's role (RBAC ignores versions) but served by no CRD: what the
    # API server answers when Katib is not installed.
    absent = dataclasses.replace(SWEEP, version="v9")
    kinds = (JOB_KINDS[0], absent)
    hub = await kubernetes_asyncio.config.new_client_from_config(config_file=str(control_plane.kubeconfig("hub")))
    # bob is a researcher bound to nothing: every list is forbidden.
    bob = await kubernetes_asyncio.config.new_client_from_config(config_file=str(control_plane.kubeconfig("bob")))
    watchers = [JobsWatcher(hub, kinds=kinds), JobsWatcher(bob, kinds=kinds)]
    registries = []
    for watcher in watchers:
        registries.append(CollectorRegistry())
        registries[-1].register(JobsCollector(watcher.table))
    tasks = [asyncio.create_task(w.run()) for w in watchers]
    try:
        with caplog.at_level("INFO", logger="jupyterhub_mlops.jobs_metrics"):
            await eventually(
                registries[0],
                {("pytorchjob", "Cancelled"): 1},
                elsewhere=lambda: counted_elsewhere(admin_custom_objects, user_namespaces),
            )
            deadline = asyncio.get_running_loop().time() + 30
            while not ("not installed" in caplog.text and "may not list" in caplog.text):
                assert asyncio.get_running_loop().time() < deadline, caplog.text
                await asyncio.sleep(0.1)
        assert not any(t.done() for t in tasks), "a watcher gave up"
        assert sum(scrape(registries[1]).values()) == 0
        assert "sweep: not installed" in caplog.text
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await hub.close()
        await bob.close()
