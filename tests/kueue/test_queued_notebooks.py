"""Notebooks wait in Kueue's line: a real hub with GpuProfiles.queue_with_kueue on the real Kueue.

Group lab-a has a quota of 4 A100 GPUs. Four of its members' one-GPU notebooks run;
the fifth waits in line, its place and Kueue's reason shown live on the hub's own
spawn progress page in Chromium, and starts by itself when one of the four stops. A
sixth chooses a taken A100 on the spawn page, lands in line, and leaves it with the
page's Cancel: nothing of it is left in the cluster.

Everything is real but the kubelet: the hub and its proxy, the availability
service (which applies the suite's Kueue objects from the quota), KubeSpawner
making pods in provisioned namespaces with their LocalQueues, Kueue gating and
admitting them, the scheduler binding them to KWOK nodes. The pod runner runs each
notebook pod's command; the command is a plain HTTP server on the pod's IP, since
what is under test is the line, not the notebook (JupyterHub takes any answer from
the server's address as "up").
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from pathlib import Path

import kubernetes
import pytest
from jupyterhub_mlops.queues import KUEUE_API
from mlops_cluster.pod_runner import INHERITED_ENV, PodRunner
from mlops_contract.namespaces import user_namespace
from mlops_contract.queueing import ADMISSION_GATE, cluster_queue_name

from tests.browser import ARTIFACTS, chromium_context
from tests.mlops_testing import create_namespace, wait_for
from tests.spawner.gpu_hub import PASSWORD, Hub

pytestmark = [pytest.mark.cluster, pytest.mark.browser]

A100 = "NVIDIA-A100-SXM4-80GB"
GROUP = "lab-a"
MEMBERS = [f"qa{i}" for i in range(1, 7)]
PREFIX = "mlops-q-"

EXTRA_CONFIG = f"""
from mlops_cluster.pod_command import RUN_LOCALLY_ANNOTATION
c.JupyterHub.load_groups = {{"{GROUP}": {{"users": {MEMBERS!r}}}}}
c.GPUKubeSpawner.provision_user_namespaces = True
c.GPUKubeSpawner.enable_user_namespaces = True
c.GPUKubeSpawner.user_namespace_prefix = "{PREFIX}"
c.GPUKubeSpawner.user_network_policies = False
c.GpuProfiles.queue_with_kueue = True
c.GpuProfiles.profiles = []
c.GpuProfiles.auto_profile_sizes = [1]
c.GpuProfiles.group_member_gpu_caps = {{}}
c.GpuProfiles.group_gpu_quotas = {{"{GROUP}": {{"{A100}": 4}}}}
c.GPUKubeSpawner.queue_poll_interval = 1
c.KubeSpawner.start_timeout = 120
c.KubeSpawner.extra_annotations = {{RUN_LOCALLY_ANNOTATION: "true"}}
c.KubeSpawner.environment = {{"POD_IP": {{"valueFrom": {{"fieldRef": {{"fieldPath": "status.podIP"}}}}}}}}
# The server of this test: answers on the pod's IP (KubeSpawner's own arguments are ignored).
c.KubeSpawner.cmd = ["sh", "-c", 'exec "{sys.executable}" -m http.server 8888 --bind "$POD_IP"', "server"]
"""


@pytest.fixture(scope="module")
def pod_runner(kueue_cluster, tmp_path_factory):
    folder = tmp_path_factory.mktemp("queued-notebooks")
    env = {key: os.environ[key] for key in INHERITED_ENV if key in os.environ}
    env["PATH"] = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    runner = PodRunner(
        kueue_cluster.api_client("admin"),
        home_base=folder / "homes",
        log_dir=folder / "logs",
        base_env=env,
        **kueue_cluster.pod_runner_options(),
    ).start()
    yield runner
    runner.stop()


@pytest.fixture(scope="module")
def hub(kueue_cluster, kueue_core_v1, kueue_custom, pod_runner, tmp_path_factory):
    release = create_namespace(kueue_core_v1, f"q-hub-{int(time.time()) % 100000}")
    h = Hub(tmp_path_factory.mktemp("hub"), kueue_cluster, release, extra_config=EXTRA_CONFIG).start()
    yield h
    for user in MEMBERS:
        h.api("DELETE", f"/users/{user}/server")
    h.stop()
    # The queues the availability service made would lend their GPUs to the other Kueue
    # tests' groups in the same cohort: gone with the users' namespaces.
    for user in MEMBERS:
        with contextlib.suppress(kubernetes.client.ApiException):
            kueue_core_v1.delete_namespace(user_namespace(user, PREFIX))
    group, version = KUEUE_API.split("/")
    kueue_custom.delete_collection_cluster_custom_object(
        group, version, "clusterqueues", label_selector="app.kubernetes.io/managed-by=jupyterhub-mlops"
    )
    wait_for(
        lambda: (
            not any(
                q["metadata"]["name"].startswith("jupyterhub-mlops-")
                for q in kueue_custom.list_cluster_custom_object(group, version, "clusterqueues")["items"]
            )
        ),
        timeout=120,
        what="the hub's ClusterQueues gone",
    )


def a100_slug(hub) -> str:
    rows = hub.view_of("qa1", (GROUP,))["profiles"]
    return next(r["slug"] for r in rows if r["gpu_type"] == A100 and r["gpus"] == 1)


def server(hub, user: str) -> dict:
    return (hub.api("GET", f"/users/{user}").json().get("servers") or {}).get("", {})


def notebook_pod(core, user: str):
    pods = core.list_namespaced_pod(user_namespace(user, PREFIX), label_selector="component=singleuser-server").items
    return pods[0] if pods else None


def workloads(custom, user: str) -> list[dict]:
    group, version = KUEUE_API.split("/")
    return custom.list_namespaced_custom_object(group, version, user_namespace(user, PREFIX), "workloads")["items"]


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"queued-notebook-{name}.png"), full_page=True)


def log_in(page, hub, user: str) -> None:
    page.goto(f"{hub.url}/hub/login")
    page.fill("input[name=username]", user)
    page.fill("input[name=password]", PASSWORD)
    page.click("input[type=submit], button[type=submit]")
    page.wait_for_url(re.compile(r"/hub/"))


def test_the_fifth_notebook_waits_in_line_on_the_progress_page_and_starts_when_one_stops(
    hub, kueue_core_v1, kueue_custom, tmp_path
):
    slug = a100_slug(hub)
    # The availability service made the suite's queues from the quota: lab-a holds 4 A100s.
    group, version = KUEUE_API.split("/")
    queue = kueue_custom.get_cluster_custom_object(group, version, "clusterqueues", cluster_queue_name(GROUP))
    (flavors,) = [g["flavors"] for g in queue["spec"]["resourceGroups"]]
    assert [str(f["resources"][0]["nominalQuota"]) for f in flavors if "a100" in f["name"]] == ["4"]

    for user in MEMBERS[:4]:
        assert hub.api("POST", f"/users/{user}/server", json={"profile": slug}).status_code in (201, 202)
    wait_for(lambda: all(server(hub, u).get("ready") for u in MEMBERS[:4]), timeout=240, what="four notebooks up")

    # Without asking to wait, the fifth is refused as before: the quota is held.
    refused = hub.api("POST", "/users/qa5/server", json={"profile": slug})
    assert refused.status_code == 403 and "lab-a" in refused.json()["message"]
    assert notebook_pod(kueue_core_v1, "qa5") is None
    # Asking to wait, it is queued: a pod Kueue holds at its gate, no GPU taken.
    queued = hub.api("POST", "/users/qa5/server", json={"profile": slug, "queue": True})
    assert queued.status_code in (201, 202) and server(hub, "qa5").get("pending") == "spawn"
    wait_for(lambda: notebook_pod(kueue_core_v1, "qa5") is not None, what="qa5's pod")
    gates = [g.name for g in notebook_pod(kueue_core_v1, "qa5").spec.scheduling_gates or []]
    assert ADMISSION_GATE in gates

    with chromium_context(tmp_path / "chromium") as context:
        page = context.new_page()
        log_in(page, hub, "qa5")
        page.goto(f"{hub.url}/hub/spawn-pending/qa5")
        message = page.locator("#progress-message")
        message.get_by_text(re.compile(r"Queued: 1st in line in lab-a for 1 × " + A100)).wait_for()
        text = message.inner_text()
        assert "Kueue: " in text and "nvidia.com/gpu" in text, text  # Kueue's own reason
        assert message.get_by_role("button", name="Cancel").is_visible()
        shot(page, "1-in-line")
        # The spawn page's numbers count the one waiting, and its GPU as not taken.
        a100 = hub.snapshot()["gpu_types"][A100]
        assert a100["queued"] == 1 and a100["held"] == 4

        # One of the four stops: Kueue admits qa5, and the page goes on to the server.
        assert hub.api("DELETE", "/users/qa1/server").status_code in (202, 204)
        page.wait_for_url(re.compile(r"/user/qa5/"), timeout=240_000)
        shot(page, "2-started")
    assert server(hub, "qa5").get("ready")
    pod = notebook_pod(kueue_core_v1, "qa5")
    assert not pod.spec.scheduling_gates and pod.spec.node_name.startswith("gpu-a100")  # every gate lifted
    (admitted,) = workloads(kueue_custom, "qa5")
    assert admitted["status"]["admission"]["clusterQueue"] == cluster_queue_name(GROUP)


def test_a_notebook_chosen_on_the_spawn_page_waits_and_cancel_leaves_nothing(
    hub, kueue_core_v1, kueue_custom, tmp_path
):
    # qa2..qa5 hold lab-a's 4 A100s (the test above).
    wait_for(lambda: all(server(hub, u).get("ready") for u in MEMBERS[1:5]), timeout=240, what="lab-a full")
    with chromium_context(tmp_path / "chromium") as context:
        page = context.new_page()
        log_in(page, hub, "qa6")
        page.goto(f"{hub.url}/hub/spawn")
        choice = page.locator(f"fieldset[data-gpu-type='{A100}'] .mlops-gpu-count[data-gpus='1'] input[name=profile]")
        assert choice.is_enabled() and choice.get_attribute("data-waits") is not None
        assert "Choose it to wait in line." in page.locator(f"fieldset[data-gpu-type='{A100}']").inner_text()
        choice.check()
        assert page.locator("input[name=queue]").input_value() == "on"
        shot(page, "3-spawn-form")
        page.click("#spawn_form input[type=submit], #spawn_form button[type=submit]")
        page.wait_for_url(re.compile(r"/hub/spawn-pending/qa6"))
        message = page.locator("#progress-message")
        message.get_by_text(re.compile(r"Queued: 1st in line in lab-a")).wait_for()
        pod = notebook_pod(kueue_core_v1, "qa6")
        assert pod is not None and workloads(kueue_custom, "qa6")
        shot(page, "4-queued")
        # The page's own Stop Server: JupyterHub interrupts the pending spawn.
        message.get_by_role("button", name="Cancel").click()
        wait_for(lambda: not server(hub, "qa6"), timeout=60, what="qa6's spawn cancelled")

    # Nothing is left: no server, no pod, no Workload; the four keep running.
    wait_for(lambda: notebook_pod(kueue_core_v1, "qa6") is None, what="qa6's pod gone")
    wait_for(lambda: not workloads(kueue_custom, "qa6"), what="qa6's Workload gone")
    assert all(server(hub, u).get("ready") for u in MEMBERS[1:5])


async def test_a_quota_edit_that_would_strand_running_notebooks_is_refused_and_changes_nothing(
    hub, kueue_cluster, kueue_core_v1, kueue_custom
):
    """What the availability service does on a restart with a lowered quota, run on the
    same cluster with the hub's identity: lab-a's four running notebooks hold its 4 A100s."""
    from jupyterhub_mlops.availability.queue_sync import QueueSync
    from jupyterhub_mlops.inventory.state import GpuInventory
    from jupyterhub_mlops.profiles import GpuProfiles
    from kubernetes_asyncio import config as async_config

    wait_for(lambda: all(server(hub, u).get("ready") for u in MEMBERS[1:5]), timeout=240, what="lab-a full")
    inventory = GpuInventory()
    nodes = kueue_core_v1.list_node().items
    inventory.replace_nodes(kueue_core_v1.api_client.sanitize_for_serialization(n) for n in nodes)
    for kind in ("nodes", "pods"):
        inventory.set_in_sync(kind, True)
    lowered = GpuProfiles(group_gpu_quotas={GROUP: {A100: 2}})
    api = await async_config.new_client_from_config(config_file=str(kueue_cluster.kubeconfig("hub")))
    async with api:
        sync = QueueSync(api, lowered, inventory)
        await sync.sync_once()
    assert sync.error == (
        f"quota edits refused: {GROUP}'s quota of {A100} GPUs would be 2, but its running notebooks hold 4: "
        "keep it at 4 or more until notebooks holding 2 of those GPUs have stopped."
    )
    group, version = KUEUE_API.split("/")
    queue = kueue_custom.get_cluster_custom_object(group, version, "clusterqueues", cluster_queue_name(GROUP))
    (flavors,) = [g["flavors"] for g in queue["spec"]["resourceGroups"]]
    assert [str(f["resources"][0]["nominalQuota"]) for f in flavors if "a100" in f["name"]] == ["4"]
    assert all(server(hub, u).get("ready") for u in MEMBERS[1:5])
