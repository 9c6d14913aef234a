"""Hera workflows through a real Argo Server, from the Python API.

``argo_server`` is ``argo server --auth-mode=client`` (built from the Argo
Workflows Go module) talking to the local API server: it creates each
Workflow with the caller's own service-account token, so RBAC decides as it
does for a direct create. Its own service account may only read. The
``workflows.argoproj.io/creator`` label it writes from the token's subject
shows which way, and with whose token, a Workflow went in. Argo's real
workflow-controller runs what it creates (``argo_workflows``).
"""

from __future__ import annotations

import uuid

import pytest
from hera.workflows import Container, Workflow
from jupyter_mlops.jobs import (
    ClusterUnreachable,
    JobsClient,
    NotFound,
    PermissionDenied,
    Snapshot,
    get_job,
    list_jobs,
    submit_workflow,
)
from jupyter_mlops.jobs.kind import SNAPSHOT_ANNOTATION
from jupyter_mlops.jobs.kube import KubeClient

from tests.jobs_support import IMAGE, argo_creator_label
from tests.mlops_testing import closed_port, wait_for

pytestmark = pytest.mark.cluster
CREATOR = "workflows.argoproj.io/creator"


def hera_workflow(name: str) -> Workflow:
    with Workflow(name=name, entrypoint="train") as workflow:
        Container(name="train", image=IMAGE, command=["python", "train.py"])
    return workflow


def test_hera_workflow_goes_in_through_the_argo_server_with_the_users_token(
    alice, argo_server, controller, code_dir, argo_workflows
):
    client = JobsClient.from_environment({**alice.environment(), "MLOPS_ARGO_SERVER": argo_server.url})
    name = f"via-argo-{uuid.uuid4().hex[:6]}"

    handle = submit_workflow(hera_workflow(name), snapshot=Snapshot(code_dir), client=client)

    # The object is in the API server, created by the Argo Server for alice's service account.
    created = controller.get("workflow", alice.namespace, name)
    labels = created["metadata"]["labels"]
    assert labels[CREATOR] == argo_creator_label(alice.namespace, alice.service_account)
    assert labels["jupyterhub-mlops/submitted-by"] == "jupyter-mlops"
    configmap = created["metadata"]["annotations"][SNAPSHOT_ANNOTATION]
    owners = controller.core.read_namespaced_config_map(configmap, alice.namespace).metadata.owner_references
    assert [(o.kind, o.uid) for o in owners] == [("Workflow", created["metadata"]["uid"])]

    # The workflow-controller runs it, as the account the suite gave its steps.
    assert created["spec"]["serviceAccountName"] == alice.workflow_service_account
    assert handle.wait(timeout=120)["state"] == "Succeeded", handle.status()
    # Its one step is the workflow's root node, which Argo names after the workflow.
    assert [(s["name"], s["state"]) for s in handle.status()["parts"]] == [(name, "Succeeded")]
    assert list(handle.logs(name)) == ["accuracy=0.9"]
    assert get_job("workflow", name, client=client).get()["metadata"]["uid"] == created["metadata"]["uid"]
    assert name in [job["name"] for job in list_jobs("workflow", client=client)]

    handle.delete()
    wait_for(
        lambda: not controller.exists("workflow", alice.namespace, name), timeout=30, what="the workflow to be deleted"
    )
    controller.wait_gone(alice.namespace, configmap)
    with pytest.raises(NotFound):
        handle.get()


def test_the_argo_server_path_is_only_taken_when_configured(alice, controller):
    # Without an Argo Server the Workflow goes straight to the Kubernetes API:
    # nothing stamps a creator on it.
    name = f"direct-{uuid.uuid4().hex[:6]}"
    handle = submit_workflow(hera_workflow(name), client=alice.client())
    assert CREATOR not in controller.get("workflow", alice.namespace, name)["metadata"]["labels"]
    handle.delete()


def test_bob_cannot_create_in_alices_namespace_through_the_argo_server(alice, bob, argo_server, controller):
    bob_in_alices = JobsClient(KubeClient(bob.credentials(alice.namespace)), argo_server_url=argo_server.url)
    name = f"intrusion-{uuid.uuid4().hex[:6]}"

    with pytest.raises(PermissionDenied) as denied:
        submit_workflow(hera_workflow(name), client=bob_in_alices)

    assert denied.value.http_status == 403
    assert denied.value.details["permission"] == f"create workflows.argoproj.io in namespace {alice.namespace!r}"
    # The API server refused bob's own service account, not the Argo Server's.
    assert f"system:serviceaccount:{bob.namespace}:{bob.service_account}" in denied.value.details["server_message"]
    assert not controller.exists("workflow", alice.namespace, name)


def test_unreachable_argo_server_is_503_and_creates_nothing(alice, controller, code_dir):
    client = JobsClient(KubeClient(alice.credentials()), argo_server_url=f"http://127.0.0.1:{closed_port()}")
    name = f"unreached-{uuid.uuid4().hex[:6]}"

    with pytest.raises(ClusterUnreachable) as refused:
        submit_workflow(hera_workflow(name), snapshot=Snapshot(code_dir), client=client)

    assert refused.value.http_status == 503
    assert refused.value.message.startswith(f"The Argo Server at {client.argo_server_url} did not answer")
    assert "was not submitted" in refused.value.message
    assert not controller.exists("workflow", alice.namespace, name)
    assert not controller.configmap_exists(alice.namespace, Snapshot(code_dir).build().configmap_name)


def test_an_argo_server_that_never_answers_is_503_within_the_timeout(alice, controller):
    import socket

    with socket.socket() as silent:  # accepts connections (the kernel's backlog), never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        client = JobsClient(
            KubeClient(alice.credentials(), timeout=1),
            argo_server_url=f"http://127.0.0.1:{silent.getsockname()[1]}",
        )
        name = f"unanswered-{uuid.uuid4().hex[:6]}"
        with pytest.raises(ClusterUnreachable) as refused:
            submit_workflow(hera_workflow(name), client=client)

    assert refused.value.http_status == 503
    assert "did not answer within 1s" in refused.value.message
    assert "list your jobs" in refused.value.message
    assert not controller.exists("workflow", alice.namespace, name)
