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
    """A PyTorchJob, the kind a notebook's account may create, suspended: whether admission
    lets it in is all these tests ask."""
    template = {"spec": {"containers": [{"name": "pytorch", "image": "busybox", "command": ["true"]}]}}
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": f"line-{uuid.uuid4().hex[:6]}", "labels": labels},
        "spec": {
            "runPolicy": {"suspend": True},
            "pytorchReplicaSpecs": {"Master": {"replicas": 1, "restartPolicy": "Never", "template": template}},
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


PYTORCHJOBS = ("kubeflow.org", "v1", "pytorchjobs")


def test_a_notebooks_job_may_not_take_the_notebook_class_or_queue(alice):
    custom = kubernetes.client.CustomObjectsApi(alice.api_client())

    def create(labels):
        return custom.create_namespaced_custom_object(*PYTORCHJOBS[:2], alice.namespace, PYTORCHJOBS[2], job(labels))

    for labels in ({QUEUE_NAME_LABEL: NOTEBOOK_QUEUE}, {PRIORITY_CLASS_LABEL: NOTEBOOK.name}):
        error = refusal(lambda labels=labels: create(labels))
        assert error.status == 403
        assert "belong to notebook servers" in error.body and "'gpus'" in error.body
    # The suite's own labels for a job pass.
    made = create({QUEUE_NAME_LABEL: "gpus", PRIORITY_CLASS_LABEL: JOB.name})
    custom.delete_namespaced_custom_object(*PYTORCHJOBS[:2], alice.namespace, PYTORCHJOBS[2], made["metadata"]["name"])
    # The refusals made nothing.
    left = custom.list_namespaced_custom_object(
        *PYTORCHJOBS[:2], alice.namespace, PYTORCHJOBS[2], label_selector=f"{QUEUE_NAME_LABEL}={NOTEBOOK_QUEUE}"
    )
    assert not left["items"]
