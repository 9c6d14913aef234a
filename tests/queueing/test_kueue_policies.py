"""Who may stand where in Kueue's line, as the real API server enforces it
(helm-values/kueue-policies.yaml, ValidatingAdmissionPolicy) for a notebook's own account."""

from __future__ import annotations

import uuid

import kubernetes
import pytest
import yaml
from mlops_cluster.paths import SUITE_KUEUE_POLICIES
from mlops_contract.queueing import JOB, NOTEBOOK, NOTEBOOK_QUEUE, PRIORITY_CLASS_LABEL, QUEUE_NAME_LABEL

pytestmark = pytest.mark.cluster


def job(labels: dict) -> dict:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": {"name": f"line-{uuid.uuid4().hex[:6]}", "labels": labels},
        "spec": {
            # Created suspended: whether admission lets it in is all this test asks.
            "suspend": True,
            "template": {"spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "busybox"}]}},
        },
    }


def refusal(call) -> kubernetes.client.ApiException:
    with pytest.raises(kubernetes.client.ApiException) as refused:
        call()
    return refused.value


def test_the_policies_name_the_contracts_labels_and_values():
    text = SUITE_KUEUE_POLICIES.read_text()
    for fact in (QUEUE_NAME_LABEL, PRIORITY_CLASS_LABEL, NOTEBOOK.name, f"'{NOTEBOOK_QUEUE}'"):
        assert fact in text
    kinds = [doc["kind"] for doc in yaml.safe_load_all(text)]
    assert kinds.count("ValidatingAdmissionPolicy") == kinds.count("ValidatingAdmissionPolicyBinding") == 2


def test_a_notebooks_job_may_not_take_the_notebook_class_or_queue(alice):
    batch = kubernetes.client.BatchV1Api(alice.api_client())
    for labels in ({QUEUE_NAME_LABEL: NOTEBOOK_QUEUE}, {PRIORITY_CLASS_LABEL: NOTEBOOK.name}):
        error = refusal(lambda labels=labels: batch.create_namespaced_job(alice.namespace, job(labels)))
        assert error.status == 403
        assert "belong to notebook servers" in error.body and "'gpus'" in error.body
    # The suite's own labels for a job pass.
    made = batch.create_namespaced_job(alice.namespace, job({QUEUE_NAME_LABEL: "gpus", PRIORITY_CLASS_LABEL: JOB.name}))
    batch.delete_namespaced_job(made.metadata.name, alice.namespace, propagation_policy="Background")
    # The refusals made nothing.
    assert not batch.list_namespaced_job(alice.namespace, label_selector=f"{QUEUE_NAME_LABEL}={NOTEBOOK_QUEUE}").items
