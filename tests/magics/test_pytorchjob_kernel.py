"""%%mlops pytorchjob and the job-management subcommands, run in a real kernel against the real
control plane as alice.

No Training Operator runs: ``controller`` (tests/jobs_support.py) creates the replica pods and
writes the PyTorchJob's status through the status subresource, as the operator would, and serves
the pods' logs as a kubelet would.
"""

from __future__ import annotations

import base64
import io
import tarfile
import threading
import uuid

import pytest
from magics_kernel import start_notebook_kernel
from mlops_testing import wait_for

pytest_plugins = ("magics_fixtures",)  # the notebook kernel fixtures

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


def run_replicas(controller, namespace: str, obj: dict, logs: dict[str, list[str]]) -> None:
    """The operator's part: one pod per replica with its labels, then the Running condition."""
    name = obj["metadata"]["name"]
    for replica, spec in obj["spec"]["pytorchReplicaSpecs"].items():
        for index in range(spec["replicas"]):
            part = f"{replica.lower()}-{index}"
            controller.run_pod(
                namespace,
                f"{name}-{part}",
                spec["template"]["spec"],
                owner=obj,
                labels={
                    "training.kubeflow.org/job-name": name,
                    "training.kubeflow.org/replica-type": replica.lower(),
                    "training.kubeflow.org/replica-index": str(index),
                },
                log_lines=logs.get(part, []),
            )
    controller.write_status(
        "pytorchjob",
        namespace,
        name,
        {
            "conditions": [
                {"type": "Created", "status": "True", "reason": "PyTorchJobCreated"},
                {"type": "Running", "status": "True", "reason": "PyTorchJobRunning"},
            ]
        },
    )


