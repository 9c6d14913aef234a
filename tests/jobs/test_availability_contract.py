"""The hub's availability document, as the notebook side reads it.

The two sides never import each other in production; this test holds them to
one contract: the inventory's ``gpu_types`` (what the availability service
serves) decides a job's fit exactly, one node at a time.
"""

from __future__ import annotations

from jupyter_mlops.jobs.availability import check_cap, check_fit
from jupyterhub_mlops.availability.state import Availability
from jupyterhub_mlops.inventory.state import GpuInventory
from jupyterhub_mlops.profiles import GpuProfiles

A100 = "NVIDIA-A100-SXM4-80GB"


def node(name: str) -> dict:
    return {
        "metadata": {"name": name, "labels": {"nvidia.com/gpu.product": A100}},
        "spec": {},
        "status": {
            "allocatable": {"nvidia.com/gpu": "8", "cpu": "64", "memory": "512Gi", "pods": "110"},
            "conditions": [{"type": "Ready", "status": "True"}],
        },
    }


def pod(name: str, node_name: str, gpus: int, owner: str | None = None) -> dict:
    labels = {"jupyterhub-mlops/user": owner} if owner else {}
    return {
        "metadata": {"name": name, "namespace": "others", "uid": name, "labels": labels},
        "spec": {
            "nodeName": node_name,
            "containers": [{"name": "c", "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}],
        },
        "status": {"phase": "Running"},
    }


def document(inventory: GpuInventory) -> dict:
    return {"gpu_types": inventory.snapshot().gpu_types()}


def test_fit_is_decided_per_node_from_the_served_document():
    inventory = GpuInventory()
    for name in ("a", "b"):
        inventory.apply_node("ADDED", node(name))
    for kind in ("nodes", "pods"):
        inventory.set_in_sync(kind, True)
    inventory.apply_pod("ADDED", pod("p1", "a", 5))
    inventory.apply_pod("ADDED", pod("p2", "b", 7))  # free: 3 on a, 1 on b

    served = document(inventory)
    assert sorted(served["gpu_types"][A100]["free_per_node"]) == [1, 3]
    assert check_fit(served, A100, 3, 1).fits
    assert not check_fit(served, A100, 4, 1).fits  # 4 free in all, but never on one node
    assert check_fit(served, A100, 1, 4).fits
    assert not check_fit(served, A100, 2, 2).fits  # one pod of 2 fits on a, none on b


def test_unknown_availability_does_not_refuse():
    inventory = GpuInventory()
    inventory.apply_node("ADDED", node("a"))  # never in sync: the document says unknown
    fit = check_fit(document(inventory), A100, 1, 1)
    assert fit.fits and "unknown" in fit.message


def test_cap_is_decided_from_the_users_own_served_document():
    """The service's per-user answer (``user: {held_gpus, cap}``) decides the cap check."""
    inventory = GpuInventory()
    inventory.apply_node("ADDED", node("a"))
    for kind in ("nodes", "pods"):
        inventory.set_in_sync(kind, True)
    inventory.apply_pod("ADDED", pod("alice-server", "a", 3, owner="alice"))  # her notebook
    availability = Availability(inventory, GpuProfiles(user_gpu_cap=4))

    alices = availability.view_for("alice", [], {})
    assert alices["user"] == {"owner": "alice", "held_gpus": 3, "cap": 4, "groups": []}
    assert check_cap(alices, 1, 1).within
    over = check_cap(alices, 1, 2)
    assert not over.within
    assert over.message == ("Over your GPU cap: you hold 3 GPUs, this job needs 2 more, and your limit is 4")
    assert check_cap(availability.view_for("bob", [], {}), 2, 2).within  # bob holds nothing
    uncapped = Availability(inventory, GpuProfiles()).view_for("alice", [], {})
    assert check_cap(uncapped, 8, 8).within


def test_group_quota_is_decided_from_the_users_own_served_document():
    """A group's quota counts what all its members hold; a group whose members the hub
    could not list is not held against the job."""
    inventory = GpuInventory()
    inventory.apply_node("ADDED", node("a"))
    for kind in ("nodes", "pods"):
        inventory.set_in_sync(kind, True)
    inventory.apply_pod("ADDED", pod("erin-server", "a", 2, owner="erin"))
    inventory.apply_pod("ADDED", pod("frank-job", "a", 3, owner="frank"))
    availability = Availability(inventory, GpuProfiles(group_gpu_quotas={"lab": 6}))
    members = {"lab": frozenset({"erin", "frank"})}

    erins = availability.view_for("erin", ["lab"], members)
    assert erins["user"]["groups"] == [{"name": "lab", "held_gpus": 5, "quota": 6}]
    assert check_cap(erins, 1, 1).within
    over = check_cap(erins, 2, 1)
    assert not over.within
    assert over.message == (
        "Over your group's GPU quota: your group lab holds 5 of its 6 GPUs, and this job needs 2 more"
    )
    unknown = availability.view_for("erin", ["lab"], {"lab": None})
    assert check_cap(unknown, 2, 1).within
    assert check_cap(availability.view_for("gina", [], {}), 6, 1).within  # not in the group
