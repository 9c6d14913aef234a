"""%%mlops pytorchjob and the job-management subcommands, run in a real kernel against the real
control plane as alice.

The real Training Operator creates the replica pods and writes every status; the pod runner
(``training_jobs``, tests/jobs_support.py) runs each pod's command as a local process, so a cell
that prints and ends makes the job Succeed with that output in its logs, a cell that raises makes
it Fail within its backoff limit, and a cell that waits keeps it Running until it is cancelled.
"""

from __future__ import annotations

import base64
import io
import tarfile
import uuid

import pytest

from tests.magics.magics_kernel import start_notebook_kernel
from tests.mlops_testing import wait_for

pytestmark = pytest.mark.cluster
A100 = "NVIDIA-A100-SXM4-80GB"
OTHER_IMAGE = "registry.example.org/team/train:1.2"
CELL = "from models.net import build\nprint('training', build())\n"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def snapshot_files(controller, namespace: str, configmap: str) -> dict[str, str]:
    cm = controller.core.read_namespaced_config_map(configmap, namespace)
    data = base64.b64decode(cm.binary_data["snapshot.tar.gz"])
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        return {m.name: tar.extractfile(m).read().decode() for m in tar.getmembers()}


# Each replica says who it is, then keeps running (until the job is cancelled or deleted).
RANKED = """import os, time
if os.environ["RANK"] == "0":
    print("epoch 1 loss=0.5", flush=True)
else:
    print("worker up", flush=True)
    print("epoch 1 done", flush=True)
time.sleep(600)
"""


def waits_for(go) -> str:
    """A cell that runs until the test creates the file ``go``, then ends well."""
    return f"import os, time\nwhile not os.path.exists({str(go)!r}):\n    time.sleep(0.1)\nprint('done', flush=True)\n"


SUBMITTED = ("Pending", "Running")
"""What a job shows right after its submit: the real operator may have started it already."""


def shown_state(data: dict) -> str:
    """The state a job's display shows (its HTML's data-state)."""
    return data["text/html"].split("data-state='")[1].split("'")[0]


def controller_state(controller, namespace: str, name: str) -> str:
    """The job's state as the jobs API reads the operator's conditions."""
    from mlops_contract.jobs import PYTORCHJOB

    return PYTORCHJOB.controller_state(controller.get("pytorchjob", namespace, name))[0]


def logs_are(kernel, name: str, text: str, replica: str = "master-0") -> None:
    """Wait until the replica's process has printed ``text`` (its container may not have
    started yet: then %mlops logs prints nothing)."""
    wait_for(
        lambda: kernel.run(f"%mlops logs {name} --replica {replica}").stdout == text,
        timeout=120,
        what=f"{replica} of {name} to print {text!r}",
    )


def test_help_documents_every_subcommand(kernel):
    result = kernel.run("%mlops?")
    assert result.ok
    page = result.reply["payload"][0]["data"]["text/plain"]
    full = kernel.run("%mlops --help").stdout  # the same text, for those who try --help
    for name, example in (
        ("pytorchjob", "%%mlops pytorchjob --gpus 4 --workers 2"),
        ("sweep", "--param lr=loguniform(1e-4,1e-1) --param bs=choice(32,64)"),
        ("best", "%mlops best"),
        ("workflow", "%mlops workflow submit pipeline.py"),
        ("jobs", "%mlops jobs"),
        ("status", "%mlops status"),
        ("logs", "--replica worker-1"),
        ("cancel", "%mlops cancel"),
        ("delete", "%mlops delete"),
        ("resubmit", "%mlops resubmit"),
        ("gpus", "%mlops gpus"),
        ("ssh", "%mlops ssh"),
    ):
        assert f"\n{name} (" in page, f"{name} has no section in %mlops?"
        assert f"\n{name} (" in full
        assert example in page, f"{name}'s example is missing"
    for option in (
        "--gpu-type",
        "--workers",
        "--env",
        "--bg",
        "--objective",
        "--trials",
        "--parallel",
        "--algorithm",
        "--trial",
        "--step",
        "-o VAR",
    ):
        assert option in page
    assert 'print(f"accuracy={accuracy}")' in page  # how a sweep cell reports its metric
    bare = kernel.run("%mlops")
    assert "pytorchjob Run the cell as a PyTorchJob" in bare.stdout
    one = kernel.run("%mlops logs --help")
    assert one.ok and "%mlops logs [-f] [--replica REPLICA]" in one.stdout
    assert "--trial TRIAL" in one.stdout and "sweep (cell only)" not in one.stdout


