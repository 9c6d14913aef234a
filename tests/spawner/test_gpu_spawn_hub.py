"""The spawn page and spawns through a real JupyterHub, its proxy and the
availability service, against the real control plane.

The default fleet (cluster/fleet.yaml): two 8×A100 nodes, two 4×RTX A6000
nodes (8 RTX GPUs in all), a MIG node, a cordoned V100 node, a CPU node.
"""

from __future__ import annotations

import html
import re
import sys
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from mlops_cluster import hub_image

from tests.inventory.gpu_oracle import recompute
from tests.mlops_testing import wait_for
from tests.spawner.gpu_hub import Hub

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

RTX = "NVIDIA-RTX-A6000"
A100 = "NVIDIA-A100-SXM4-80GB"
RTX_LIMIT = "nvidia.com/gpu"
A100_X1 = "nvidia-a100-sxm4-80gb-x1"  # auto-derived: 1 A100, 4 CPUs, 16 GiB
MIG3 = f"{A100}/mig-3g.40gb"  # the fleet's MIG node has 4 of these slices
MIG3_X1, MIG3_X4 = "nvidia-a100-sxm4-80gb-mig-3g-40gb-x1", "nvidia-a100-sxm4-80gb-mig-3g-40gb-x4"
REFUSALS = "jupyterhub_mlops_spawn_refusals_total"


@pytest.fixture(scope="module", params=[hub_image.IMAGE, "development"])
def hub_variant(request) -> str:
    """The hub as Zero-to-JupyterHub 4.4 deploys it (JupyterHub 5.5, KubeSpawner 7.0, the hub
    image's packages), then as the development virtualenv resolves it (JupyterHub 6)."""
    return request.param


@pytest.fixture(scope="module")
def hub_namespace(control_plane, core_v1, hub_variant):
    import kubernetes

    from tests.mlops_testing import create_namespace

    name = create_namespace(core_v1, f"hub-{int(time.time()) % 100000}")
    yield name
    # The next variant counts free GPUs: this one's servers must be gone, not terminating.
    core_v1.delete_namespace(name)

    def gone() -> bool:
        try:
            core_v1.read_namespace(name)
        except kubernetes.client.ApiException as exc:
            return exc.status == 404
        return False

    wait_for(gone, timeout=120, what=f"namespace {name} and its pods to be deleted")


@pytest.fixture(scope="module")
def hub(hub_variant, control_plane, hub_namespace, tmp_path_factory):
    python = str(hub_image.python(hub_variant)) if hub_variant == hub_image.IMAGE else sys.executable
    h = Hub(tmp_path_factory.mktemp("hub"), control_plane, hub_namespace, python=python).start()
    yield h
    h.stop()


def pods(core_v1, namespace):
    return [p for p in core_v1.list_namespaced_pod(namespace).items if not p.metadata.deletion_timestamp]


def cards(page: str) -> dict[str, dict]:
    """slug -> the numbers and state the spawn page shows for that choice (a card of
    its own, or a GPU count inside its type's card)."""
    out = {}
    for slug in re.findall(r'<input type="radio" name="profile" value="([^"]+)"', page):
        quoted = re.escape(html.escape(slug))

        def role(name, quoted=quoted):
            m = re.search(rf'data-for="{quoted}" data-role="{name}">([^<]*)<', page)
            return html.unescape(m.group(1)).strip() if m else None

        out[html.unescape(slug)] = {
            "free": role("free"),
            "total": role("total"),
            "fits": role("fits"),
            "reason": role("reason"),
            "disabled": bool(re.search(rf'<input type="radio" name="profile" value="{quoted}"[^>]* disabled', page)),
        }
    return out


def test_each_variant_runs_its_own_jupyterhub_major(hub, hub_variant):
    version = hub.api("GET", "/").json()["version"]
    pinned = next(
        line.split("==")[1]
        for line in hub_image.CONSTRAINTS.read_text().splitlines()
        if line.startswith("jupyterhub==")
    )
    if hub_variant == hub_image.IMAGE:
        assert version == pinned, "the hub image's JupyterHub is not the one running"
    else:
        assert version.split(".")[0] == "6", f"the development hub runs JupyterHub {version}"


