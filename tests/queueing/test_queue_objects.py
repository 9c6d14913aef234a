"""The suite's Kueue objects as dicts: the quotas the hub enforces, turned into Kueue's."""

from __future__ import annotations

import pytest
from jupyterhub_mlops.queues import (
    QuotaError,
    check_quotas,
    cluster_objects,
    cluster_queues,
    local_queues,
    queue_group,
    split_quota,
    stranded,
)
from mlops_contract.queueing import (
    COHORT,
    LOCAL_QUEUE,
    NOTEBOOK,
    NOTEBOOK_QUEUE,
    SHARED_GROUP,
    TRIAL,
    WORKLOAD_PRIORITY_CLASSES,
    batch_queue_name,
    cluster_queue_name,
    resource_flavor_name,
)

FLEET = {"NVIDIA-A100-SXM4-80GB": 12, "NVIDIA-H100-80GB-HBM3": 4}


def quota_of(queue: dict) -> dict[str, tuple[int, int | None]]:
    (group,) = queue["spec"]["resourceGroups"]
    return {
        f["name"]: (f["resources"][0]["nominalQuota"], f["resources"][0].get("borrowingLimit"))
        for f in group["flavors"]
    }


@pytest.mark.parametrize(
    ("quota", "expected"),
    [
        (4, {"NVIDIA-A100-SXM4-80GB": 3, "NVIDIA-H100-80GB-HBM3": 1}),
        (6, {"NVIDIA-A100-SXM4-80GB": 5, "NVIDIA-H100-80GB-HBM3": 1}),  # 4.5 / 1.5: ties go by name
        (16, FLEET),
        (40, FLEET),  # never more than a type has
        (0, {"NVIDIA-A100-SXM4-80GB": 0, "NVIDIA-H100-80GB-HBM3": 0}),
    ],
)
def test_a_quota_is_split_over_gpu_types_in_proportion_and_adds_up(quota, expected):
    shares = split_quota(quota, FLEET)
    assert shares == expected
    assert sum(shares.values()) == min(quota, sum(FLEET.values()))


def test_quotas_that_promise_more_than_the_cluster_has_are_refused_with_what_to_change():
    with pytest.raises(QuotaError) as refused:
        check_quotas({"vision": 10, "nlp": 9}, FLEET)
    message = str(refused.value)
    assert "promise 19 GPUs" in message and "has 16" in message and "by 3" in message
    check_quotas({"vision": 10, "nlp": 6}, FLEET)  # exactly the cluster: fine


def test_each_group_gets_its_quota_and_a_batch_queue_and_the_rest_is_shared():
    queues = {q["metadata"]["name"]: q for q in cluster_queues({"vision": 8, "nlp": 4}, FLEET)}
    a100, h100 = (resource_flavor_name(t) for t in sorted(FLEET))
    assert set(queues) == {cluster_queue_name(g) for g in ("vision", "nlp", SHARED_GROUP)} | {
        batch_queue_name(g) for g in ("vision", "nlp", SHARED_GROUP)
    }
    assert quota_of(queues[cluster_queue_name("vision")]) == {a100: (6, 0), h100: (2, 0)}
    assert quota_of(queues[cluster_queue_name("nlp")]) == {a100: (3, 0), h100: (1, 0)}
    assert quota_of(queues[cluster_queue_name(SHARED_GROUP)]) == {a100: (3, 0), h100: (1, 0)}
    # Batch queues own nothing and may borrow everything.
    for group in ("vision", "nlp", SHARED_GROUP):
        assert quota_of(queues[batch_queue_name(group)]) == {a100: (0, None), h100: (0, None)}
    # Every GPU is in exactly one quota.
    held = [quota_of(q) for q in queues.values()]
    assert sum(h[a100][0] for h in held) == 12 and sum(h[h100][0] for h in held) == 4
    for queue in queues.values():
        assert queue["spec"]["cohortName"] == COHORT
        preemption = queue["spec"]["preemption"]
        # Only lower priorities are ever preempted: notebooks, the highest, never are.
        assert preemption["reclaimWithinCohort"] == preemption["withinClusterQueue"] == "LowerPriority"
        assert preemption["borrowWithinCohort"] == {"policy": "Never"}


def test_rounding_never_hands_out_a_gpu_twice():
    fleet = {"A": 1, "B": 1, "C": 1}
    queues = cluster_queues({"g1": 1, "g2": 1, "g3": 1}, fleet)
    totals: dict[str, int] = {}
    for queue in queues:
        for flavor, (nominal, _) in quota_of(queue).items():
            totals[flavor] = totals.get(flavor, 0) + nominal
    assert totals == {resource_flavor_name(t): 1 for t in fleet}
    mine = [quota_of(q) for q in queues if q["metadata"]["name"] in {cluster_queue_name(g) for g in ("g1", "g2", "g3")}]
    assert all(sum(n for n, _ in q.values()) == 1 for q in mine)