def finish(controller, namespace: str, name: str, final: str = "Succeeded") -> None:
    controller.write_status(
        "pytorchjob",
        namespace,
        name,
        {
            "conditions": [
                {"type": "Created", "status": "True"},
                {"type": "Running", "status": "False"},
                {"type": final, "status": "True", "reason": f"PyTorchJob{final}"},
            ]
        },
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


def test_pytorchjob_cell_follows_the_job_in_place(kernel, alice, controller, workdir):
    name = unique("ddp")
    msg_id = kernel.start(
        # "A100": a short name for the one A100 type of the fleet, as users write it.
        f"%%mlops pytorchjob --gpus 4 --workers 2 --gpu-type A100 "
        f"--name {name} --env NCCL_DEBUG=INFO --exclude notes/ --queue "
        f"-o job\n{CELL}"
    )

    def operator():
        obj = wait_for(
            lambda: _get(controller, alice.namespace, name), timeout=60, what="the PyTorchJob"
        )
        run_replicas(controller, alice.namespace, obj, {})
        finish(controller, alice.namespace, name)

    thread = threading.Thread(target=operator)
    thread.start()
    result = kernel.collect(msg_id, timeout=120)
    thread.join()
    assert result.ok, result.outputs

    displays = result.displays()
    assert displays[0][0] == "display_data"
    display_id = displays[0][1]
    assert display_id and all(d[1] == display_id for d in displays), "one display, updated"
    assert any(kind == "update_display_data" for kind, _, _ in displays)
    states = [data["text/html"].split("data-state='")[1].split("'")[0] for _, _, data in displays]
    assert states[0] == "Pending" and states[-1] == "Succeeded"
    final = displays[-1][2]
    assert final["text/plain"].startswith(f"pytorchjob {name}: Succeeded · 2 replicas")
    assert "master-0" in final["text/html"] and "worker-0" in final["text/html"]

    # The job is the cell: torchrun over 2 pods of 4 A100s, the cell shipped with the directory.
    obj = controller.get("pytorchjob", alice.namespace, name)
    replicas = obj["spec"]["pytorchReplicaSpecs"]
    assert replicas["Master"]["replicas"] == 1 and replicas["Worker"]["replicas"] == 1
    pod = replicas["Worker"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == "4"
    assert pod["nodeSelector"] == {"nvidia.com/gpu.product": A100}
    assert {"name": "NCCL_DEBUG", "value": "INFO"} in container["env"]
    shell = container["command"][-1]
    assert shell.startswith("exec torchrun --nnodes=2 --nproc-per-node=4 ")
    script = shell.split()[-1]
    files = snapshot_files(
        controller, alice.namespace, obj["metadata"]["annotations"]["jupyterhub-mlops/snapshot"]
    )
    assert files[script] == CELL
    assert "models/net.py" in files
    assert "data/huge.bin" not in files and "notes/draft.md" not in files  # .gitignore, --exclude

    # -o stored a handle of the whole jobs API, which renders as its status.
    assert kernel.value("type(job).__mro__[1].__name__, job.name, job.status()['state']") == (
        "JobHandle",
        name,
        "Succeeded",
    )
    shown = kernel.run("job")
    assert f"pytorchjob {name}: Succeeded" in shown.text and "data-state='Succeeded'" in shown.html
    assert kernel.run(f"%mlops delete {name}").stdout == f"Deleted pytorchjob {name}.\n"


def test_background_job_managed_by_name(kernel, alice, controller):
    name = unique("bg")
    submitted = kernel.run(
        f"%%mlops pytorchjob --workers 2 --name {name} --image {OTHER_IMAGE} --bg -o job\n{CELL}"
    )
    assert submitted.ok, submitted.outputs
    (only,) = submitted.displays()  # shown once, then the cell returns
    assert only[2]["text/plain"].startswith(f"pytorchjob {name}: Pending")
    obj = controller.get("pytorchjob", alice.namespace, name)
    for replica in obj["spec"]["pytorchReplicaSpecs"].values():  # --image, not the notebook's
        assert replica["template"]["spec"]["containers"][0]["image"] == OTHER_IMAGE
    run_replicas(
        controller,
        alice.namespace,
        obj,
        {"master-0": ["epoch 1 loss=0.5"], "worker-0": ["worker up", "epoch 1 done"]},
    )

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

    again = kernel.run(f"%mlops resubmit {name} --bg -o again")
    assert again.ok, again.outputs
    new_name = kernel.value("again.name")
    assert new_name != name and new_name.startswith(name)
    assert "Pending" in again.text
    assert (
        controller.get("pytorchjob", alice.namespace, new_name)["spec"]["pytorchReplicaSpecs"]
        == obj["spec"]["pytorchReplicaSpecs"]
    )

    for each in (name, new_name):
        assert kernel.run(f"%mlops delete {each}").ok
    gone = kernel.run(f"%mlops status {name}")
    assert gone.stderr.strip() == (
        f"UsageError: No job named {name!r} in namespace "
        f"{alice.namespace!r}; %mlops jobs lists yours."
    )


def test_background_job_updates_its_output_in_place(kernel, alice, controller):
    """--bg returns at once; the cell's output then follows the job (update_display_data)."""
    name = unique("bgup")
    msg_id = kernel.start(f"%%mlops pytorchjob --name {name} --bg -o job\n{CELL}")
    submitted = kernel.collect(msg_id)
    assert submitted.ok, submitted.outputs
    ((kind, display_id, data),) = submitted.displays()
    assert kind == "display_data" and display_id
    assert data["text/plain"].startswith(f"pytorchjob {name}: Pending")

    def shows(updates, state):
        return any(f"data-state='{state}'" in u["data"]["text/html"] for u in updates)

    # The Training Operator's part, played here: Running through the status subresource.
    controller.write_status(
        "pytorchjob",
        alice.namespace,
        name,
        {"conditions": [{"type": "Created", "status": "True"},
                        {"type": "Running", "status": "True", "reason": "PyTorchJobRunning"}]},
    )
    updates = kernel.display_updates(display_id, lambda u: shows(u, "Running"))
    running = next(u for u in updates if shows([u], "Running"))
    assert running["data"]["text/plain"].startswith(f"pytorchjob {name}: Running")
    assert running["parent_msg_id"] == msg_id, "the update belongs to the submitting cell"

    finish(controller, alice.namespace, name)  # the operator again, through /status
    final = kernel.display_updates(display_id, lambda u: shows(u, "Succeeded"))[-1]
    assert final["data"]["text/plain"].startswith(f"pytorchjob {name}: Succeeded")
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
    assert data["text/plain"].startswith(f"pytorchjob {name}: Pending")
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
            "UsageError: Permission denied: your service account "
            "may not get pytorchjobs.kubeflow.org in namespace"
        )
        assert len(theirs.stderr.strip().splitlines()) == 1
    finally:
        bobs.shutdown()
    assert kernel.run(f"%mlops delete {name}").ok


def _get(controller, namespace: str, name: str):
    import kubernetes

    try:
        return controller.get("pytorchjob", namespace, name)
    except kubernetes.client.ApiException as exc:
        if exc.status == 404:
            return None
        raise


def test_following_logs_and_status_until_interrupted(kernel, alice, controller):
    name = unique("follow")
    assert kernel.run(f"%%mlops pytorchjob --name {name} --bg\n{CELL}").ok
    obj = controller.get("pytorchjob", alice.namespace, name)
    run_replicas(controller, alice.namespace, obj, {"master-0": ["step 1", "step 2"]})

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
    assert done.stdout == (
        f"Stopped watching; pytorchjob {name} keeps running (%mlops status {name}).\n"
    )
    assert controller.get("pytorchjob", alice.namespace, name)
    assert kernel.run(f"%mlops delete {name}").ok


def test_followed_job_that_fails_shows_why(kernel, alice, controller):
    name = unique("fails")
    msg_id = kernel.start(f"%%mlops pytorchjob --name {name}\n{CELL}")
    wait_for(lambda: _get(controller, alice.namespace, name), timeout=60, what="the PyTorchJob")
    controller.write_status(
        "pytorchjob",
        alice.namespace,
        name,
        {
            "conditions": [
                {"type": "Created", "status": "True"},
                {
                    "type": "Failed",
                    "status": "True",
                    "reason": "PyTorchJobFailed",
                    "message": "PyTorchJob fails-x is failed because 1 Master replica(s) failed.",
                },
            ]
        },
    )
    result = kernel.collect(msg_id)
    assert result.ok, result.outputs
    last = result.displays()[-1][2]
    assert last["text/plain"].startswith(f"pytorchjob {name}: Failed")
    assert "because 1 Master replica(s) failed." in last["text/plain"].splitlines()[0]
    assert "data-state='Failed'" in last["text/html"]
    assert kernel.run(f"%mlops delete {name}").ok