def test_pytorchjob_cell_follows_the_job_in_place(kernel, alice, controller, training_jobs, workdir):
    name = unique("ddp")
    result = kernel.run(
        # "A100": a short name for the one A100 type of the fleet, as users write it.
        f"%%mlops pytorchjob --gpus 1 --workers 2 --gpu-type A100 "
        f"--name {name} --env NCCL_DEBUG=INFO --exclude notes/ --queue "
        f"-o job\n{CELL}",
        timeout=180,
    )
    assert result.ok, result.outputs

    displays = result.displays()
    assert displays[0][0] == "display_data"
    display_id = displays[0][1]
    assert display_id and all(d[1] == display_id for d in displays), "one display, updated"
    assert any(kind == "update_display_data" for kind, _, _ in displays)
    states = [shown_state(data) for _, _, data in displays]
    # The first display shows the job as just submitted (the operator may have started it).
    assert states[0] in SUBMITTED and states[-1] == "Succeeded"
    final = displays[-1][2]
    assert final["text/plain"].startswith(f"pytorchjob {name}: Succeeded · 2 replicas")
    assert "master-0" in final["text/html"] and "worker-0" in final["text/html"]

    # The job is the cell: python itself in each of 2 pods of 1 A100 (one process per pod
    # needs no torchrun), the cell shipped with the directory.
    obj = controller.get("pytorchjob", alice.namespace, name)
    replicas = obj["spec"]["pytorchReplicaSpecs"]
    assert replicas["Master"]["replicas"] == 1 and replicas["Worker"]["replicas"] == 1
    pod = replicas["Worker"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": A100}
    assert {"name": "NCCL_DEBUG", "value": "INFO"} in container["env"]
    assert container["command"][-2] == "python"
    script = container["command"][-1]
    files = snapshot_files(controller, alice.namespace, obj["metadata"]["annotations"]["jupyterhub-mlops/snapshot"])
    assert files[script] == CELL
    assert "models/net.py" in files
    assert "data/huge.bin" not in files and "notes/draft.md" not in files  # .gitignore, --exclude
    # What the cell printed in the master's pod, read back through the API.
    assert kernel.run(f"%mlops logs {name}").stdout == "training net\n"

    # -o stored a handle of the whole jobs API, which renders as its status.
    assert kernel.value("type(job).__mro__[1].__name__, job.name, job.status()['state']") == (
        "JobHandle",
        name,
        "Succeeded",
    )
    shown = kernel.run("job")
    assert f"pytorchjob {name}: Succeeded" in shown.text and "data-state='Succeeded'" in shown.html
    assert kernel.run(f"%mlops delete {name}").stdout == f"Deleted pytorchjob {name}.\n"


def test_background_job_managed_by_name(kernel, alice, controller, training_jobs):
    name = unique("bg")
    submitted = kernel.run(f"%%mlops pytorchjob --workers 2 --name {name} --image {OTHER_IMAGE} --bg -o job\n{RANKED}")
    assert submitted.ok, submitted.outputs
    (only,) = submitted.displays()  # shown once, then the cell returns
    assert shown_state(only[2]) in SUBMITTED
    obj = controller.get("pytorchjob", alice.namespace, name)
    for replica in obj["spec"]["pytorchReplicaSpecs"].values():  # --image, not the notebook's
        assert replica["template"]["spec"]["containers"][0]["image"] == OTHER_IMAGE
    logs_are(kernel, name, "epoch 1 loss=0.5\n")
    logs_are(kernel, name, "worker up\nepoch 1 done\n", replica="worker-0")
    wait_for(lambda: kernel.value("job.state()") == "Running", timeout=60, what="the operator to mark the job Running")

    listed = kernel.run("%mlops jobs")
    row = next(line.split() for line in listed.text.splitlines() if name in line)
    assert row[:3] == ["pytorchjob", name, "Running"]
    assert f"<td style='text-align:left'>{name}</td>" in listed.html

    status = kernel.run(f"%mlops status {name} -o found")
    assert status.text.startswith(f"pytorchjob {name}: Running · 2 replicas: 2 Running")
    assert kernel.value("found.name, found.state()") == (name, "Running")
    assert kernel.run(f"%mlops logs {name}").stdout == "epoch 1 loss=0.5\n"
    worker = kernel.run(f"%mlops logs {name} --replica worker-0")
    assert worker.stdout == "worker up\nepoch 1 done\n"
    assert kernel.run(f"%mlops logs {name} --replica worker-0 --tail 1").stdout == "epoch 1 done\n"

    assert kernel.run(f"%mlops cancel {name}").stdout == f"pytorchjob {name}: Cancelled\n"
    assert controller.get("pytorchjob", alice.namespace, name)["spec"]["runPolicy"]["suspend"]
    # The operator deletes the suspended job's pods and says so.
    wait_for(
        lambda: (
            not controller.core.list_namespaced_pod(
                alice.namespace, label_selector=f"training.kubeflow.org/job-name={name}"
            ).items
        ),
        timeout=60,
        what="the operator to delete the cancelled job's pods",
    )
    assert kernel.run(f"%mlops status {name}").text.startswith(f"pytorchjob {name}: Cancelled")

    again = kernel.run(f"%mlops resubmit {name} --bg -o again")
    assert again.ok, again.outputs
    new_name = kernel.value("again.name")
    assert new_name != name and new_name.startswith(name)
    assert shown_state(again.displays()[0][2]) in SUBMITTED
    assert (
        controller.get("pytorchjob", alice.namespace, new_name)["spec"]["pytorchReplicaSpecs"]
        == obj["spec"]["pytorchReplicaSpecs"]
    )

    for each in (name, new_name):
        assert kernel.run(f"%mlops delete {each}").ok
    gone = kernel.run(f"%mlops status {name}")
    assert gone.stderr.strip() == (
        f"UsageError: No job named {name!r} in namespace {alice.namespace!r}; %mlops jobs lists yours."
    )


def test_background_job_updates_its_output_in_place(kernel, alice, controller, training_jobs, tmp_path):
    """--bg returns at once; the cell's output then follows the job (update_display_data)."""
    name = unique("bgup")
    go = tmp_path / "go"
    msg_id = kernel.start(f"%%mlops pytorchjob --name {name} --bg -o job\n{waits_for(go)}")
    submitted = kernel.collect(msg_id)
    assert submitted.ok, submitted.outputs
    ((kind, display_id, data),) = submitted.displays()
    assert kind == "display_data" and display_id
    assert shown_state(data) in SUBMITTED

    def shows(updates, state):
        return any(f"data-state='{state}'" in u["data"]["text/html"] for u in updates)

    # The operator marks the job Running once its pod runs the cell; the cell then ends
    # well when told to, and the operator marks the job Succeeded.
    wait_for(
        lambda: controller_state(controller, alice.namespace, name) == "Running",
        timeout=120,
        what="the operator to mark the job Running",
    )
    go.touch()
    updates = kernel.display_updates(display_id, lambda u: shows(u, "Succeeded"), timeout=120)
    seen = [shown_state(data)] + [shown_state(u["data"]) for u in updates]
    assert "Running" in seen and seen[-1] == "Succeeded", seen
    final = updates[-1]
    assert final["data"]["text/plain"].startswith(f"pytorchjob {name}: Succeeded")
    assert final["parent_msg_id"] == msg_id, "the update belongs to the submitting cell"
    # Once the job has finished nothing is left watching it.
    follower = f"mlops-follow-pytorchjob-{name}"
    followers = "[t.name for t in __import__('threading').enumerate()]"
    wait_for(lambda: follower not in kernel.value(followers), timeout=30, what="its follower to end")
    assert kernel.run(f"%mlops delete {name}").ok


def test_background_followers_are_bounded(kernel, alice, controller):
    """Each follower holds a watch; past MlopsMagics.background_followers the output says
    it will not update, and nothing follows the job."""
    name = unique("nofollow")
    kernel.run("%config MlopsMagics.background_followers = 0")
    try:
        submitted = kernel.run(f"%%mlops pytorchjob --name {name} --bg\n{CELL}")
    finally:
        kernel.run("%config MlopsMagics.background_followers = 8")
    assert submitted.ok, submitted.outputs
    ((_, _, data),) = submitted.displays()
    assert data["text/plain"].startswith(f"pytorchjob {name}: ")
    assert shown_state(data) in SUBMITTED
    assert (
        "This output does not update: 0 jobs are followed already "
        f"(MlopsMagics.background_followers); %mlops status {name} shows it now."
    ) in data["text/plain"]
    threads = kernel.value("[t.name for t in __import__('threading').enumerate()]")
    assert f"mlops-follow-pytorchjob-{name}" not in threads
    assert kernel.run(f"%mlops delete {name}").ok


def test_another_user_cannot_reach_alices_job(kernel, alice, bob, workdir, hub_availability):
    name = unique("private")
    assert kernel.run(f"%%mlops pytorchjob --name {name} --bg\n{CELL}").ok
    bobs = start_notebook_kernel(bob, workdir, hub_availability)
    try:
        # bob's own namespace has no such job...
        mine = bobs.run(f"%mlops status {name}")
        assert mine.stderr.startswith(f"UsageError: No job named {name!r}")
        # ...and pointing his client at alice's namespace is refused by the API server's RBAC.
        theirs = bobs.run(
            f"import os; os.environ['MLOPS_NAMESPACE'] = {alice.namespace!r}\n"
            "from jupyter_mlops.jobs import set_default_client; "
            "set_default_client(None)\n"
            f"%mlops delete {name}"
        )
        assert theirs.stderr.startswith(
            "UsageError: Permission denied: your service account may not get pytorchjobs.kubeflow.org in namespace"
        )
        assert len(theirs.stderr.strip().splitlines()) == 1
    finally:
        bobs.shutdown()
    assert kernel.run(f"%mlops delete {name}").ok


def test_following_logs_and_status_until_interrupted(kernel, alice, controller, training_jobs):
    name = unique("follow")
    cell = "import time\nprint('step 1')\nprint('step 2', flush=True)\ntime.sleep(600)\n"
    assert kernel.run(f"%%mlops pytorchjob --name {name} --bg\n{cell}").ok
    logs_are(kernel, name, "step 1\nstep 2\n")

    # logs -f streams until the user stops it (the stop button interrupts the kernel).
    msg_id = kernel.start(f"%mlops logs {name} -f")
    lines = kernel.collect(msg_id, until=lambda r: r.stdout == "step 1\nstep 2\n")
    kernel.interrupt()
    done = kernel.collect(msg_id, result=lines)
    assert done.ok and done.stdout == "step 1\nstep 2\n(stopped following)\n"

    # status --watch follows the job in place until interrupted; the job keeps running.
    msg_id = kernel.start(f"%mlops status {name} --watch")
    shown = kernel.collect(msg_id, until=lambda r: r.displays())
    kernel.interrupt()
    done = kernel.collect(msg_id, result=shown)
    assert done.ok
    assert done.displays()[0][2]["text/plain"].startswith(f"pytorchjob {name}: Running")
    assert done.stdout == (f"Stopped watching; pytorchjob {name} keeps running (%mlops status {name}).\n")
    assert controller.get("pytorchjob", alice.namespace, name)
    assert kernel.run(f"%mlops delete {name}").ok


def test_followed_job_that_fails_shows_why(kernel, alice, training_jobs):
    """The cell raises in every start of its replica (restarted in place, OnFailure); the
    operator counts the restarts against the backoff limit and fails the job, saying why."""
    name = unique("fails")
    result = kernel.run(
        f"%%mlops pytorchjob --name {name}\nraise ValueError('learning rate must be > 0')\n",
        timeout=180,
    )
    assert result.ok, result.outputs
    last = result.displays()[-1][2]
    assert last["text/plain"].startswith(f"pytorchjob {name}: Failed")
    assert "has failed because it has reached the specified backoff limit" in last["text/plain"].splitlines()[0]
    assert "data-state='Failed'" in last["text/html"]
    assert kernel.run(f"%mlops delete {name}").ok
