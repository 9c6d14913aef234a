"""Every error of the issue's point 6 produced for real, and two users kept apart by RBAC.

The API server refuses (schema, RBAC), a CRD is missing, the server is gone:
each surfaces as one ``JobsError`` with a sentence the user can act on, and
nothing is left half-created.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import kubernetes
import pytest
import pytest_asyncio
from jupyter_mlops.jobs import (
    AlreadyExists,
    ArgoWorkflow,
    ClusterUnreachable,
    ComponentMissing,
    InvalidSpec,
    NotFound,
    Parameter,
    PyTorchJob,
    Snapshot,
    SnapshotTooLarge,
    Sweep,
    Unauthenticated,
)
from jupyter_mlops.jobs.client import JobsClient
from jupyter_mlops.jobs.kube import KubeClient
from jupyter_mlops.jobs.snapshot import SharedVolume
from mlops_cluster import ControlPlane

from tests.jobs_support import IMAGE, make_user
from tests.mlops_testing import closed_port

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def sweep(name: str | None = None) -> Sweep:
    return Sweep(
        name=name,
        command="python train.py --lr {lr}",
        image=IMAGE,
        snapshot=None,
        parameters=[Parameter("lr", "double", 0.01, 0.1)],
        objective_metric="accuracy",
    )


# ------------------------------------------------------------------ 400
def test_schema_rejection_names_the_field_and_leaves_no_configmap(alice, controller, code_dir):
    manifest = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": unique("bad")},
        "spec": {
            "entrypoint": "main",
            "suspend": "sometimes",
            "templates": [{"name": "main", "container": {"image": IMAGE, "command": ["python", "train.py"]}}],
        },
    }
    configmap = Snapshot(code_dir).build().configmap_name
    with pytest.raises(InvalidSpec) as refused:
        alice.client().submit(ArgoWorkflow(manifest, snapshot=Snapshot(code_dir)))
    assert refused.value.details["field"] == "spec.suspend"
    assert refused.value.http_status == 400
    assert not controller.configmap_exists(alice.namespace, configmap)


def test_our_own_validation_names_the_field_before_calling_the_server(alice):
    with pytest.raises(InvalidSpec) as refused:
        alice.client().submit(
            Sweep(
                command="python train.py",
                image=IMAGE,
                snapshot=None,
                parameters=[Parameter("lr", "double", 0.1, 0.01)],
                objective_metric="accuracy",
            )
        )
    assert refused.value.details["field"] == "parameters[0].max"
    with pytest.raises(InvalidSpec, match="does not use parameter 'lr'"):
        alice.client().submit(
            Sweep(
                command="python train.py",
                image=IMAGE,
                snapshot=None,
                parameters=[Parameter("lr", "double", 0.01, 0.1)],
                objective_metric="accuracy",
            )
        )


def test_name_taken_keeps_the_first_job_and_removes_the_new_snapshot(alice, controller, code_dir):
    client = alice.client()
    name = unique("twice")
    first = client.submit(PyTorchJob(name=name, command="python train.py", image=IMAGE, snapshot=Snapshot(code_dir)))
    first_cm = first.get()["metadata"]["annotations"]["jupyterhub-mlops/snapshot"]
    (code_dir / "train.py").write_text("print('changed code, new snapshot')\n")
    second_cm = Snapshot(code_dir).build().configmap_name
    assert second_cm != first_cm
    with pytest.raises(AlreadyExists):
        client.submit(PyTorchJob(name=name, command="python train.py", image=IMAGE, snapshot=Snapshot(code_dir)))
    assert controller.configmap_exists(alice.namespace, first_cm)
    assert not controller.configmap_exists(alice.namespace, second_cm), "cleaned up"
    first.delete()


# ------------------------------------------------------------------ 413 / shared volume
@pytest.fixture
def big_code_dir(code_dir) -> Path:
    (code_dir / "weights.bin").write_bytes(os.urandom(3 * 1024 * 1024))  # incompressible
    return code_dir


def test_snapshot_over_the_configmap_limit_says_what_to_do(alice, controller, big_code_dir):
    name = unique("big")
    with pytest.raises(SnapshotTooLarge) as refused:
        alice.client().submit(
            PyTorchJob(name=name, command="python train.py", image=IMAGE, snapshot=Snapshot(big_code_dir))
        )
    assert refused.value.http_status == 413
    assert "exclude=" in refused.value.message and ".gitignore" in refused.value.message
    with pytest.raises(NotFound):
        alice.client().get("pytorchjob", name)
    # Excluding the weights makes it fit.
    handle = alice.client().submit(
        PyTorchJob(
            name=unique("small"),
            command="python train.py",
            image=IMAGE,
            snapshot=Snapshot(big_code_dir, exclude=["*.bin"]),
        )
    )
    handle.delete()


def test_large_snapshot_travels_on_a_read_write_many_home_volume(alice, controller, big_code_dir, tmp_path):
    claim = unique("home")
    controller.core.create_namespaced_persistent_volume_claim(
        alice.namespace,
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": claim},
            "spec": {
                "accessModes": ["ReadWriteMany"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )
    home = tmp_path / "home"
    home.mkdir()
    client = JobsClient(KubeClient(alice.credentials()), shared_volume=SharedVolume(claim, str(home)))
    handle = client.submit(
        PyTorchJob(
            name=unique("shared"),
            command="python train.py",
            image=IMAGE,
            snapshot=Snapshot(big_code_dir),
        )
    )
    spec = handle.get()["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]
    volume = next(v for v in spec["volumes"] if v["name"] == "mlops-snapshot")
    assert volume["persistentVolumeClaim"] == {"claimName": claim, "readOnly": True}
    env = {e["name"]: e["value"] for e in spec["containers"][0]["env"]}
    stored = list((home / ".mlops" / "snapshots").glob("*.tar.gz"))
    assert len(stored) == 1 and env["MLOPS_SNAPSHOT"].endswith(stored[0].name)
    assert "jupyterhub-mlops/snapshot" not in handle.get()["metadata"].get("annotations", {})
    handle.delete()


def test_read_write_once_home_volume_is_not_used_for_snapshots(alice, controller, big_code_dir, tmp_path):
    claim = unique("rwo")
    controller.core.create_namespaced_persistent_volume_claim(
        alice.namespace,
        {
            "apiVersion": "v1",
            "kind": "PersistentVolumeClaim",
            "metadata": {"name": claim},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "resources": {"requests": {"storage": "1Gi"}},
            },
        },
    )
    client = JobsClient(KubeClient(alice.credentials()), shared_volume=SharedVolume(claim, str(tmp_path)))
    with pytest.raises(SnapshotTooLarge):
        client.submit(PyTorchJob(command="python train.py", image=IMAGE, snapshot=Snapshot(big_code_dir)))


# ------------------------------------------------------------------ 401 / 403
def test_a_revoked_token_is_unauthenticated(alice, tmp_path):
    token = tmp_path / "token"
    token.write_text("not-a-token")
    creds = alice.credentials()
    creds.token_file = str(token)
    with pytest.raises(Unauthenticated) as refused:
        JobsClient(KubeClient(creds)).list("pytorchjob")
    assert refused.value.http_status == 401


# ------------------------------------------------------------------ 501 / 503
@pytest_asyncio.fixture(scope="module")
async def katibless_cluster(tmp_path_factory):
    """A cluster of our own (not the shared one): Katib's CRDs are removed from it."""
    run_dir = tmp_path_factory.mktemp("katibless")
    cp = ControlPlane(run_dir).start()
    try:
        cp.kubectl("delete", "crd", "experiments.kubeflow.org", "trials.kubeflow.org")
        core = kubernetes.client.CoreV1Api(cp.api_client("admin"))
        user = await make_user(cp, core, run_dir, "carol")
        yield cp, user
    finally:
        cp.stop()


