"""Unit tests of the spawn page's grouping into cards and of its rendering, from
the document the availability service builds (no cluster, no hub)."""

from __future__ import annotations

import html
import re

from jupyterhub_mlops.availability.state import Availability
from jupyterhub_mlops.inventory.state import GpuInventory
from jupyterhub_mlops.profiles import GpuProfiles
from jupyterhub_mlops.spawn_cards import group_cards, selected_slug
from jupyterhub_mlops.spawn_form import render_form, validate_choice
from mlops_contract.queueing import ADMISSION_GATE

GPU_TAINT = {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}
RTX, A100, V100 = "NVIDIA-RTX-A6000", "NVIDIA-A100-SXM4-80GB", "Tesla-V100-SXM2-32GB"


def node(name, product, gpus, *, memory_mib=None, unschedulable=False):
    labels = {"nvidia.com/gpu.product": product}
    if memory_mib:
        labels["nvidia.com/gpu.memory"] = str(memory_mib)
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"unschedulable": unschedulable, "taints": [GPU_TAINT]},
        "status": {
            "allocatable": {"nvidia.com/gpu": str(gpus), "cpu": "64", "memory": "512Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def pod(name, gpus, *, node_name="", gated=False):
    spec = {
        "nodeSelector": {"nvidia.com/gpu.product": RTX},
        "containers": [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}],
    }
    if node_name:
        spec["nodeName"] = node_name
    if gated:
        spec["schedulingGates"] = [{"name": ADMISSION_GATE}]
    return {"metadata": {"namespace": "ns", "name": name}, "spec": spec, "status": {"phase": "Running"}}


def demo_doc(**limits) -> dict:
    """A small copy of the demo fleet: two 8×A100, two 4×RTX with one GPU taken on
    each (so at most 3 are free on one), a cordoned V100, a CPU server; two pods queued for RTX."""
    inv = GpuInventory()
    for n in (
        node("gpu-a100-0", A100, 8, memory_mib=81920),
        node("gpu-a100-1", A100, 8, memory_mib=81920),
        node("gpu-rtx-0", RTX, 4),
        node("gpu-rtx-1", RTX, 4),
        node("gpu-v100-0", V100, 4, unschedulable=True),
        {
            "metadata": {"name": "cpu-0"},
            "status": {
                "allocatable": {"cpu": "32", "memory": "128Gi", "pods": "110"},
                "conditions": [{"type": "Ready", "status": "True"}],
            },
        },
    ):
        inv.apply_node("ADDED", n)
    for p in (
        pod("one", 1, node_name="gpu-rtx-0"),
        pod("two", 1, node_name="gpu-rtx-1"),
        pod("q1", 2, gated=True),
        pod("q2", 1, gated=True),
    ):
        inv.apply_pod("ADDED", p)
    inv.set_in_sync("nodes", True)
    inv.set_in_sync("pods", True)
    config = GpuProfiles(
        profiles=[
            {"display_name": "CPU only", "slug": "cpu", "gpus": 0, "default": True},
            {"display_name": "One RTX", "slug": "rtx-1", "gpu_type": RTX, "gpus": 1},
        ],
        **limits,
    )
    return Availability(inv, config).view_for("alice", [], {})


def test_one_card_per_gpu_type_with_the_counts_its_servers_have():
    cards = group_cards(demo_doc())
    assert [c.key for c in cards] == [
        "profile:cpu",
        "profile:rtx-1",
        f"type:{A100}",
        f"type:{RTX}",
        f"type:{V100}",
    ]
    by_key = {c.key: c for c in cards}
    a100, rtx, v100 = by_key[f"type:{A100}"], by_key[f"type:{RTX}"], by_key[f"type:{V100}"]
    assert a100.title == f"{A100} · 80 GiB"
    assert [r["gpus"] for r in a100.choices] == [1, 2, 4, 8]
    assert [r["slug"] for r in rtx.choices] == ["nvidia-rtx-a6000-x1", "nvidia-rtx-a6000-x2", "nvidia-rtx-a6000-x4"]
    assert [(s.node, s.free, s.total) for s in rtx.servers] == [("gpu-rtx-0", 3, 4), ("gpu-rtx-1", 3, 4)]
    assert (rtx.free, rtx.total, rtx.queued) == (6, 8, 2)
    four = rtx.choices[2]
    assert four["reason_code"] == "none_free"
    assert four["disabled_reason"] == f"Needs 4 on one server; at most 3 are free on any {RTX} server."
    assert [r["reason_code"] for r in rtx.choices[:2]] == [None, None]
    # The cordoned V100 server: no choice, its GPUs shown as unavailable with the reason.
    assert v100.choices == ()
    assert [(s.node, s.free, s.total, s.unavailable) for s in v100.unavailable] == [("gpu-v100-0", 0, 4, "cordoned")]
    assert selected_slug(cards) == "cpu"


def test_every_choice_of_the_page_posts_one_slug_the_form_accepts():
    doc = demo_doc()
    page = render_form(doc, "/e", "/s")
    posted = re.findall(r'<input type="radio" name="profile" value="([^"]+)"', page)
    assert sorted(posted) == sorted(r["slug"] for r in doc["profiles"])  # each row once, no other
    for slug, gpus in [("nvidia-rtx-a6000-x2", "2"), ("nvidia-a100-sxm4-80gb-x8", "8"), ("cpu", "")]:
        assert validate_choice({"profile": [slug], "gpus": [gpus]}, doc["profiles"])["slug"] == slug


def test_the_page_shows_bars_reasons_queue_and_disables_what_cannot_start():
    page = render_form(demo_doc(), "/e", "/s")
    text = html.unescape(re.sub(r"<[^>]+>", " ", page))
    assert re.search(r'value="nvidia-rtx-a6000-x4" aria-describedby="[^"]+" disabled', page)
    assert not re.search(r'value="nvidia-rtx-a6000-x2"[^>]* disabled', page)
    assert "Needs 4 on one server; at most 3 are free on any" in text
    assert 'aria-label="gpu-rtx-0: 3 of 4 free"' in page and "width:75.0%" in page
    assert 'aria-label="gpu-v100-0: 4 unavailable: cordoned"' in page
    assert "2 waiting" in text
    assert "0 / 0" not in text
    # Each count is a labelled radio in a named group; its line describes it.
    group = re.search(r'role="radiogroup" aria-labelledby="([^"]+)"', page).group(1)
    assert f'id="{group}"' in page
    described = re.search(r'value="nvidia-rtx-a6000-x4" aria-describedby="([^"]+)"', page).group(1)
    line = re.search(rf'<li id="{described}">(.*?)</li>', page, re.S).group(1)
    assert "Needs 4 on one server" in html.unescape(line)
    assert "checked" in re.search(r'<input[^>]*value="cpu"[^>]*>', page).group(0)


def test_over_the_cap_counts_are_disabled_with_the_cap_sentence():
    cards = {c.key: c for c in group_cards(demo_doc(user_gpu_cap=2))}
    reasons = {r["gpus"]: r["disabled_reason"] for r in cards[f"type:{A100}"].choices}
    assert reasons[1] is None and reasons[2] is None
    assert reasons[4] == "Over your cap: you hold 0 GPUs, this profile needs 4 more, and your limit is 2."


def test_without_availability_only_the_operator_cards_remain():
    doc = demo_doc()
    unknown = {**doc, "in_sync": False, "gpu_types": None, "profiles": [r for r in doc["profiles"] if not r["auto"]]}
    assert [c.key for c in group_cards(unknown)] == ["profile:cpu", "profile:rtx-1"]
