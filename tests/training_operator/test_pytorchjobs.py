"""PyTorchJobs run by the real Training Operator v1.9.4, their pods run by the pod runner.

carol's notebook submits through the jobs API as her own service account; the
operator (its webhook called by the API server) creates the pods and Services and
writes every status; the processes really run the shipped code, rendezvous
at MASTER_ADDR:MASTER_PORT, print the logs the API returns, and exit with the
code that decides each replica's fate.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import tarfile
import uuid

import jsonschema
import kubernetes
import pytest
from jupyter_mlops.jobs import InvalidSpec, NotFound, PermissionDenied, PyTorchJob, Snapshot

from tests.jobs_support import IMAGE, on_server_loop, server_config
from tests.jobs_support import call_api as call
from tests.magics.magics_kernel import Kernel
from tests.mlops_testing import wait_for
from tests.openapi_check import check, json_schema_of

pytestmark = pytest.mark.cluster
pytest_plugins = ["pytest_jupyter.jupyter_server"]
A100 = "NVIDIA-A100-SXM4-80GB"
JOB_LABEL = "training.kubeflow.org/job-name"

# torch.distributed's env:// rendezvous, with sockets: rank 0 listens at
# MASTER_ADDR:MASTER_PORT (set by the operator), every other rank connects there.
RENDEZVOUS = """\
import os, socket, time
from models.net import build
rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
address = (os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]))
if rank == 0:
    server = socket.create_server(address)
    print(f"rank 0 of {world} listening, model {build()}", flush=True)
    peers = [server.accept()[0] for _ in range(world - 1)]
    for peer in peers:
        print("rank 0 met", peer.recv(64).decode(), flush=True)
        peer.sendall(b"go")
    for peer in peers:  # until the peer is done, so its pod finishes first
        peer.recv(1)
    # The operator deletes pods still running once the master succeeds
    # (cleanPodPolicy: Running); the kubelet (here the pod runner) reports the
    # worker's exit a moment after it happens, so the master outlives it a little.
    time.sleep(5)
else:
    for _ in range(300):
        try:
            peer = socket.create_connection(address, timeout=5)
            break
        except OSError:
            time.sleep(0.2)
    peer.sendall(f"rank {rank}".encode())
    print(f"rank {rank} of {world} got", peer.recv(64).decode(), flush=True)
    peer.close()
    os._exit(0)  # done: hang up and end at once, so rank 0 cannot end first
