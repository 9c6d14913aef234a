"""The REST API with an Argo Server configured (``MlopsJobs.argo_server_url``).

A real jupyter-server runs the extension as a user's service account; a
real ``argo server --auth-mode=client`` (see tests/jobs/test_argo_server.py)
creates the workflows it submits, with that same token. Every response is
held to openapi.json. Argo's real workflow-controller runs what it creates
(``argo_workflows``: its step pods run as local processes).
"""

from __future__ import annotations

import asyncio
import uuid

import pytest
from hera.workflows import Container, Workflow
from jupyter_mlops.jobs import Snapshot

from tests.jobs_support import IMAGE, argo_creator_label, on_server_loop, server_config
from tests.jobs_support import call_api as call
from tests.mlops_testing import closed_port, wait_for

pytestmark = pytest.mark.cluster
pytest_plugins = ["pytest_jupyter.jupyter_server"]
CREATOR = "workflows.argoproj.io/creator"


@pytest.fixture
def setup(request, alice, bob, argo_server):
    """(user, namespace, Argo Server URL) the server acts with; default alice, the real server."""
    who = getattr(request, "param", "alice")
    if who == "bob-on-alice":
        return bob, alice.namespace, argo_server.url
    if who == "argo-server-down":
        return alice, alice.namespace, f"http://127.0.0.1:{closed_port()}"
    return alice, alice.namespace, argo_server.url


@pytest.fixture
def jp_server_config(setup):
    user, namespace, argo_url = setup
    return server_config(user, namespace, argo_server_url=argo_url)


def manifest(name: str) -> dict:
    with Workflow(name=name, entrypoint="train") as workflow:
        Container(name="train", image=IMAGE, command=["python", "train.py"])
    return workflow.to_dict()


@on_server_loop
async def test_workflow_through_rest_goes_in_via_the_argo_server(jp_fetch, alice, controller, project, argo_workflows):
    name = f"rest-argo-{uuid.uuid4().hex[:6]}"
    code, created = await call(
        jp_fetch,
        "POST",
        "/jobs/workflows",
        "jobs",
        "workflows",
        body={"manifest": manifest(name), "snapshot": {"path": project}},
    )
    assert (code, created["kind"], created["name"]) == (201, "workflow", name), created

    obj = controller.get("workflow", alice.namespace, name)
    assert obj["metadata"]["labels"][CREATOR] == argo_creator_label(alice.namespace, alice.service_account)
    configmap = obj["metadata"]["annotations"]["jupyterhub-mlops/snapshot"]
    assert controller.configmap_exists(alice.namespace, configmap)

    # Argo's workflow-controller runs it: the step's pod runs train.py from the snapshot.
    for _ in range(240):
        code, detail = await call(jp_fetch, "GET", "/jobs/{kind}/{name}", "jobs", "workflows", name)
        if detail["state"] in ("Succeeded", "Failed"):
            break
        await asyncio.sleep(0.5)
    assert (code, detail["state"], detail["part_noun"]) == (200, "Succeeded", "step"), detail
    # Its one step is the workflow's root node, which Argo names after the workflow.
    assert [(p["name"], p["state"]) for p in detail["parts"]] == [(name, "Succeeded")]
    code, log = await call(
        jp_fetch,
        "GET",
        "/jobs/{kind}/{name}/logs",
        "jobs",
        "workflows",
        name,
        "logs",
        params={"part": name},
    )
    assert (code, log) == (200, "accuracy=0.9\n")

    async def listed() -> list[str]:
        _, listing = await call(jp_fetch, "GET", "/jobs", "jobs", params={"kind": "workflow"})
        return [job["name"] for job in listing["jobs"]]

    for _ in range(50):  # the list is served from a watch: it may take a moment
        if name in await listed():
            break
        await asyncio.sleep(0.1)
    assert name in await listed()

    code, _ = await call(jp_fetch, "DELETE", "/jobs/{kind}/{name}", "jobs", "workflows", name)
    assert code == 204
    await asyncio.to_thread(
        wait_for, lambda: not controller.exists("workflow", alice.namespace, name), 30, 0.2, "deletion"
    )
    await asyncio.to_thread(controller.wait_gone, alice.namespace, configmap)


@pytest.mark.parametrize("setup", ["bob-on-alice"], indirect=True)
@on_server_loop
async def test_bob_cannot_create_in_alices_namespace_through_rest_and_the_argo_server(
    jp_fetch, setup, alice, bob, controller
):
    name = f"intrusion-{uuid.uuid4().hex[:6]}"
    code, error = await call(
        jp_fetch, "POST", "/jobs/workflows", "jobs", "workflows", body={"manifest": manifest(name)}
    )
    assert (code, error["error"]) == (403, "forbidden")
    assert error["permission"] == f"create workflows.argoproj.io in namespace {alice.namespace!r}"
    assert f"system:serviceaccount:{bob.namespace}:{bob.service_account}" in error["server_message"]
    assert not controller.exists("workflow", alice.namespace, name)


@pytest.mark.parametrize("setup", ["argo-server-down"], indirect=True)
@on_server_loop
async def test_unreachable_argo_server_is_503_with_a_sentence_and_nothing_created(
    jp_fetch, setup, alice, controller, project, jp_root_dir
):
    name = f"unreached-{uuid.uuid4().hex[:6]}"
    code, error = await call(
        jp_fetch,
        "POST",
        "/jobs/workflows",
        "jobs",
        "workflows",
        body={"manifest": manifest(name), "snapshot": {"path": project}},
    )
    assert (code, error["error"]) == (503, "unreachable")
    assert error["message"].startswith("The Argo Server at http://127.0.0.1:")
    assert "was not submitted" in error["message"]
    assert not controller.exists("workflow", alice.namespace, name)
    snapshot = Snapshot(jp_root_dir / project).build().configmap_name
    assert not controller.configmap_exists(alice.namespace, snapshot)