def test_missing_crd_names_the_component(katibless_cluster):
    _, carol = katibless_cluster
    client = carol.client()
    with pytest.raises(ComponentMissing) as refused:
        client.submit(sweep())
    assert refused.value.message.startswith("Katib is not installed in this cluster")
    assert refused.value.http_status == 501
    with pytest.raises(ComponentMissing, match="Katib is not installed"):
        client.list("sweep")
    assert client.list() == [], "listing every kind leaves the missing one out"
    handle = client.submit(PyTorchJob(command="python train.py", image=IMAGE, snapshot=None))
    assert [j["name"] for j in client.list()] == [handle.name]


def test_unreachable_api_server_is_503(katibless_cluster):
    cp, carol = katibless_cluster
    client = carol.client()
    client.list("pytorchjob")
    cp.stop()
    with pytest.raises(ClusterUnreachable) as refused:
        client.list("pytorchjob")
    assert refused.value.http_status == 503
    assert cp.server in refused.value.message
    with pytest.raises(ClusterUnreachable):
        client.submit(PyTorchJob(command="python train.py", image=IMAGE, snapshot=None))


def test_missing_job_is_not_found(alice):
    with pytest.raises(NotFound, match="not found in namespace"):
        alice.client().get("sweep", "no-such-sweep")


def test_unreachable_availability_api_refuses_or_queues_as_the_user_chose(alice):
    from jupyter_mlops.jobs.availability import AvailabilityClient

    client = JobsClient(
        KubeClient(alice.credentials()),
        availability=AvailabilityClient(f"http://127.0.0.1:{closed_port()}/services/availability", token="user-token"),
    )
    job = PyTorchJob(name=unique("gpu"), command="python a.py", gpus=1, image=IMAGE, snapshot=None)
    with pytest.raises(ClusterUnreachable, match="availability API"):
        client.submit(job)
    with pytest.raises(NotFound):
        client.get("pytorchjob", job.name)
    queued = client.submit(job, if_not_fits="queue")
    assert queued.warnings and "could not be checked" in queued.warnings[0]
    queued.delete()


def test_a_snapshot_being_collected_is_shipped_again_for_the_new_job(alice, controller, code_dir):
    """Same code as a job just deleted: its ConfigMap may be on its way out; never mount a ghost."""
    import threading
    import time

    client = alice.client()
    first = client.submit(
        PyTorchJob(name=unique("first"), command="python a.py", image=IMAGE, snapshot=Snapshot(code_dir))
    )
    configmap = first.get()["metadata"]["annotations"]["jupyterhub-mlops/snapshot"]
    # Hold the ConfigMap in Terminating (a finalizer), as if the collector were mid-way.
    controller.core.patch_namespaced_config_map(
        configmap, alice.namespace, {"metadata": {"finalizers": ["test.local/hold"]}}
    )
    controller.core.delete_namespaced_config_map(configmap, alice.namespace)

    def collector_finishes():
        time.sleep(1.5)
        controller.core.patch_namespaced_config_map(configmap, alice.namespace, {"metadata": {"finalizers": None}})

    finisher = threading.Thread(target=collector_finishes)
    finisher.start()
    second = client.submit(
        PyTorchJob(name=unique("second"), command="python a.py", image=IMAGE, snapshot=Snapshot(code_dir))
    )
    finisher.join()
    cm = controller.core.read_namespaced_config_map(configmap, alice.namespace)
    assert cm.metadata.deletion_timestamp is None
    assert {o.uid for o in cm.metadata.owner_references} == {second.get()["metadata"]["uid"]}
    first.delete()
    second.delete()
    controller.wait_gone(alice.namespace, configmap)