def test_a_user_queues_in_their_first_group_with_a_quota_else_the_shared_one():
    quotas = {"vision": 4, "nlp": 2}
    assert queue_group(["students", "vision", "nlp"], quotas) == "nlp"
    assert queue_group(["students"], quotas) == SHARED_GROUP
    queues = {q["metadata"]["name"]: q["spec"]["clusterQueue"] for q in local_queues("mlops-alice", "nlp")}
    assert queues == {NOTEBOOK_QUEUE: cluster_queue_name("nlp"), LOCAL_QUEUE: batch_queue_name("nlp")}


def test_priority_classes_rank_notebooks_above_jobs_above_trials():
    objects = cluster_objects({"vision": 4}, FLEET)
    classes = {o["metadata"]["name"]: o["value"] for o in objects if o["kind"] == "WorkloadPriorityClass"}
    assert classes == {c.name: c.value for c in WORKLOAD_PRIORITY_CLASSES}
    assert classes[NOTEBOOK.name] == max(classes.values()) and classes[TRIAL.name] == min(classes.values())
    flavors = [o for o in objects if o["kind"] == "ResourceFlavor"]
    assert [f["spec"]["nodeLabels"] for f in flavors] == [{"nvidia.com/gpu.product": t} for t in sorted(FLEET)]
    kinds = [o["kind"] for o in objects]
    assert kinds.index("Topology") < kinds.index("ResourceFlavor") < kinds.index("ClusterQueue")  # applied in order


def test_every_flavor_places_workloads_server_by_server():
    """Each GPU type's flavor names the one topology, whose only level is the server: Kueue
    then admits a workload only where each of its pods fits on a node."""
    objects = cluster_objects({"vision": 4}, FLEET)
    (topology,) = [o for o in objects if o["kind"] == "Topology"]
    assert topology["spec"]["levels"] == [{"nodeLabel": "kubernetes.io/hostname"}]
    flavors = [o for o in objects if o["kind"] == "ResourceFlavor"]
    assert flavors and {f["spec"]["topologyName"] for f in flavors} == {topology["metadata"]["name"]}


def test_a_quota_per_gpu_type_is_taken_as_given_and_the_rest_shared():
    a100, h100 = sorted(FLEET)
    queues = {q["metadata"]["name"]: q for q in cluster_queues({"lab-a": {a100: 4}, "nlp": 4}, FLEET)}
    a100_flavor, h100_flavor = (resource_flavor_name(t) for t in (a100, h100))
    assert quota_of(queues[cluster_queue_name("lab-a")]) == {a100_flavor: (4, 0), h100_flavor: (0, 0)}
    # nlp's 4 of any type come from what lab-a left (8 A100, 4 H100), in proportion.
    nlp = quota_of(queues[cluster_queue_name("nlp")])
    assert nlp == {a100_flavor: (3, 0), h100_flavor: (1, 0)}
    assert quota_of(queues[cluster_queue_name(SHARED_GROUP)]) == {a100_flavor: (5, 0), h100_flavor: (3, 0)}


@pytest.mark.parametrize(
    ("quotas", "said"),
    [
        ({"lab-a": {"NVIDIA-H100-80GB-HBM3": 5}}, "promise 5 NVIDIA-H100-80GB-HBM3 GPUs but the cluster has 4"),
        ({"lab-a": {"NVIDIA-V100": 1}}, "a type the cluster does not have"),
        ({"lab-a": {"NVIDIA-A100-SXM4-80GB": 12}, "nlp": 5}, "promise 17 GPUs"),
    ],
)
def test_quotas_per_type_the_cluster_cannot_hold_are_refused_saying_what_to_change(quotas, said):
    with pytest.raises(QuotaError) as refused:
        check_quotas(quotas, FLEET)
    assert said in str(refused.value)


def test_a_quota_below_what_a_groups_running_notebooks_hold_is_refused_with_what_to_do():
    a100 = "NVIDIA-A100-SXM4-80GB"
    flavor = resource_flavor_name(a100)
    now = {
        "metadata": {"name": cluster_queue_name("lab-a")},
        "status": {"flavorsUsage": [{"name": flavor, "resources": [{"name": "nvidia.com/gpu", "total": "3"}]}]},
    }
    borrowed = {  # jobs on lent GPUs in the batch queue do not hold a quota up
        "metadata": {"name": batch_queue_name("lab-a")},
        "status": {"flavorsUsage": [{"name": flavor, "resources": [{"name": "nvidia.com/gpu", "total": "8"}]}]},
    }
    fleet = {a100: 16}
    assert stranded(cluster_objects({"lab-a": {a100: 3}}, fleet), [now, borrowed]) == []
    (refusal,) = stranded(cluster_objects({"lab-a": {a100: 2}}, fleet), [now, borrowed])
    assert refusal == (
        f"lab-a's quota of {a100} GPUs would be 2, but its running notebooks hold 3: "
        "keep it at 3 or more until notebooks holding 1 of those GPUs have stopped"
    )
