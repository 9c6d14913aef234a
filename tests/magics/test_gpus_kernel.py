"""%mlops gpus and the hub's per-user GPU cap, in a real kernel, against the hub's REAL
availability service (a JupyterHub with its proxy running it, tests/hub_availability.py),
asked with alice's own JupyterHub token as her notebook pod asks it.

The hub counts a user's GPUs from pods labelled ``jupyterhub-mlops/user`` (what
GPUKubeSpawner puts on notebook pods); a test creates such a pod to make alice hold GPUs.
"""

from __future__ import annotations

import uuid

import pytest

from tests.hub_availability import USER_GPU_CAP
from tests.jobs_support import IMAGE
from tests.magics.magics_checks import assert_one_line, cell, job_names
from tests.mlops_testing import wait_for

pytestmark = pytest.mark.cluster
A100 = "NVIDIA-A100-SXM4-80GB"
RTX = "NVIDIA-RTX-A6000"


def table(text: str) -> dict[str, list[str]]:
    """Rows of %mlops gpus's text table by GPU type (after the title, header and rule)."""
    return {line.split()[0]: line.split()[1:] for line in text.splitlines()[3:] if line.strip()}


def test_gpus_table_from_the_hubs_availability_service(kernel):
    result = kernel.run("%mlops gpus")
    assert result.ok, result.outputs
    assert result.text.splitlines()[1].split()[:3] == ["GPU", "type", "free"]
    rows = table(result.text)
    # The local fleet (cluster/fleet.yaml): 2 x 8 A100, 2 x 4 RTX A6000, a cordoned node of 4
    # V100 (total 0, 4 unavailable) and a MIG node whose slices are types of their own.
    assert rows[A100][1] == "16"
    assert rows[RTX][1] == "8"
    assert rows["Tesla-V100-SXM2-32GB"][:2] == ["0", "0"]
    assert rows["Tesla-V100-SXM2-32GB"][-1] == "4"
    assert rows[f"{A100}/mig-1g.10gb"][1] == "14"
    assert result.text.splitlines()[-1] == f"You hold 0 GPUs of your cap of {USER_GPU_CAP}."
    assert "<th style='text-align:left'>largest free on one node</th>" in result.html
    assert f"<td style='text-align:left'>{A100}/mig-3g.40gb</td>" in result.html


def test_gpus_without_the_availability_api(kernel):
    result = kernel.run(
        "import os; from jupyter_mlops.jobs import set_default_client\n"
        "saved = os.environ.pop('MLOPS_AVAILABILITY_URL')\n"
        "set_default_client(None)\n"
        "%mlops gpus"
    )
    kernel.run("os.environ['MLOPS_AVAILABILITY_URL'] = saved; set_default_client(None)")
    assert_one_line(result, "The hub's GPU availability API is not configured for this server")


def test_the_hub_refuses_a_token_that_is_not_a_users(kernel):
    result = kernel.run(
        "import os; from jupyter_mlops.jobs import set_default_client\n"
        "saved = os.environ['JUPYTERHUB_API_TOKEN']\n"
        "os.environ['JUPYTERHUB_API_TOKEN'] = 'not-a-token'\n"
        "set_default_client(None)\n"
        "%mlops gpus"
    )
    kernel.run("os.environ['JUPYTERHUB_API_TOKEN'] = saved; set_default_client(None)")
    assert_one_line(
        result,
        "The hub refused this server's JupyterHub token for GPU availability: This JupyterHub "
        "token is not valid, or lacks the scope access:services!service=gpu-availability.",
    )
    assert kernel.run("%mlops gpus").ok, "alice's own token is back"


