"""Unit tests of profiles, evaluation, reservations placement, form validation and
the pod overrides (pure functions, no cluster)."""

from __future__ import annotations

import re

import pytest
from jupyterhub_mlops.availability.state import Availability, Refused
from jupyterhub_mlops.inventory.state import GpuInventory
from jupyterhub_mlops.profiles import (
    GpuProfiles,
    GroupUsage,
    ProfileError,
    Reservation,
    UserLimits,
    evaluate,
    profile_from_config,
    shape_of,
    with_limits,
)
from jupyterhub_mlops.spawn_form import FormError, render_form, validate_choice
from jupyterhub_mlops.spawner import merge_tolerations, profile_overrides, shm_volume

GPU_TAINT = [{"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"}]


def node(name, gpus, product="A100", cpu="64", memory="512Gi", taints=GPU_TAINT, labels=None):
    return {
        "metadata": {"name": name, "labels": {"nvidia.com/gpu.product": product, **(labels or {})}},
        "spec": {"taints": taints},
        "status": {
            "allocatable": {
                "nvidia.com/gpu": str(gpus),
                "cpu": cpu,
                "memory": memory,
                "pods": "110",
            },
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def inventory(*nodes, pods=()):
    inv = GpuInventory()
    for n in nodes:
        inv.apply_node("ADDED", n)
    for p in pods:
        inv.apply_pod("ADDED", p)
    inv.set_in_sync("nodes", True)
    inv.set_in_sync("pods", True)
    return inv


def gpu_pod(name, node_name, gpus):
    return {
        "metadata": {"namespace": "ns", "name": name},
        "spec": {
            "nodeName": node_name,
            "containers": [{"resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}],
        },
        "status": {"phase": "Running"},
    }


def profiles(**config):
    return GpuProfiles(**config)


A4 = {
    "display_name": "Four A100",
    "slug": "a4",
    "gpu_type": "A100",
    "gpus": 4,
    "cpu": "8",
    "memory": "32Gi",
}


def rows_by_slug(rows):
    return {r.profile.slug: r for r in rows}


def test_fragmented_free_gpus_do_not_make_a_four_gpu_server_fit():
    inv = inventory(node("a", 8), node("b", 8), pods=[gpu_pod("p1", "a", 5), gpu_pod("p2", "b", 5)])
    p = profile_from_config(A4)
    row = evaluate([p], inv.snapshot(), [])[0]
    assert (row.free, row.total, row.fits) == (6, 16, 0)
    assert row.reason_code == "none_free"
    assert row.disabled_reason == "Needs 4 on one server; at most 3 are free on any A100 server."


def test_each_refusal_says_what_is_missing():
    inv = inventory(
        node("a", 8, cpu="6"),
        node("b", 4),
        pods=[gpu_pod("p1", "a", 1), gpu_pod("p2", "b", 4)],
    )
    rows = rows_by_slug(
        evaluate(
            [
                profile_from_config({**A4, "slug": "a4"}),  # 7 free on a, but only 6 CPUs there
                profile_from_config({**A4, "slug": "a8", "gpus": 8, "cpu": "1"}),
                profile_from_config({**A4, "slug": "a16", "gpus": 16}),
            ],
            inv.snapshot(),
            [],
        )
    )
    assert (rows["a4"].reason_code, rows["a4"].disabled_reason) == (
        "none_free",
        "Needs 8 CPU and 32Gi memory beside 4 free GPUs on one server; no server has that much free right now.",
    )
    assert rows["a8"].disabled_reason == "Needs 8 on one server; at most 7 are free on any A100 server."
    assert (rows["a16"].reason_code, rows["a16"].disabled_reason) == (
        "no_node_large_enough",
        "Needs 16 on one server; the largest A100 server that takes it has 8.",
    )
    full = inventory(node("a", 2), pods=[gpu_pod("p", "a", 2)])
    row = evaluate([profile_from_config({**A4, "gpus": 1})], full.snapshot(), [])[0]
    assert row.disabled_reason == "Needs 1 on one server; none is free on any A100 server."


def test_a_type_whose_servers_are_all_out_of_service_says_why_each_is():
    cordoned = node("v-0", 4, product="V100")
    cordoned["spec"]["unschedulable"] = True
    tainted = node("v-1", 4, product="V100", taints=GPU_TAINT + [{"key": "repair", "effect": "NoSchedule"}])
    inv = inventory(node("a", 8), cordoned, tainted)
    row = evaluate([profile_from_config({**A4, "gpu_type": "V100", "gpus": 1})], inv.snapshot(), [])[0]
    assert (row.free, row.total, row.fits, row.reason_code) == (0, 0, 0, "servers_unavailable")
    assert row.disabled_reason == (
        "No V100 server takes new work now (v-0: cordoned; v-1: taint repair=:NoSchedule not tolerated)."
    )
    # A server of another pool (a node selector the profile sets) is not out of service.
    pinned = profile_from_config({**A4, "slug": "pinned", "node_selector": {"zone": "z1"}})
    assert evaluate([pinned], inv.snapshot(), [])[0].reason_code == "no_node_large_enough"


def test_cap_and_quota_refusals_name_the_numbers():
    limits = UserLimits(held=1, cap=2, groups=(GroupUsage("lab", 3, 4),))
    assert limits.refusal(2) == (
        "over_cap",
        "Over your cap: you hold 1 GPUs, this profile needs 2 more, and your limit is 2.",
    )
    assert UserLimits(groups=(GroupUsage("lab", 3, 4),)).refusal(2) == (
        "over_group_quota",
        "Over your group's quota: your group lab holds 3 of its 4 GPUs, and this profile needs 2 more.",
    )
    assert UserLimits(groups=(GroupUsage("lab", None, 4),)).refusal(1)[0] == "group_quota_unknown"
    assert limits.refusal(1) is None and limits.refusal(0) is None


def test_untolerated_taints_and_selectors_limit_eligible_nodes():
    inv = inventory(
        node("a", 8),
        node("b", 8, taints=GPU_TAINT + [{"key": "team", "value": "x", "effect": "NoSchedule"}]),
    )
    p = profile_from_config(A4)
    assert evaluate([p], inv.snapshot(), [])[0].fits == 2
    p_team = profile_from_config(
        {
            **A4,
            "slug": "t",
            "tolerations": [{"operator": "Exists"}],
            "node_selector": {"zone": "z1"},
        }
    )
    row = evaluate([p_team], inv.snapshot(), [])[0]
    assert row.reason_code == "no_node_large_enough"  # no node carries zone=z1


def test_profile_too_large_for_any_node_and_unknown_type():
    inv = inventory(node("a", 8))
    big = profile_from_config({**A4, "slug": "big", "gpus": 16})
    other = profile_from_config({**A4, "slug": "h", "gpu_type": "H100"})
    rows = rows_by_slug(evaluate([big, other], inv.snapshot(), []))
    assert rows["big"].reason_code == "no_node_large_enough"
    assert rows["h"].reason_code == "no_gpu_type"


def test_reservations_are_set_aside_before_counting():
    inv = inventory(node("a", 8))
    p1 = profile_from_config({**A4, "slug": "one", "gpus": 1, "cpu": "1", "memory": "1Gi"})
    snap = inv.snapshot()
    shape, selector = shape_of(p1, snap)
    held = [Reservation(f"r{i}", "u", p1, shape, selector, f"ns/p{i}", 1e12) for i in range(7)]
    assert evaluate([p1], snap, [r.claim for r in held])[0].fits == 1
    held.append(Reservation("r8", "u", p1, shape, selector, "ns/p8", 1e12))
    assert evaluate([p1], snap, [r.claim for r in held])[0].reason_code == "none_free"


def pending_notebook(name, owner, gpus, product="A100"):
    """A notebook pod as GPUKubeSpawner builds it, not bound to a node yet."""
    return {
        "metadata": {"namespace": "ns", "name": name, "labels": {"jupyterhub-mlops/user": owner}},
        "spec": {
            "nodeSelector": {"nvidia.com/gpu.product": product},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "containers": [{"resources": {"limits": {"nvidia.com/gpu": str(gpus), "cpu": "1"}}}],
        },
        "status": {"phase": "Pending"},
    }


ONE = {**A4, "slug": "one", "gpus": 1, "cpu": "1", "memory": "1Gi"}


def test_a_pending_notebook_pod_keeps_its_gpus_set_aside_until_bound_or_gone():
    inv = inventory(node("a", 8))
    availability = Availability(inv, profiles(profiles=[ONE], auto_profiles=False))
    # A fresh service (its reservation book is empty) learns of a pending notebook pod.
    inv.apply_pod("ADDED", pending_notebook("jupyter-ann", "ann", 6))
    # A pod without the owner label is not ours: pending, it holds nothing.
    stranger = pending_notebook("other", "x", 8)
    del stranger["metadata"]["labels"]
    inv.apply_pod("ADDED", stranger)
    (claim,) = availability.computed().claims
    assert claim.gpu_type == "A100" and claim.gpus == 6
    row = availability.view_for("bob", [], {})["profiles"][0]
    assert (row["free"], row["fits"]) == (2, 2)
    assert availability.reserved_by_type() == {"A100": 6}
    assert availability.computed().held_by_owner_and_type == {"ann": {"A100": 6}}
    # Bound: its GPUs are now in the node's usage, not claimed twice.
    bound = pending_notebook("jupyter-ann", "ann", 6)
    bound["spec"]["nodeName"] = "a"
    bound["status"]["phase"] = "Running"
    inv.apply_pod("MODIFIED", bound)
    assert availability.computed().claims == []
    assert availability.view_for("bob", [], {})["profiles"][0]["free"] == 2
    # Deleted while pending (a stopped or failed spawn): its GPUs are free again.
    inv.apply_pod("ADDED", pending_notebook("jupyter-cy", "cy", 2))
    assert availability.view_for("bob", [], {})["profiles"][0]["free"] == 0
    inv.apply_pod("DELETED", pending_notebook("jupyter-cy", "cy", 2))
    inv.apply_pod("DELETED", bound)
    assert availability.view_for("bob", [], {})["profiles"][0]["free"] == 8


def test_a_reservation_and_its_pending_pod_are_counted_once():
    inv = inventory(node("a", 8))
    availability = Availability(inv, profiles(profiles=[A4], auto_profiles=False))
    availability.reserve("ann", [], "a4", "ns/jupyter-ann", {})
    assert availability.view_for("bob", [], {})["profiles"][0]["fits"] == 1
    inv.apply_pod("ADDED", pending_notebook("jupyter-ann", "ann", 4))  # the spawn's pod
    assert len(availability.computed().claims) == 1
    assert availability.view_for("bob", [], {})["profiles"][0]["fits"] == 1
    assert availability.view_for("ann", [], {})["user"]["held_gpus"] == 4


def test_caps_per_user_and_per_member_of_a_group():
    config = profiles(user_gpu_cap=4, group_member_gpu_caps={"students": 1, "staff": 8, "banned": 0})
    assert config.cap_for([]) == 4
    assert config.cap_for(["students"]) == 1
    assert config.cap_for(["students", "staff"]) == 8
    assert config.cap_for(["banned"]) == 0
    assert profiles().cap_for([]) is None
    inv = inventory(node("a", 8))
    rows = evaluate([profile_from_config(A4)], inv.snapshot(), [])
    capped = with_limits(rows, UserLimits(held=1, cap=4))[0]
    assert capped.reason_code == "over_cap"
    assert "your limit is 4" in capped.disabled_reason
    assert with_limits(rows, UserLimits(held=0, cap=4))[0].reason_code is None


def test_the_old_name_of_per_member_caps_still_works():
    config = profiles(group_gpu_caps={"students": 1, "staff": 2}, group_member_gpu_caps={"staff": 8})
    assert config.group_member_gpu_caps == {"students": 1, "staff": 8}
    assert config.cap_for(["students"]) == 1


def test_group_quota_counts_what_all_members_hold_together():
    inv = inventory(node("a", 8))
    rows = evaluate([profile_from_config(A4)], inv.snapshot(), [])
    within = with_limits(rows, UserLimits(held=0, groups=(GroupUsage("lab", 4, 8),)))[0]
    assert within.reason_code is None
    over = with_limits(rows, UserLimits(held=0, groups=(GroupUsage("lab", 5, 8),)))[0]
    assert over.reason_code == "over_group_quota"
    assert "your group lab holds 5 of its 8 GPUs" in over.disabled_reason
    unknown = with_limits(rows, UserLimits(groups=(GroupUsage("lab", None, 8),)))[0]
    assert unknown.reason_code == "group_quota_unknown"


def test_availability_sums_the_members_pods_and_reservations_against_the_quota():
    member_pod = gpu_pod("jupyter-ann", "a", 3)
    member_pod["metadata"]["labels"] = {"jupyterhub-mlops/user": "ann"}
    inv = inventory(node("a", 8), node("b", 8), pods=[member_pod])
    config = profiles(
        profiles=[{**ONE, "slug": "two", "gpus": 2}],
        auto_profiles=False,
        group_gpu_quotas={"lab": 6},
    )
    availability = Availability(inv, config)
    lab = {"lab": frozenset({"ann", "bob", "cy"})}
    availability.reserve("bob", ["lab"], "two", "ns/jupyter-bob", lab)  # in flight: 3 + 2 = 5
    doc = availability.view_for("cy", ["lab"], lab)
    assert doc["user"]["groups"] == [{"name": "lab", "held_gpus": 5, "quota": 6}]
    assert doc["profiles"][0]["reason_code"] == "over_group_quota"
    with pytest.raises(Refused) as refused:
        availability.reserve("cy", ["lab"], "two", "ns/jupyter-cy", lab)
    assert refused.value.code == "over_group_quota"
    # Nobody outside the group is limited by it.
    assert availability.view_for("dan", [], {})["profiles"][0]["reason_code"] is None
    # Members unknown (the hub did not answer): no GPUs granted against that quota.
    with pytest.raises(Refused) as refused:
        availability.reserve("cy", ["lab"], "two", "ns/jupyter-cy", {"lab": None})
    assert refused.value.code == "group_quota_unknown"


def test_unknown_when_out_of_sync():
    inv = inventory(node("a", 8))
    inv.set_in_sync("pods", False)
    row = evaluate([profile_from_config(A4)], inv.snapshot(), [])[0]
    assert row.reason_code == "unknown" and row.free is None and row.fits is None


def test_auto_profiles_up_to_the_largest_node_per_type():
    inv = inventory(node("a", 4), node("b", 2, product="T4"))
    config = profiles(profiles=[A4])
    slugs = [p.slug for p in config.all_profiles(inv.snapshot())]
    assert slugs == ["a4", "a100-x1", "a100-x2", "a100-x4", "t4-x1", "t4-x2"]
    cordoned = node("c", 8, product="V100")
    cordoned["spec"]["unschedulable"] = True
    inv.apply_node("ADDED", cordoned)
    assert not [s for s in (p.slug for p in config.all_profiles(inv.snapshot())) if "v100" in s]


def test_bad_profile_config_names_the_field():
    with pytest.raises(ProfileError, match="gpu_type is required"):
        profile_from_config({"display_name": "x", "gpus": 2})
    with pytest.raises(ProfileError, match="gpus must be"):
        profile_from_config({"display_name": "x", "gpus": -1, "gpu_type": "A100"})
    with pytest.raises(ProfileError, match="not a Kubernetes quantity"):
        profile_from_config({"display_name": "x", "memory": "lots"})


ROWS = [
    {"slug": "cpu", "display_name": "CPU", "gpus": 0, "reason_code": None, "disabled_reason": None},
    {
        "slug": "a4",
        "display_name": "Four A100",
        "gpus": 4,
        "reason_code": None,
        "disabled_reason": None,
    },
    {
        "slug": "full",
        "display_name": "Full",
        "gpus": 1,
        "reason_code": "none_free",
        "disabled_reason": "None free.",
    },
    {
        "slug": "capped",
        "display_name": "Capped",
        "gpus": 2,
        "reason_code": "over_cap",
        "disabled_reason": "Over your cap.",
    },
]


@pytest.mark.parametrize(
    "form,status,text",
    [
        ({"profile": ["nope"]}, 400, "There is no profile"),
        ({"profile": ["a4"], "gpus": ["64"]}, 400, "not 64"),
        ({"profile": ["a4"], "gpus": ["-4"]}, 400, "whole number"),
        ({"profile": ["a4"], "gpus": ["4.0"]}, 400, "whole number"),
        ({"profile": ["a4", "cpu"]}, 400, "exactly one"),
        ({"profile": ["y" * 10240]}, 400, "longer than"),
        ({"profile": ["a4"], "cpu_limit": ["64"]}, 400, "Unexpected field"),
        ({"profile": ["full"]}, 409, "None free"),
        ({"profile": ["capped"]}, 403, "Over your cap"),
        ({}, 400, "Choose a profile"),
    ],
)
def test_form_validation_refuses_with_status_and_reason(form, status, text):
    with pytest.raises(FormError) as refused:
        validate_choice(form, ROWS)
    assert refused.value.status == status
    assert text in str(refused.value)


def test_form_validation_accepts_listed_profiles_from_form_and_rest():
    assert validate_choice({"profile": ["a4"], "gpus": ["4"], "_xsrf": ["t"]}, ROWS)["slug"] == "a4"
    assert validate_choice({"profile": "a4", "gpus": 4}, ROWS)["slug"] == "a4"
    assert validate_choice({"profile": "cpu"}, ROWS)["slug"] == "cpu"


def test_rendered_form_escapes_names_and_disables_with_reason():
    doc = {
        "version": 3,
        "in_sync": True,
        "user": {"cap": None, "held_gpus": 0},
        "profiles": [
            dict(
                r,
                display_name=r["display_name"] + "<script>",
                cpu="1",
                memory="1Gi",
                description="",
                free=1,
                total=8,
                fits=1,
                gpu_type="A100",
            )
            for r in ROWS
        ],
    }
    out = render_form(doc, "/s/api/v1/events", "/s/api/v1/snapshot")
    assert "<script>" not in out.split("mlops-gpu-config")[0].replace("<script type", "")
    assert "Four A100&lt;script&gt;" in out
    assert re.search(r'value="full"[^>]* disabled', out) and "None free." in out
    assert "servers of this shape can start now" in out


def test_pod_overrides_as_dicts():
    profile = {
        "gpus": 2,
        "cpu_milli": 8000,
        "memory_bytes": 32 << 30,
        "image": "",
        "tolerations": [{"key": "team", "operator": "Exists"}],
    }
    base = {
        "image": "base:1",
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
        "node_selector": {"pool": "gpu"},
        "volumes": [],
        "volume_mounts": [],
        "extra_resource_limits": {},
        "extra_resource_guarantees": {},
    }
    out = profile_overrides(profile, {"nvidia.com/gpu.product": "A100"}, "nvidia.com/gpu", base=base, shm_size="")
    assert out == {
        "image": "base:1",
        "cpu_guarantee": 8.0,
        "cpu_limit": 8.0,
        "mem_guarantee": 32 << 30,
        "mem_limit": 32 << 30,
        "extra_resource_limits": {"nvidia.com/gpu": "2"},
        "extra_resource_guarantees": {"nvidia.com/gpu": "2"},
        "node_selector": {"pool": "gpu", "nvidia.com/gpu.product": "A100"},
        "tolerations": [base["tolerations"][0], {"key": "team", "operator": "Exists"}],
        "volumes": [{"name": "dshm", "emptyDir": {"medium": "Memory", "sizeLimit": str(16 << 30)}}],
        "volume_mounts": [{"name": "dshm", "mountPath": "/dev/shm"}],
    }
    mig = profile_overrides({**profile, "gpus": 1}, {}, "nvidia.com/mig-1g.10gb", base=base, shm_size="1Gi")
    assert mig["extra_resource_limits"] == {"nvidia.com/mig-1g.10gb": "1"}
    assert mig["volumes"][0]["emptyDir"]["sizeLimit"] == "1Gi"


def test_small_builders():
    assert shm_volume("")[0] == {"name": "dshm", "emptyDir": {"medium": "Memory"}}
    assert merge_tolerations([{"key": "a"}], [{"key": "a"}, {"key": "b"}]) == [
        {"key": "a"},
        {"key": "b"},
    ]
