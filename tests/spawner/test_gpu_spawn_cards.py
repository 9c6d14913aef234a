"""The spawn page's GPU cards in Chromium, on a real JupyterHub with the
availability service, against the local control plane and its demo fleet.

The fleet (cluster/fleet.yaml) has a cordoned V100 server; this test takes one
RTX A6000 on each of the two 4-GPU RTX servers (so four fit on no server: at
most three are free on any) and puts pods in Kueue's line for RTX GPUs (pods
carrying Kueue's admission scheduling gate, as Kueue leaves them until it
admits them; the API server keeps them unscheduled, no Kueue is needed). Then it
checks the cards as a user sees them, picks a type and a count with the
keyboard and spawns. Screenshots: test-artifacts/spawn-cards-*.png.
"""

from __future__ import annotations

import re
import sys
import time

import pytest
from mlops_contract.queueing import ADMISSION_GATE

from tests.browser import ARTIFACTS, chromium_context
from tests.mlops_testing import create_namespace, wait_for
from tests.spawner.gpu_hub import PASSWORD, Hub

pytestmark = [pytest.mark.cluster, pytest.mark.browser]

RTX, A100, V100 = "NVIDIA-RTX-A6000", "NVIDIA-A100-SXM4-80GB", "Tesla-V100-SXM2-32GB"
USER = "tess"


@pytest.fixture(scope="module")
def hub_namespace(control_plane, core_v1):
    name = create_namespace(core_v1, f"cards-{int(time.time()) % 100000}")
    yield name
    core_v1.delete_namespace(name)


@pytest.fixture(scope="module")
def hub(control_plane, hub_namespace, tmp_path_factory):
    h = Hub(tmp_path_factory.mktemp("hub"), control_plane, hub_namespace, python=sys.executable).start()
    yield h
    h.stop()


