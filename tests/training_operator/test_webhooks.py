"""The API server calls the Training Operator's validating webhook before it stores a PyTorchJob.

A job the CRD's schema accepts but the operator's rules refuse (v1.9.4's
``pkg/webhooks/pytorch``: every replica needs a container named ``pytorch``, the
Master exactly one replica) is turned away with the webhook's own words, and
nothing is stored. The API server's "admission webhook ... denied the request"
says the refusal is the webhook's, not the CRD schema's.
"""

from __future__ import annotations

import json

import kubernetes
import pytest

pytestmark = pytest.mark.cluster
GROUP = ("kubeflow.org", "v1")
WEBHOOK = "validator.pytorchjob.training-operator.kubeflow.org"


def pytorchjob(name: str, container: str = "pytorch", master_replicas: int = 1) -> dict:
    def replica(count: int) -> dict:
        return {
            "replicas": count,
            "restartPolicy": "OnFailure",
            "template": {
                "spec": {
                    "containers": [
                        {"name": container, "image": "python:3.12-slim", "command": ["python", "-c", "print('hi')"]}
                    ]
                }
            },
        }

    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": name},
        "spec": {
            "runPolicy": {"backoffLimit": 1, "suspend": True},
            "pytorchReplicaSpecs": {"Master": replica(master_replicas)},
        },
    }


def create(api_client, namespace: str, body: dict) -> dict:
    custom = kubernetes.client.CustomObjectsApi(api_client)
    return custom.create_namespaced_custom_object(*GROUP, namespace, "pytorchjobs", body)


def exists(api_client, namespace: str, name: str) -> bool:
    custom = kubernetes.client.CustomObjectsApi(api_client)
    try:
        custom.get_namespaced_custom_object(*GROUP, namespace, "pytorchjobs", name)
        return True
    except kubernetes.client.ApiException as exc:
        if exc.status == 404:
            return False
        raise


@pytest.mark.parametrize(
    ("fields", "rule"),
    [
        ({"container": "trainer"}, "must have at least one container with name pytorch"),
        ({"master_replicas": 2}, "must be 1"),
    ],
)
def test_the_operators_webhook_refuses_what_its_rules_forbid(carol, fields, rule):
    name = "refused"
    with pytest.raises(kubernetes.client.ApiException) as refused:
        create(carol.api_client(), carol.namespace, pytorchjob(name, **fields))
    assert refused.value.status == 403, refused.value.body  # controller-runtime's "denied"
    message = json.loads(refused.value.body)["message"]
    assert message.startswith(f'admission webhook "{WEBHOOK}" denied the request'), message
    assert rule in message
    assert not exists(carol.api_client(), carol.namespace, name)


def test_a_job_within_the_rules_is_admitted(carol):
    name = "admitted"
    create(carol.api_client(), carol.namespace, pytorchjob(name))
    assert exists(carol.api_client(), carol.namespace, name)
    kubernetes.client.CustomObjectsApi(carol.api_client()).delete_namespaced_custom_object(
        *GROUP, carol.namespace, "pytorchjobs", name
    )