"""
CRASH = 'print("loading data", flush=True)\nraise ValueError("learning rate must be > 0")\n'
SERVE = 'import time\nprint("hello from rest")\nprint("loss=0.1", flush=True)\nwhile True:\n    time.sleep(0.5)\n'
FOREVER = (
    "import itertools, time\nfor step in itertools.count():\n"
    '    print(f"step {step}", flush=True)\n    time.sleep(0.5)\n'
)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def code_dir(tmp_path):
    root = tmp_path / "project"
    (root / "models").mkdir(parents=True)
    (root / "models" / "__init__.py").write_text("")
    (root / "models" / "net.py").write_text("def build():\n    return 'resnet'\n")
    (root / "train.py").write_text(RENDEZVOUS)
    (root / "crash.py").write_text(CRASH)
    (root / "forever.py").write_text(FOREVER)
    (root / "serve.py").write_text(SERVE)
    (root / "run.txt").write_text(uuid.uuid4().hex)  # a snapshot of this test's own
    (root / ".gitignore").write_text("checkpoints/\n*.log\n")
    (root / "checkpoints").mkdir()
    (root / "checkpoints" / "big.ckpt").write_bytes(b"\0" * 4096)
    (root / "train.log").write_text("old log\n")
    return root


def job(name: str, script: str, code_dir, replicas: int = 1, **fields) -> PyTorchJob:
    return PyTorchJob(
        name=name,
        command=f"python {script}",
        replicas=replicas,
        gpus=1,
        gpu_type=A100,
        image=IMAGE,
        snapshot=Snapshot(code_dir),
        **fields,
    )


def printed(handle, part: str) -> list[str]:
    """What the replica has printed so far; nothing while its container has not started
    (the API answers 400 then, as for a container still waiting on a node)."""
    try:
        return list(handle.logs(part))
    except (InvalidSpec, NotFound):
        return []


def snapshot_files(core_v1, namespace: str, configmap: str) -> set[str]:
    cm = core_v1.read_namespaced_config_map(configmap, namespace, _request_timeout=10)
    assert cm.immutable is True
    archive = io.BytesIO(base64.b64decode(cm.binary_data["snapshot.tar.gz"]))
    with tarfile.open(fileobj=archive, mode="r:gz") as tar:
        return set(tar.getnames())


def owners(core_v1, namespace: str, configmap: str) -> set[str] | None:
    """The uids owning the snapshot ConfigMap; None once it is gone."""
    try:
        cm = core_v1.read_namespaced_config_map(configmap, namespace, _request_timeout=10)
    except kubernetes.client.ApiException as exc:
        if exc.status == 404:
            return None
        raise
    return {ref.uid for ref in cm.metadata.owner_references or []}


def pods_of(core_v1, namespace: str, name: str) -> list:
    return core_v1.list_namespaced_pod(namespace, label_selector=f"{JOB_LABEL}={name}", _request_timeout=10).items


def test_two_replicas_rendezvous_and_succeed(carol, core_v1, code_dir):
    name = unique("ddp")
    handle = carol.client().submit(job(name, "train.py", code_dir, replicas=2), if_not_fits="queue")

    configmap = handle.get()["metadata"]["annotations"]["jupyterhub-mlops/snapshot"]
    assert snapshot_files(core_v1, carol.namespace, configmap) == {
        ".gitignore",
        "run.txt",
        "train.py",
        "crash.py",
        "forever.py",
        "serve.py",
        "models/__init__.py",
        "models/net.py",
    }  # what .gitignore leaves out stays home

    final = handle.wait(timeout=180)
    assert final["state"] == "Succeeded", final
    assert list(handle.logs("master-0")) == ["rank 0 of 2 listening, model resnet", "rank 0 met rank 1"]
    assert list(handle.logs("worker-0")) == ["rank 1 of 2 got go"]
    assert [(p["name"], p["phase"]) for p in handle.status()["parts"]] == [
        ("master-0", "Succeeded"),
        ("worker-0", "Succeeded"),
    ]
    # The operator's own words, not ours.
    succeeded = next(c for c in handle.get()["status"]["conditions"] if c["type"] == "Succeeded")
    assert succeeded["reason"] == "PyTorchJobSucceeded"
    events = {(e["object"], e["reason"]) for e in handle.events()}
    assert (f"Pod/{name}-worker-0", "Scheduled") in events  # the real scheduler's
    assert (f"PyTorchJob/{name}", "SuccessfulCreatePod") in events  # the operator's


def _failed_with_reason(status: dict, name: str) -> None:
    assert status["state"] == "Failed", status
    assert f"Job {name} has failed because it has reached the specified backoff limit" in (status["message"])


@on_server_loop
async def test_a_crashing_job_fails_within_its_backoff_limit_and_says_why(jp_fetch, carol, core_v1, code_dir, tmp_path):
    """Fix 1: replicas restart in place (OnFailure); the operator counts the
    restarts against runPolicy.backoffLimit and fails the job, instead of
    leaving it Running forever with its GPUs held."""
    name = unique("crash")
    handle = carol.client().submit(job(name, "crash.py", code_dir), if_not_fits="queue")

    final = handle.wait(timeout=180)
    _failed_with_reason(final, name)
    # The replica that kept crashing is gone with its GPUs (cleanPodPolicy Running).
    wait_for(
        lambda: not pods_of(core_v1, carol.namespace, name),
        timeout=60,
        what="the operator to delete the crash-looping pod",
    )

    code, body = await call(jp_fetch, "GET", "/jobs/{kind}/{name}", "jobs", "pytorchjobs", name)
    assert code == 200
    _failed_with_reason(body, name)

    response = await jp_fetch("mlops", "api", "v1", "sidebar", "jobs", "pytorchjobs", name)
    extras = json.loads(response.body)
    check("GET", "/sidebar/jobs/{kind}/{name}", response.code, extras)
    failed = next(c for c in extras["conditions"] if c["type"] == "Failed")
    assert "reached the specified backoff limit" in failed["message"]

    kernel = Kernel(str(tmp_path), {**os.environ, **carol.environment(), "JUPYTER_IMAGE_SPEC": IMAGE})
    try:
        assert kernel.run("%load_ext jupyter_mlops").ok
        shown = kernel.run(f"%mlops status {name}")
        assert shown.ok, shown.outputs
        assert shown.text.startswith(f"pytorchjob {name}: Failed")
        assert "reached the specified backoff limit" in shown.text
    finally:
        kernel.shutdown()


@pytest.fixture
def jp_server_config(carol):
    return server_config(carol, carol.namespace)


def test_cancel_resubmit_delete(carol, core_v1, code_dir):
    client = carol.client()
    name = unique("long")
    handle = client.submit(job(name, "forever.py", code_dir, replicas=2), if_not_fits="queue")
    wait_for(lambda: "step 1" in printed(handle, "worker-0"), timeout=120, what="the worker to print its steps")
    assert handle.status()["state"] == "Running"

    # Cancel = suspend: the operator deletes the pods and keeps the job.
    handle.cancel()
    wait_for(
        lambda: not pods_of(core_v1, carol.namespace, name),
        timeout=60,
        what="the operator to delete the suspended job's pods",
    )
    wait_for(lambda: handle.status()["state"] == "Cancelled", timeout=60, what="the job to show Cancelled")
    configmap = handle.get()["metadata"]["annotations"]["jupyterhub-mlops/snapshot"]
    assert handle.get()["spec"]["runPolicy"]["suspend"] is True

    # Resubmit: a new job, the same snapshot, running again.
    again = handle.resubmit()
    assert again.name != name and again.name.startswith(name)
    assert again.get()["metadata"]["annotations"]["jupyterhub-mlops/snapshot"] == configmap
    assert not again.get()["spec"]["runPolicy"].get("suspend")
    wait_for(lambda: "step 1" in printed(again, "master-0"), timeout=120, what="the resubmitted job's master to run")
    assert again.status()["state"] == "Running"
    assert owners(core_v1, carol.namespace, configmap) == {
        handle.get()["metadata"]["uid"],
        again.get()["metadata"]["uid"],
    }

    # Delete: the pods go with the job; the snapshot with the last job that uses it.
    handle.delete()
    wait_for(
        lambda: name not in {j["name"] for j in client.list("pytorchjob")}, timeout=60, what="the job to leave the list"
    )
    still = {again.get()["metadata"]["uid"]}
    wait_for(
        lambda: owners(core_v1, carol.namespace, configmap) == still,
        timeout=60,
        what="the garbage collector to leave the snapshot to the resubmission alone",
    )
    again.delete()
    wait_for(
        lambda: not pods_of(core_v1, carol.namespace, again.name),
        timeout=60,
        what="the resubmitted job's pods to go with it",
    )
    wait_for(
        lambda: owners(core_v1, carol.namespace, configmap) is None,
        timeout=60,
        what="the garbage collector to delete the snapshot",
    )
    with pytest.raises(NotFound):
        again.status()


def test_another_researcher_cannot_see_or_touch_the_job(carol, dave, core_v1, code_dir):
    name = unique("private")
    handle = carol.client().submit(job(name, "forever.py", code_dir), if_not_fits="queue")
    wait_for(lambda: pods_of(core_v1, carol.namespace, name), timeout=60, what="the operator to create the pod")

    intruder = dave.client(namespace=carol.namespace)
    attempts = {
        "get": lambda: intruder.get("pytorchjob", name),
        "logs": lambda: list(intruder.handle("pytorchjob", name).logs("master-0")),
        "cancel": lambda: intruder.handle("pytorchjob", name).cancel(),
        "delete": lambda: intruder.handle("pytorchjob", name).delete(),
        "submit": lambda: intruder.submit(PyTorchJob(command="x", image=IMAGE, snapshot=None), if_not_fits="queue"),
    }
    for what, attempt in attempts.items():
        with pytest.raises(PermissionDenied) as refused:
            attempt()
        assert carol.namespace in refused.value.details["permission"], what
        assert "system:serviceaccount" in refused.value.details["server_message"], what
    assert name not in {job["name"] for job in dave.client().list()}

    # Still carol's, still running, not suspended.
    assert handle.status()["state"] == "Running"
    assert not handle.get()["spec"]["runPolicy"].get("suspend")
    handle.delete()


def test_following_logs_streams_lines_as_the_replica_prints_them(carol, tmp_path):
    go = tmp_path / "go"  # the test's signal to the process: print the second line now
    script = (
        "import os, time\nprint('epoch 1', flush=True)\n"
        "while not os.path.exists(os.environ['GO']):\n    time.sleep(0.1)\n"
        "print('epoch 2', flush=True)\ntime.sleep(600)\n"
    )
    handle = carol.client().submit(
        PyTorchJob(
            name=unique("follow"), command=["python", "-c", script], image=IMAGE, snapshot=None, env={"GO": str(go)}
        ),
        if_not_fits="queue",
    )
    wait_for(lambda: printed(handle, "master-0") == ["epoch 1"], timeout=120, what="the first line")
    received = []
    with handle.open_logs(follow=True) as stream:
        lines = iter(stream)
        received.append(next(lines))
        go.touch()
        received.append(next(lines))  # without asking again
    assert received == ["epoch 1", "epoch 2"]
    handle.delete()


@on_server_loop
async def test_through_rest(jp_fetch, carol, core_v1, project):
    """Submit, watch, logs, events, cancel, resubmit and delete over the REST API, every
    answer held to openapi.json, while the operator and the pod runner do the rest."""
    name = unique("rest")
    body = {
        "name": name,
        "command": ["python", "serve.py"],
        "replicas": 1,
        "gpus": 2,
        "gpu_type": "NVIDIA-RTX-A6000",
        "image": IMAGE,
        "snapshot": {"path": project},
        "if_not_fits": "queue",
    }
    code, created = await call(jp_fetch, "POST", "/jobs/pytorchjobs", "jobs", "pytorchjobs", body=body)
    assert code == 201, created
    assert created["name"] == name and created["namespace"] == carol.namespace

    code, stream = await call(
        jp_fetch, "GET", "/jobs/{kind}/{name}/watch", "jobs", "pytorchjobs", name, "watch", params={"timeout": "8"}
    )
    events = [json.loads(line[len("data: ") :]) for line in stream.splitlines() if line.startswith("data: ")]
    for event in events:
        jsonschema.validate(event, json_schema_of("WatchEvent"))
    assert events[0]["type"] == "ADDED"
    assert "Running" in [e["job"]["state"] for e in events]  # the operator's word, watched

    async def log() -> str:
        code, text = await call(
            jp_fetch,
            "GET",
            "/jobs/{kind}/{name}/logs",
            "jobs",
            "pytorchjobs",
            name,
            "logs",
            params={"part": "master-0"},
        )
        return text if code == 200 else ""

    for _ in range(100):
        if await log() == "hello from rest\nloss=0.1\n":
            break
        await asyncio.sleep(0.3)
    assert await log() == "hello from rest\nloss=0.1\n"
    code, listed = await call(jp_fetch, "GET", "/jobs/{kind}/{name}/events", "jobs", "pytorchjobs", name, "events")
    assert code == 200 and {"Scheduled", "SuccessfulCreatePod"} <= {e["reason"] for e in listed["events"]}

    code, cancelled = await call(jp_fetch, "POST", "/jobs/{kind}/{name}/cancel", "jobs", "pytorchjobs", name, "cancel")
    assert (code, cancelled["state"]) == (200, "Cancelled")
    await asyncio.to_thread(
        wait_for,
        lambda: not pods_of(core_v1, carol.namespace, name),
        60,
        0.2,
        "the operator to delete the cancelled job's pods",
    )
    code, again = await call(jp_fetch, "POST", "/jobs/{kind}/{name}/resubmit", "jobs", "pytorchjobs", name, "resubmit")
    assert code == 201 and again["name"] != name
    code, detail = await call(jp_fetch, "GET", "/jobs/{kind}/{name}", "jobs", "pytorchjobs", again["name"])
    assert detail["state"] != "Cancelled", "a resubmitted job starts afresh"

    for each in (name, again["name"]):
        code, _ = await call(jp_fetch, "DELETE", "/jobs/{kind}/{name}", "jobs", "pytorchjobs", each)
        assert code == 204
    code, gone = await call(jp_fetch, "GET", "/jobs/{kind}/{name}", "jobs", "pytorchjobs", name)
    assert (code, gone["error"]) == (404, "not-found")