def gpu_pod(name: str, *, node: str | None = None, gated: bool = False, gpus: int = 1) -> dict:
    spec = {
        "nodeSelector": {"nvidia.com/gpu.product": RTX},
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "containers": [{"name": "c", "image": "busybox", "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}],
    }
    if node:
        spec["nodeName"] = node
    if gated:
        spec["schedulingGates"] = [{"name": ADMISSION_GATE}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def rtx_servers(hub) -> dict:
    return {s["node"]: (s["free"], s["total"]) for s in hub.snapshot()["gpu_types"][RTX]["servers"]}


def test_cards_per_gpu_type_with_bars_reasons_queue_and_a_spawn(hub, core_v1, hub_namespace):
    made = ["rtx-taken-0", "rtx-taken-1", "rtx-queued-0"]
    core_v1.create_namespaced_pod(hub_namespace, gpu_pod("rtx-taken-0", node="gpu-rtx-0"))
    core_v1.create_namespaced_pod(hub_namespace, gpu_pod("rtx-taken-1", node="gpu-rtx-1"))
    core_v1.create_namespaced_pod(hub_namespace, gpu_pod("rtx-queued-0", gated=True, gpus=2))
    try:
        wait_for(
            lambda: (
                rtx_servers(hub) == {"gpu-rtx-0": (3, 4), "gpu-rtx-1": (3, 4)}
                and hub.snapshot()["gpu_types"][RTX]["queued"] == 1
            ),
            timeout=60,
            what="one RTX GPU taken on each server and one pod in line",
        )
        # The premise: the queued pod is held back by its gate, not by a lack of room.
        queued = core_v1.read_namespaced_pod("rtx-queued-0", hub_namespace)
        assert queued.spec.node_name is None
        assert [g.name for g in queued.spec.scheduling_gates] == [ADMISSION_GATE]
        types = hub.snapshot()["gpu_types"]
        ARTIFACTS.mkdir(exist_ok=True)
        with chromium_context(hub.run_dir / "chromium") as context:
            page = context.new_page()
            page.goto(f"{hub.url}/hub/login")
            page.fill("#username_input", USER)
            page.fill("#password_input", PASSWORD)
            page.click("#login_submit")
            page.goto(f"{hub.url}/hub/spawn")
            form = page.locator(".mlops-gpu-form")
            form.wait_for()
            page.evaluate("window.__same_page = true")

            # One card per GPU type (MIG slice sizes are types of their own), the
            # CPU-only choice and each operator profile as cards of their own.
            type_cards = form.locator("fieldset[data-gpu-type]")
            assert sorted(type_cards.evaluate_all("cs => cs.map(c => c.dataset.gpuType)")) == sorted(types)
            own = form.locator("label.mlops-gpu-card").evaluate_all("ls => ls.map(l => l.dataset.slug)")
            assert own == ["cpu", "rtx-1", "a100-4", "a100-16"]

            rtx = page.get_by_role("group", name=RTX)
            counts = rtx.get_by_role("radiogroup", name=f"{RTX}: GPUs on one server")
            assert counts.get_by_role("radio").evaluate_all("rs => rs.map(r => r.labels[0].textContent.trim())") == [
                "1 GPU",
                "2 GPUs",
                "4 GPUs",
            ]
            assert counts.get_by_role("radio", name="1 GPU").is_enabled()
            assert counts.get_by_role("radio", name="2 GPUs").is_enabled()
            four = counts.get_by_role("radio", name="4 GPUs")
            assert four.is_disabled()
            # The disabled count says what is missing, as its accessible description.
            description = four.evaluate(
                "r => r.getAttribute('aria-describedby').split(' ').map(i => document.getElementById(i).textContent)"
                ".join(' ')"
            )
            assert f"Needs 4 on one server; at most 3 are free on any {RTX} server." in description
            # Free GPUs per server, as bars with their numbers.
            for server in ("gpu-rtx-0", "gpu-rtx-1"):
                bar = rtx.get_by_role("img", name=f"{server}: 3 of 4 free")
                assert bar.locator(".mlops-gpu-bar-free").evaluate("b => b.style.width") == "75%"
            assert rtx.locator("[data-role=free]").text_content() == "6"
            assert rtx.locator("[data-role=queued]").text_content() == "1 waiting"
            # The cordoned server: its GPUs shown as unavailable, with the reason.
            v100 = page.get_by_role("group", name=re.compile(re.escape(V100)))
            assert v100.get_by_role("img", name="gpu-v100-0: 4 unavailable: cordoned").is_visible()
            assert v100.locator("[data-role=unavailable]").text_content() == "4"
            assert v100.get_by_role("radio").count() == 0
            assert "0 / 0" not in form.inner_text()
            a100 = page.get_by_role("group", name=re.compile(re.escape(A100) + " · "))
            assert a100.get_by_role("radio").evaluate_all("rs => rs.map(r => r.value)") == [
                f"nvidia-a100-sxm4-80gb-x{k}" for k in (1, 2, 4, 8)
            ]

            # Live: another pod joins the line; the card counts it without a reload.
            core_v1.create_namespaced_pod(hub_namespace, gpu_pod("rtx-queued-1", gated=True))
            made.append("rtx-queued-1")
            page.wait_for_function(
                f"() => document.querySelector('[data-gpu-type=\"{RTX}\"] [data-role=queued]')"
                ".textContent === '2 waiting'",
                timeout=60_000,
            )
            assert page.evaluate("window.__same_page") is True
            page.screenshot(path=str(ARTIFACTS / "spawn-cards-1-overview.png"), full_page=True)

            # Choose with the keyboard: 1 A100, then the arrow key to 2.
            a100.get_by_role("radio", name="1 GPU").check()
            page.keyboard.press("ArrowRight")
            assert a100.get_by_role("radio", name="2 GPUs").is_checked()
            assert page.locator("input[name=gpus]").input_value() == "2"
            a100.scroll_into_view_if_needed()
            page.screenshot(path=str(ARTIFACTS / "spawn-cards-2-two-a100-chosen.png"), full_page=True)
            page.get_by_role("button", name="Start").click()
            page.wait_for_url(re.compile(r"/hub/spawn-pending/|/user/"))
            page.screenshot(path=str(ARTIFACTS / "spawn-cards-3-after-start.png"), full_page=True)

        def tess_pod():
            for pod in core_v1.list_namespaced_pod(hub_namespace).items:
                if (pod.metadata.labels or {}).get("jupyterhub-mlops/user") == USER:
                    return pod
            return None

        pod = wait_for(tess_pod, timeout=60, what=f"{USER}'s notebook pod")
        assert pod.spec.containers[0].resources.limits["nvidia.com/gpu"] == "2"
        assert pod.spec.node_selector["nvidia.com/gpu.product"] == A100
    finally:
        hub.api("DELETE", f"/users/{USER}/server")
        for name in made:
            core_v1.delete_namespaced_pod(name, hub_namespace, grace_period_seconds=0)
