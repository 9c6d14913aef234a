"""The utilisation benchmark's workloads as Kubernetes objects, and the KWOK stage
that finishes them: both name the same annotations."""

from __future__ import annotations

import yaml
from mlops_cluster.paths import CLUSTER_DIR
from mlops_cluster.simulated_runs import DURATION_ANNOTATION, FOR_DURATION, SIMULATE_ANNOTATION, run_for
from mlops_contract.queueing import JOB, LOCAL_QUEUE, NOTEBOOK, NOTEBOOK_QUEUE, PRIORITY_CLASS_LABEL, QUEUE_NAME_LABEL

from benchmarks.utilisation.objects import STATIC_TAINT, WORKLOAD_LABEL, workload_object
from benchmarks.utilisation.trace import Workload

WIDE = Workload("job-1-3", "researcher1", JOB, 5, 2.0, 2, 4)
NB = Workload("nb-2-0", "researcher2", NOTEBOOK, 9, 6.0, 1, 1, busy=((0, 1),))


def test_a_queued_training_job_is_a_suspended_job_of_all_its_pods_in_the_batch_queue():
    job = workload_object(WIDE, factor=3600)
    assert job["kind"] == "Job"
    assert job["metadata"]["namespace"] == "mlops-researcher1"
    assert job["metadata"]["labels"] == {
        WORKLOAD_LABEL: "job-1-3",
        QUEUE_NAME_LABEL: LOCAL_QUEUE,
        PRIORITY_CLASS_LABEL: JOB.name,
    }
    spec = job["spec"]
    assert (spec["parallelism"], spec["completions"], spec["suspend"]) == (2, 2, True)
    template = spec["template"]
    assert template["metadata"]["annotations"] == {SIMULATE_ANNOTATION: FOR_DURATION, DURATION_ANNOTATION: "2000ms"}
    assert template["spec"]["containers"][0]["resources"]["limits"] == {"nvidia.com/gpu": "4"}
    assert "nodeSelector" not in template["spec"]


def test_a_notebook_is_a_pod_in_the_notebook_queue_and_static_work_is_pinned_and_unqueued():
    pod = workload_object(NB, factor=1800)
    assert pod["kind"] == "Pod"
    assert pod["metadata"]["labels"][QUEUE_NAME_LABEL] == NOTEBOOK_QUEUE
    assert pod["metadata"]["annotations"][DURATION_ANNOTATION] == "12000ms"
    pinned = workload_object(WIDE, factor=3600, pinned_to="lab-gpu-0")
    assert pinned["metadata"]["labels"] == {WORKLOAD_LABEL: "job-1-3"}
    assert pinned["spec"]["suspend"] is False
    assert pinned["spec"]["template"]["spec"]["nodeSelector"] == {"kubernetes.io/hostname": "lab-gpu-0"}
    # Outside the namespaces the hub provisions, where Kueue's webhooks act.
    assert pinned["metadata"]["namespace"] == "static-mlops-researcher1"
    assert {**STATIC_TAINT, "operator": "Equal"} in pinned["spec"]["template"]["spec"]["tolerations"]
    assert len(pod["spec"]["tolerations"]) == 1
    # The hub's notebook pods have no owner: the admission policy gives only those the notebook class.
    assert "ownerReferences" not in pod["metadata"]


def test_the_kwok_stage_reads_the_annotations_run_for_writes():
    stages = {s["metadata"]["name"]: s for s in yaml.safe_load_all((CLUSTER_DIR / "kwok" / "stages.yaml").read_text())}
    stage = stages["pod-complete-after-duration"]["spec"]
    assert {"key": f'.metadata.annotations["{SIMULATE_ANNOTATION}"]', "operator": "In", "values": [FOR_DURATION]} in (
        stage["selector"]["matchExpressions"]
    )
    assert stage["delay"]["durationFrom"]["jq"]["expression"] == f'.metadata.annotations["{DURATION_ANNOTATION}"]'
    # The stage that finishes a Job's pods a second after they run leaves these alone.
    job_stage = stages["pod-complete-job"]["spec"]["selector"]["matchExpressions"]
    assert {"key": f'.metadata.annotations["{SIMULATE_ANNOTATION}"]', "operator": "DoesNotExist"} in job_stage
    assert run_for(1.2345) == {SIMULATE_ANNOTATION: FOR_DURATION, DURATION_ANNOTATION: "1234ms"}