def notebook_pod(user: str, gpus: int) -> dict:
    """A pod as GPUKubeSpawner makes a notebook server: labelled with its owner."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"jupyter-{user}-{uuid.uuid4().hex[:6]}",
            "labels": {
                "component": "singleuser-server",
                "hub.jupyter.org/username": user,
                "jupyterhub-mlops/user": user,
            },
        },
        "spec": {
            "nodeSelector": {"nvidia.com/gpu.product": RTX},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}],
            "containers": [
                {"name": "notebook", "image": IMAGE, "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}
            ],
        },
    }


def held(hub, user: str) -> int:
    return hub.snapshot(user)["user"]["held_gpus"]


def test_a_job_over_the_gpu_cap_prints_one_line_and_creates_nothing(
    kernel, alice, controller, core_v1, hub_availability
):
    """The cap counts what the hub says alice holds: a 16-GPU job fits her cap of 16
    while she holds nothing, and is refused while her notebook server holds 4."""
    job = f"%%mlops pytorchjob --gpus 8 --workers 2 --gpu-type {A100} --queue --bg"
    server = notebook_pod("alice", 4)
    core_v1.create_namespaced_pod(alice.namespace, server)
    name = server["metadata"]["name"]
    try:
        wait_for(lambda: held(hub_availability, "alice") == 4, timeout=60, what="the hub to count alice's 4 GPUs")
        assert held(hub_availability, "bob") == 0, "the answer is per user"
        shown = kernel.run("%mlops gpus")
        assert shown.text.splitlines()[-1] == f"You hold 4 GPUs of your cap of {USER_GPU_CAP}."

        before = job_names(controller, alice.namespace)
        refused = kernel.run(cell(job))
        assert_one_line(
            refused,
            f"Over your GPU cap: you hold 4 GPUs, this job needs 16 more, and your limit is "
            f"{USER_GPU_CAP}. Ask for fewer GPUs, or stop a server or job that holds some.",
        )
        assert job_names(controller, alice.namespace) == before
    finally:
        core_v1.delete_namespaced_pod(name, alice.namespace, grace_period_seconds=0)
    wait_for(lambda: held(hub_availability, "alice") == 0, timeout=60, what="the hub to see alice's server gone")
    accepted = kernel.run(cell(job + " -o capped"))
    assert accepted.ok, accepted.outputs
    assert kernel.run("%mlops delete {capped.name}").ok


def test_gpus_a_running_job_holds_count_against_the_cap(kernel, alice, training_jobs, hub_availability):
    """GPUKubeSpawner hands the notebook its owner label (``MLOPS_OWNER_LABEL``) and the jobs
    API puts it on every job pod, so the hub counts a running job's GPUs as alice's too."""
    kernel.run(
        "import os; from jupyter_mlops.jobs import set_default_client\n"
        "os.environ['MLOPS_OWNER_LABEL'] = 'jupyterhub-mlops/user=alice'\n"
        "set_default_client(None)"
    )  # the client reads the environment once, when built
    name = f"held-{uuid.uuid4().hex[:6]}"
    try:
        # The Training Operator creates the four replica pods (one GPU each) from the job's
        # template, keeping its labels; their processes run until the job is deleted.
        submitted = kernel.run(
            f"%%mlops pytorchjob --gpus 1 --workers 4 --gpu-type {RTX} "
            f"--name {name} --bg\nimport time\ntime.sleep(600)\n"
        )
        assert submitted.ok, submitted.outputs
        wait_for(
            lambda: held(hub_availability, "alice") == 4,
            timeout=60,
            what="the hub to count the 4 GPUs of alice's running job",
        )
        assert held(hub_availability, "bob") == 0
        refused = kernel.run(cell(f"%%mlops pytorchjob --gpus 8 --workers 2 --gpu-type {A100} --queue --bg"))
        assert_one_line(
            refused,
            f"Over your GPU cap: you hold 4 GPUs, this job needs 16 more, and your limit is "
            f"{USER_GPU_CAP}. Ask for fewer GPUs, or stop a server or job that holds some.",
        )
    finally:
        # The pods go with their job (ownerReferences).
        kernel.run(f"os.environ.pop('MLOPS_OWNER_LABEL', None); set_default_client(None)\n%mlops delete {name}")
    wait_for(lambda: held(hub_availability, "alice") == 0, timeout=60, what="the hub to see alice's job pods gone")