def test_spawn_page_shows_free_total_and_servers_that_fit(hub, core_v1):
    page = hub.spawn_page(hub.login("alice"))
    shown = cards(page)
    free_by_node, types = recompute(core_v1)
    assert shown["rtx-1"]["free"] == str(types[RTX]["free"])
    assert shown["rtx-1"]["total"] == str(types[RTX]["total"])
    # Four A100s fit on a node only with 4 GPUs, 16 CPUs, 64 GiB and a pod slot free there.
    expected_fits = sum(
        min(f.get("nvidia.com/gpu", 0) // 4, f["cpu"] // 16000, f["memory"] // (64 << 30), f["pods"])
        for name, f in free_by_node.items()
        if name.startswith("gpu-a100")
    )
    assert shown["a100-4"]["fits"] == str(expected_fits)
    assert shown["a100-16"]["disabled"]
    assert shown["a100-16"]["reason"] == f"Needs 16 on one server; the largest {A100} server that takes it has 8."
    # Auto-derived profiles for each type present, e.g. 8 × A100 and MIG slices.
    assert any(slug.startswith("nvidia-a100-sxm4-80gb-mig-1g-10gb-x") for slug in shown)
    assert "servers of this shape can start now" in page
    assert "api/v1/events" in page  # the live refresh listens to the service


@pytest.mark.parametrize(
    "data,reason",
    [
        ({"profile": "no-such-profile"}, "There is no profile"),
        ({"profile": "rtx-1", "gpus": "64"}, "gives 1 GPUs, not 64"),
        ({"profile": "rtx-1", "gpus": "-1"}, "whole number"),
        ({"profile": "rtx-1", "gpus": "two"}, "whole number"),
        ({"profile": "x" * 10240}, "longer than 100 characters"),
        ({"profile": "rtx-1", "gpus": "9" * 10240}, "whole number"),
        ({"profile": "rtx-1", "image": "evil/miner"}, "Unexpected field"),
    ],
)
def test_tampered_form_gets_400_with_a_reason_and_no_pod(hub, core_v1, hub_namespace, data, reason):
    session = hub.login("mallory")
    hub.spawn_page(session)
    before = len(pods(core_v1, hub_namespace))
    resp = hub.post_form(session, data)
    assert resp.status_code == 400, resp.text[:500]
    assert reason in html.unescape(resp.text)
    time.sleep(1)
    assert len(pods(core_v1, hub_namespace)) == before
    assert not hub.api("GET", "/users/mallory").json()["servers"]


def test_over_cap_is_disabled_on_the_page_and_refused_on_post(hub, core_v1, hub_namespace):
    session = hub.login("carol")  # in group "students": cap of 1 GPU
    shown = cards(hub.spawn_page(session))
    assert shown["a100-4"]["disabled"]
    assert "Over your cap" in shown["a100-4"]["reason"]
    assert not shown["rtx-1"]["disabled"]
    before = len(pods(core_v1, hub_namespace))
    resp = hub.post_form(session, {"profile": "a100-4", "gpus": "4"})
    assert resp.status_code == 403
    assert "your limit is 1" in html.unescape(resp.text)
    assert len(pods(core_v1, hub_namespace)) == before


def owned_pods(core_v1, namespace, user):
    return [p for p in pods(core_v1, namespace) if p.metadata.labels.get("jupyterhub-mlops/user") == user]


def test_a_group_quota_counts_what_all_members_hold(hub, core_v1, hub_namespace):
    # erin, frank and gina are in group "lab", whose members may hold 2 GPUs together.
    refused_before = refusals(hub, "over_group_quota")
    members = ["erin", "frank"]
    try:
        for user in members:
            session = hub.login(user)
            hub.spawn_page(session)
            resp = hub.post_form(session, {"profile": A100_X1, "gpus": "1"})
            assert resp.status_code == 302, resp.text[:300]
        # Their pods count from the moment they exist (bound or still pending).
        wait_for(
            lambda: all(owned_pods(core_v1, hub_namespace, u) for u in members),
            timeout=60,
            what="erin's and frank's pods",
        )
        assert hub.view_of("gina", ("lab",))["user"]["groups"] == [{"name": "lab", "held_gpus": 2, "quota": 2}]
        for user in members:
            assert hub.metric("jupyterhub_mlops_gpus_held_by_user", user=user, gpu_type=A100) == 1

        def metrics_match_the_snapshot():
            types = hub.snapshot()["gpu_types"][A100]
            return types["held"] >= 2 and all(
                hub.metric(f"jupyterhub_mlops_gpus_{k}", gpu_type=A100) == types[k] for k in ("free", "held", "total")
            )

        wait_for(metrics_match_the_snapshot, timeout=30, what="A100 metrics = the snapshot")

        session = hub.login("gina")
        shown = cards(hub.spawn_page(session))
        assert shown[A100_X1]["disabled"]
        assert "your group lab holds 2 of its 2 GPUs" in shown[A100_X1]["reason"]
        assert not shown["cpu"]["disabled"]  # no GPU, no quota
        resp = hub.post_form(session, {"profile": A100_X1, "gpus": "1"})
        assert resp.status_code == 403
        assert "your group lab holds 2 of its 2 GPUs" in html.unescape(resp.text)
        # The service refuses too, whoever asks it: the quota is enforced where GPUs are granted.
        direct = hub.reserve("gina", ["lab"], A100_X1, f"{hub_namespace}/jupyter-gina")
        assert direct.status_code == 409
        assert direct.json()["code"] == "over_group_quota"
        assert refusals(hub, "over_group_quota") == refused_before + 2
        assert not owned_pods(core_v1, hub_namespace, "gina")
        # Someone outside the group is not held back by it.
        assert not cards(hub.spawn_page(hub.login("henry")))[A100_X1]["disabled"]
    finally:
        for user in members:
            hub.api("DELETE", f"/users/{user}/server")
    # A stopped member's GPUs count no more.
    wait_for(
        lambda: not any(owned_pods(core_v1, hub_namespace, u) for u in members),
        timeout=60,
        what="the members' pods to go",
    )
    row = next(r for r in hub.view_of("gina", ("lab",))["profiles"] if r["slug"] == A100_X1)
    assert row["reason_code"] is None


def refusals(hub, reason: str) -> float:
    """Spawns refused for ``reason``, by the hub (the form's check) and by the
    availability service (the reservation's check) together."""
    return sum(hub.metric(REFUSALS, where=w, reason=reason) for w in ("hub", "service"))


def gpu_pods(core_v1, namespace, resource="nvidia.com/gpu"):
    out = []
    for p in pods(core_v1, namespace):
        limits = p.spec.containers[0].resources.limits or {}
        if int(limits.get(resource, 0)):
            out.append(p)
    return out


def settled_free(hub, gpu_type=RTX) -> int:
    """Free GPUs of a type once the count stops moving (deletions of earlier tests settle)."""
    last = None

    def stable():
        nonlocal last
        now = hub.snapshot()["gpu_types"][gpu_type]["free"]
        same, last = now == last, now
        return same

    wait_for(stable, timeout=60, interval=2, what=f"the {gpu_type} count to settle")
    return last


def filler_pod(name: str) -> dict:
    """One A100 taken by something other than a notebook (placed by the scheduler)."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"test": "filler"}},
        "spec": {
            "nodeSelector": {"nvidia.com/gpu.product": A100},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}],
            "containers": [{"name": "c", "image": "busybox", "resources": {"limits": {"nvidia.com/gpu": "1"}}}],
        },
    }


def test_ten_concurrent_spawns_for_the_last_eight_gpus_never_grant_more(hub, core_v1, hub_namespace):
    # Fill the A100s (16 in the fleet) until exactly 8 are left, then race 10 spawns.
    free = settled_free(hub, A100)
    assert free >= 8, f"only {free} A100 GPUs are free: another test holds them"
    fillers = [f"filler-{i}" for i in range(free - 8)]
    for name in fillers:
        core_v1.create_namespaced_pod(hub_namespace, filler_pod(name))
    users = [f"racer{i}" for i in range(10)]
    try:
        wait_for(lambda: hub.snapshot()["gpu_types"][A100]["free"] == 8, timeout=60, what="exactly 8 A100 GPUs left")
        for user in users:
            hub.api("POST", f"/users/{user}")

        def spawn(user):
            return hub.api("POST", f"/users/{user}/server", json={"profile": A100_X1}).status_code

        with ThreadPoolExecutor(len(users)) as pool:
            codes = list(pool.map(spawn, users))

        def settled():
            states = [hub.api("GET", f"/users/{u}").json() for u in users]
            return (
                all(
                    s["servers"].get("", {}).get("pending") != "spawn" or s["servers"].get("", {}).get("started")
                    for s in states
                )
                and states
            )

        wait_for(settled, timeout=60, what="every spawn to be refused or past its start")
        granted = [
            p
            for p in gpu_pods(core_v1, hub_namespace)
            if p.metadata.labels.get("jupyterhub-mlops/user", "").startswith("racer")
        ]
        gpus = sum(int(p.spec.containers[0].resources.limits["nvidia.com/gpu"]) for p in granted)
        assert gpus <= 8, f"{gpus} A100 GPUs granted for the last 8 (codes {codes})"
        assert gpus == 8, f"only {gpus} of the last 8 A100 GPUs were granted (codes {codes})"
        for pod in granted:
            labels = pod.metadata.labels
            user = labels["jupyterhub-mlops/user"]
            assert labels["component"] == "singleuser-server"  # KubeSpawner's owner labels
            assert labels["hub.jupyter.org/username"] == user
            assert labels["hub.jupyter.org/servername"] == ""
            env = {e.name: e.value for e in pod.spec.containers[0].env}
            # handed on to the jobs API, which labels the user's job pods alike
            assert env["MLOPS_OWNER_LABEL"] == f"jupyterhub-mlops/user={user}"
            assert pod.spec.node_selector["nvidia.com/gpu.product"] == A100
            assert any(t.key == "nvidia.com/gpu" for t in pod.spec.tolerations)
            shm = next(v for v in pod.spec.volumes if v.name == "dshm")
            assert shm.empty_dir.medium == "Memory"
        wait_for(
            lambda: hub.snapshot()["gpu_types"][A100]["free"] == 0,
            timeout=30,
            what="the granted pods to be counted",
        )
        # Refused by the hub (the view already showed none free) or by the service
        # (the reservation lost the race): counted where refused.
        assert refusals(hub, "none_free") >= 2
    finally:
        for user in users:
            hub.api("DELETE", f"/users/{user}/server")
        for name in fillers:
            core_v1.delete_namespaced_pod(name, hub_namespace, grace_period_seconds=0)
    # Stopped spawns give everything back: pods gone, reservations released.
    wait_for(
        lambda: hub.snapshot()["gpu_types"][A100]["free"] == free,
        timeout=60,
        what="the A100 GPUs to be free again",
    )
    wait_for(
        lambda: hub.metric("jupyterhub_mlops_gpu_reservations") == 0,
        timeout=30,
        what="no reservation left",
    )


def test_a_spawn_that_fails_after_reserving_releases_its_reservation(hub, core_v1, hub_namespace):
    hub.api("POST", "/users/failing")
    resp = hub.api("POST", "/users/failing/server", json={"profile": "a100-4"})
    assert resp.status_code in (201, 202, 500), resp.text
    wait_for(
        lambda: not hub.api("GET", "/users/failing").json()["servers"],
        timeout=60,
        what="the failed spawn to be cleaned up",
    )
    assert hub.metric("jupyterhub_mlops_gpu_reservations") == 0
    assert hub.metric("jupyterhub_mlops_spawns_total", profile="a100-4") >= 1
    assert not [p for p in pods(core_v1, hub_namespace) if "failing" in p.metadata.name]


def test_availability_api_needs_a_token_and_serves_users_their_own_view(hub):
    anonymous = hub.service("api/v1/snapshot", token="not-a-token")
    assert anonymous.status_code == 403
    hub.api("POST", "/users/carol")
    token = hub.api("POST", "/users/carol/tokens", json={"note": "test"}).json()["token"]
    doc = hub.service("api/v1/snapshot", token=token).json()
    assert doc["user"]["cap"] == 1  # carol's group cap, from her own identity
    assert doc["gpu_types"][RTX]["total"] == 8
    assert isinstance(doc["version"], int)
    assert hub.metric("jupyterhub_mlops_gpus_total", gpu_type=RTX) == 8
    assert hub.metric("jupyterhub_mlops_inventory_in_sync") == 1
    # A user may not reserve GPUs: only the spawner's service may.
    import requests

    denied = requests.post(
        f"{hub.url}/services/gpu-availability/api/v1/reservations",
        timeout=30,
        headers={"Authorization": f"token {token}"},
        json={},
    )
    assert denied.status_code == 403


def test_event_stream_pushes_a_new_snapshot_when_gpus_are_taken(hub, core_v1, hub_namespace):
    import json

    import requests

    stream = requests.get(
        f"{hub.url}/services/gpu-availability/api/v1/events",
        stream=True,
        timeout=60,
        headers={"Authorization": f"token {hub.admin_token}"},
    )
    assert stream.status_code == 200
    assert stream.headers["Content-Type"].startswith("text/event-stream")
    lines = stream.iter_lines(decode_unicode=True)

    def next_snapshot():
        for line in lines:
            if line.startswith("data: "):
                return json.loads(line[len("data: ") :])
        raise AssertionError("the stream ended")

    first = next_snapshot()
    free = first["gpu_types"][RTX]["free"]
    assert free >= 1, "no RTX GPU is free: another test of the session holds them all"
    # The scheduler places the probe where an RTX GPU is free.
    core_v1.create_namespaced_pod(
        hub_namespace,
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": "sse-probe"},
            "spec": {
                "nodeSelector": {"nvidia.com/gpu.product": RTX},
                "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
                "containers": [
                    {
                        "name": "c",
                        "image": "busybox",
                        "resources": {"limits": {"nvidia.com/gpu": "1"}},
                    }
                ],
            },
        },
    )
    try:
        doc = next_snapshot()
        while doc["gpu_types"][RTX]["free"] != free - 1:
            assert doc["version"] > first["version"]
            doc = next_snapshot()
    finally:
        stream.close()
        core_v1.delete_namespaced_pod("sse-probe", hub_namespace, grace_period_seconds=0)


@pytest.mark.browser
def test_numbers_refresh_in_a_real_browser_without_reloading(hub, core_v1, hub_namespace):
    from playwright.sync_api import sync_playwright

    from tests.spawner.gpu_hub import PASSWORD

    free_cell = '[data-slug="rtx-1"] [data-role=free]'
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path="/usr/bin/chromium",
            args=[
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
            ],
        )
        try:
            page = browser.new_page()
            page.goto(f"{hub.url}/hub/login")
            page.fill("#username_input", "dora")
            page.fill("#password_input", PASSWORD)
            page.click("#login_submit")
            page.goto(f"{hub.url}/hub/spawn")
            before = int(page.text_content(free_cell))
            page.evaluate("window.__same_page = true")
            core_v1.create_namespaced_pod(
                hub_namespace,
                {
                    "apiVersion": "v1",
                    "kind": "Pod",
                    "metadata": {"name": "browser-probe"},
                    "spec": {
                        "nodeName": "gpu-rtx-1",
                        "containers": [
                            {"name": "c", "image": "busybox", "resources": {"limits": {"nvidia.com/gpu": "2"}}}
                        ],
                    },
                },
            )
            try:
                # Through the proxy, the OAuth round trip and the event stream.
                page.wait_for_function(
                    f"() => document.querySelector('{free_cell}').textContent.trim() === '{before - 2}'", timeout=30_000
                )
                assert page.evaluate("window.__same_page") is True
            finally:
                core_v1.delete_namespaced_pod("browser-probe", hub_namespace, grace_period_seconds=0)
        finally:
            browser.close()


def mig3_row(hub, user: str) -> dict:
    return next(r for r in hub.view_of(user)["profiles"] if r["slug"] == MIG3_X1)


def test_a_pending_spawn_keeps_its_gpus_through_a_hub_restart(hub, core_v1, hub_namespace):
    """A spawn takes all four 3g.40gb MIG slices; its pod waits for a node (no scheduler
    serves it, see gpu_hub.py); the hub and its availability service restart, which
    forgets the service's reservation book: the slices must still not be offered."""
    assert settled_free(hub, MIG3) == 4, "another test holds 3g.40gb MIG slices"
    session = hub.login("waiting-wendy")
    hub.spawn_page(session)
    resp = hub.post_form(session, {"profile": MIG3_X4, "gpus": "4"})
    assert resp.status_code == 302, resp.text[:300]
    try:
        (pod,) = wait_for(lambda: owned_pods(core_v1, hub_namespace, "waiting-wendy"), timeout=30, what="wendy's pod")
        assert mig3_row(hub, "victor")["reason_code"] == "none_free"
        hub.stop()
        hub.start()  # the hub and its availability service start from scratch
        (pod,) = owned_pods(core_v1, hub_namespace, "waiting-wendy")
        assert pod.spec.node_name is None and pod.status.phase == "Pending"  # the premise
        assert pod.spec.containers[0].resources.limits["nvidia.com/mig-3g.40gb"] == "4"
        assert hub.snapshot()["gpu_types"][MIG3]["free"] == 4  # no node holds them...
        row = mig3_row(hub, "victor")  # ...but the pending pod does
        assert (row["free"], row["fits"], row["reason_code"]) == (0, 0, "none_free")
        assert hub.metric("jupyterhub_mlops_gpu_reservations", gpu_type=MIG3) == 4
        session = hub.login("victor")
        assert cards(hub.spawn_page(session))[MIG3_X1]["disabled"]
        resp = hub.post_form(session, {"profile": MIG3_X1, "gpus": "1"})
        assert resp.status_code == 409, resp.text[:300]
        assert not owned_pods(core_v1, hub_namespace, "victor")
    finally:
        hub.api("DELETE", "/users/waiting-wendy/server")
    # The stopped spawn's pod is deleted: the slices are offered again.
    wait_for(lambda: not owned_pods(core_v1, hub_namespace, "waiting-wendy"), timeout=60, what="wendy's pod to go")
    wait_for(lambda: mig3_row(hub, "victor")["reason_code"] is None, timeout=30, what="the slices to be offered again")
    assert mig3_row(hub, "victor")["free"] == 4
    assert hub.metric("jupyterhub_mlops_gpu_reservations") == 0


def test_held_gpus_survive_a_hub_restart(hub, core_v1, hub_namespace):
    session = hub.login("carol")  # cap 1
    hub.spawn_page(session)
    resp = hub.post_form(session, {"profile": "rtx-1", "gpus": "1"})
    assert resp.status_code == 302, resp.text[:300]
    wait_for(
        lambda: [
            p for p in gpu_pods(core_v1, hub_namespace) if p.metadata.labels.get("jupyterhub-mlops/user") == "carol"
        ],
        timeout=60,
        what="carol's pod",
    )
    hub.stop()
    hub.start()  # the hub and its availability service start from scratch
    token = hub.api("POST", "/users/carol/tokens", json={"note": "after restart"}).json()["token"]
    doc = wait_for(
        lambda: (lambda d: d if d["in_sync"] else None)(hub.service("api/v1/snapshot", token=token).json()),
        timeout=30,
        what="a synced snapshot",
    )
    # Her GPU is known from her pod alone: the cap still applies.
    assert doc["user"]["held_gpus"] == 1
    row = next(r for r in doc["profiles"] if r["slug"] == "rtx-1")
    assert row["reason_code"] == "over_cap"
    assert "you hold 1 GPUs" in row["disabled_reason"]


def query_options(hub_variant: str, **options) -> dict:
    """A spawn URL's user options: JupyterHub 6 reads only ``opt-``-prefixed parameters when
    any is given; JupyterHub 5.5 takes every parameter as an option."""
    prefix = "" if hub_variant == hub_image.IMAGE else "opt-"
    return {f"{prefix}{key}": value for key, value in options.items()}


def test_a_spawn_url_with_options_starts_that_profile_on_a_named_server(hub, hub_variant, core_v1, hub_namespace):
    user = f"quinn-{hub_variant}"
    session = hub.login(user)
    resp = session.get(
        f"{hub.url}/hub/spawn/{user}/train",
        timeout=30,
        allow_redirects=False,
        params=query_options(hub_variant, profile="rtx-1", gpus="1"),
    )
    assert resp.status_code == 302, resp.text[:300]
    (pod,) = wait_for(lambda: owned_pods(core_v1, hub_namespace, user), timeout=60, what=f"{user}'s pod")
    container = pod.spec.containers[0]
    assert container.resources.limits.get(RTX_LIMIT) == "1"
    assert pod.spec.node_selector.get("nvidia.com/gpu.product") == RTX
    assert pod.metadata.annotations.get("hub.jupyter.org/servername") == "train"
    hub.api("DELETE", f"/users/{user}/servers/train")


def test_a_spawn_url_over_the_cap_is_refused_and_starts_nothing(hub, hub_variant, core_v1, hub_namespace):
    session = hub.login("carol")  # in group "students": cap of 1 GPU
    before = len(pods(core_v1, hub_namespace))
    resp = session.get(
        f"{hub.url}/hub/spawn/carol/big",
        timeout=30,
        allow_redirects=False,
        params=query_options(hub_variant, profile="a100-4", gpus="4"),
    )
    assert resp.status_code == 403, resp.text[:300]
    assert "your limit is 1" in html.unescape(resp.text)
    assert len(pods(core_v1, hub_namespace)) == before
