"""The REST API of the jobs extension, on a real jupyter-server, acting as alice's service account.

Sweeps and workflows end to end (submit -> status transitions -> logs -> events ->
watch -> cancel -> resubmit -> delete -> gone), every response held to openapi.json.
PyTorchJobs go through the same routes under the real Training Operator
(here and in tests/training_operator/), workflows under Argo's real workflow-controller
(``argo_workflows``), sweeps under the real Katib; ``controller`` only reads what they
made (see tests/jobs_support.py).
"""

from __future__ import annotations

import asyncio
import json
import uuid

import jsonschema
import pytest
from jupyter_mlops.jobs import PyTorchJob, Snapshot
from tornado.httpclient import HTTPClientError
from tornado.web import RequestHandler

from tests.jobs_support import API, IMAGE, LR_TRIAL, lr_sweep, on_server_loop, server_config
from tests.jobs_support import call_api as call
from tests.openapi_check import json_schema_of

pytestmark = pytest.mark.cluster
pytest_plugins = ["pytest_jupyter.jupyter_server"]


@pytest.fixture
def server_identity(request, alice, bob):
    """Whose token the server acts with and on which namespace (default: alice on her own)."""
    who = getattr(request, "param", "alice")
    if who == "bob-on-alice":
        return bob, alice.namespace
    return alice, alice.namespace


@pytest.fixture
def jp_server_config(server_identity):
    return server_config(*server_identity)


EMPTY = ({}, [], None, "")


def without_empty(value):
    """``value`` without the empty values a controller fills in as defaults.

    Argo's workflow-controller writes the whole object back, adding empty
    objects, lists and strings (``container: {name: ""}``) -- whether the test
    reads it before or after that write is a race, so both read the same.
    """
    if isinstance(value, dict):
        kept = {k: without_empty(v) for k, v in value.items()}
        return {k: v for k, v in kept.items() if v not in EMPTY}
    if isinstance(value, list):
        return [without_empty(v) for v in value]
    return value


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


@on_server_loop
async def test_sweep_with_workflow_trials_through_rest(
    jp_fetch, jp_root_dir, alice, controller, project, argo_workflows
):
    """Katib runs the trials as Argo Workflows (argo_workflows: their step pods run), the
    StdOut collector beside each step reads the metric, and REST shows what Katib found."""
    (jp_root_dir / project / "train.py").write_text(LR_TRIAL)
    name = unique("rest-sweep")
    code, created = await call(
        jp_fetch, "POST", "/jobs/sweeps", "jobs", "sweeps", body=lr_sweep(name, project, "workflow", 2, 2)
    )
    assert code == 201, created
    experiment = controller.get("sweep", alice.namespace, name)
    space = experiment["spec"]["parameters"][0]["feasibleSpace"]
    assert (space["min"], space["max"]) == ("0.001", "0.1")  # Katib's defaulter adds the rest
    assert experiment["spec"]["trialTemplate"]["trialSpec"]["kind"] == "Workflow"
    configmap = experiment["metadata"]["annotations"]["jupyterhub-mlops/snapshot"]

    for _ in range(240):
        code, detail = await call(jp_fetch, "GET", "/jobs/{kind}/{name}", "jobs", "sweeps", name)
        if detail["state"] in ("Succeeded", "Failed"):
            break
        await asyncio.sleep(1)
    assert (detail["state"], detail["part_noun"]) == ("Succeeded", "trial"), detail
    assert detail["trials"]["succeeded"] == 2, detail["trials"]
    for trial in detail["parts"]:
        lr = float(trial["parameters"]["lr"])
        assert float(trial["metrics"]["accuracy"]) == pytest.approx(1 - lr, abs=1e-4)
    trial = detail["parts"][0]["name"]
    code, log = await call(
        jp_fetch, "GET", "/jobs/{kind}/{name}/logs", "jobs", "sweeps", name, "logs", params={"part": trial}
    )
    assert code == 200 and f"accuracy={detail['parts'][0]['metrics']['accuracy']}" in log, log
    code, _ = await call(jp_fetch, "DELETE", "/jobs/{kind}/{name}", "jobs", "sweeps", name)
    assert code == 204
    await asyncio.to_thread(controller.wait_gone, alice.namespace, configmap)


@on_server_loop
async def test_workflow_manifest_through_rest(jp_fetch, alice, controller, argo_workflows):
    from hera.workflows import Container, Steps, Workflow

    name = unique("rest-wf")
    with Workflow(name=name, entrypoint="main") as workflow:
        hello = Container(name="hello", image=IMAGE, command=["echo", "hi"])
        with Steps(name="main"):
            hello()
    code, created = await call(
        jp_fetch,
        "POST",
        "/jobs/workflows",
        "jobs",
        "workflows",
        body={"manifest": workflow.to_dict()},
    )
    assert code == 201, created
    obj = controller.get("workflow", alice.namespace, name)
    submitted = without_empty(obj["spec"])
    # Submitted unchanged, but for the account its steps run as (Argo's executor role).
    # (The workflow-controller writes the whole object back, with empty defaults added.)
    assert submitted.pop("serviceAccountName") == alice.workflow_service_account
    assert submitted == without_empty(workflow.to_dict()["spec"]), "submitted unchanged"
    assert "jupyterhub-mlops/snapshot" not in (obj["metadata"].get("annotations") or {})

    code, listing = await call(jp_fetch, "GET", "/jobs", "jobs")
    assert next(j for j in listing["jobs"] if j["name"] == name)["state"] in ("Pending", "Running"), (
        "listed as soon as submitted"
    )
    # Argo's workflow-controller runs it; the list, served from a watch, follows.
    for _ in range(240):
        code, listing = await call(jp_fetch, "GET", "/jobs", "jobs", params={"kind": "workflow"})
        if next(j for j in listing["jobs"] if j["name"] == name)["state"] == "Succeeded":
            break
        await asyncio.sleep(0.5)
    else:
        raise AssertionError(f"the list never showed the workflow Succeeded: {listing}")
    # Deleted behind the API's back (kubectl, the TTL controller): the watch removes it.
    controller.custom.delete_namespaced_custom_object("argoproj.io", "v1alpha1", alice.namespace, "workflows", name)
    for _ in range(50):
        code, listing = await call(jp_fetch, "GET", "/jobs/workflows", "jobs", "workflows")
        if name not in {j["name"] for j in listing["jobs"]}:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError("the list still shows a deleted workflow")
    code, _ = await call(jp_fetch, "DELETE", "/jobs/{kind}/{name}", "jobs", "workflows", name)
    assert code == 404


@pytest.mark.parametrize(
    "body, field",
    [
        ({"command": []}, "command"),
        ({"command": "python x.py", "replicas": 0}, "replicas"),
        ({"command": "python x.py", "replicas": "2"}, "replicas"),
        ({"command": "python x.py", "gpus_per_node": 2}, "gpus_per_node"),
        ({"command": "python x.py", "name": "Bad_Name"}, "name"),
        ({"command": "python x.py", "memory": "lots"}, "memory"),
        ({"command": "python x.py", "snapshot": {"path": "../../etc"}}, "snapshot.path"),
        ({"command": "python x.py", "snapshot": {"gitignore": None}}, "snapshot.gitignore"),
        ({"command": "python x.py", "if_not_fits": "maybe"}, "if_not_fits"),
    ],
)
@on_server_loop
async def test_invalid_pytorchjob_is_refused_naming_the_field(jp_fetch, body, field):
    code, error = await call(
        jp_fetch,
        "POST",
        "/jobs/pytorchjobs",
        "jobs",
        "pytorchjobs",
        body={"image": IMAGE, "snapshot": None, **body},
    )
    assert (code, error["error"], error["field"]) == (400, "invalid-spec", field), error
    assert field in error["message"]


@on_server_loop
async def test_api_server_rejection_is_400_naming_the_field_and_leaves_nothing(
    jp_fetch, jp_root_dir, alice, controller, project
):
    # Our checks pass; Argo's CRD schema (spec.parallelism is an integer) refuses it
    # after the snapshot ConfigMap was made: the ConfigMap must go again.
    manifest = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": unique("bad-wf")},
        "spec": {
            "entrypoint": "main",
            "parallelism": "many",
            "templates": [{"name": "main", "container": {"image": IMAGE, "command": ["python", "train.py"]}}],
        },
    }
    code, error = await call(
        jp_fetch,
        "POST",
        "/jobs/workflows",
        "jobs",
        "workflows",
        body={"manifest": manifest, "snapshot": {"path": project}},
    )
    assert (code, error["field"]) == (400, "spec.parallelism"), error
    assert "integer" in error["reason"]
    configmap = Snapshot(jp_root_dir / project).build().configmap_name
    assert not controller.configmap_exists(alice.namespace, configmap), "never half-created"


@pytest.mark.parametrize("server_identity", ["bob-on-alice"], indirect=True)
@on_server_loop
async def test_bob_cannot_touch_alices_jobs_through_rest(jp_fetch, server_identity, alice):
    mine = alice.client().submit(
        PyTorchJob(name=unique("alices"), command="python train.py", image=IMAGE, snapshot=None)
    )
    for method, template, parts, params in (
        ("GET", "/jobs/pytorchjobs", ("jobs", "pytorchjobs"), None),
        ("GET", "/jobs/{kind}/{name}", ("jobs", "pytorchjobs", mine.name), None),
        ("GET", "/jobs/{kind}/{name}/logs", ("jobs", "pytorchjobs", mine.name, "logs"), None),
        ("DELETE", "/jobs/{kind}/{name}", ("jobs", "pytorchjobs", mine.name), None),
        ("POST", "/jobs/{kind}/{name}/cancel", ("jobs", "pytorchjobs", mine.name, "cancel"), None),
    ):
        code, error = await call(jp_fetch, method, template, *parts, params=params)
        assert (code, error["error"]) == (403, "forbidden"), (method, parts, error)
        assert alice.namespace in error["permission"]
    code, error = await call(
        jp_fetch,
        "POST",
        "/jobs/pytorchjobs",
        "jobs",
        "pytorchjobs",
        body={"command": "python x.py", "image": IMAGE, "snapshot": None},
    )
    assert code == 403
    assert error["permission"] == f"create pytorchjobs.kubeflow.org in namespace {alice.namespace!r}"
    # alice's job is untouched: still there, not cancelled (the operator runs it meanwhile).
    assert mine.state() != "Cancelled"
    assert not mine.get()["spec"]["runPolicy"].get("suspend")
    mine.delete()


@on_server_loop
async def test_every_route_requires_authentication(jp_fetch, jp_serverapp):
    from jupyter_mlops.routes import ROUTES

    for path, handler in ROUTES:
        concrete = path.replace("([^/]+)", "pytorchjobs", 1).replace("([^/]+)", "x")
        for method in ("GET", "POST", "DELETE"):
            if getattr(handler, method.lower()) is getattr(RequestHandler, method.lower()):
                continue  # verb not served
            with pytest.raises(HTTPClientError) as refused:
                await jp_fetch(
                    *API,
                    *concrete.strip("/").split("/"),
                    method=method,
                    headers={"Authorization": ""},
                    **({"body": "{}"} if method == "POST" else {}),
                )
            assert refused.value.code == 403, (method, concrete)


@on_server_loop
async def test_cookie_sessions_need_the_xsrf_token_as_jupyter_server_requires(
    jp_serverapp, http_server_client, jp_base_url, alice, controller
):
    from http.cookies import SimpleCookie

    http, root = http_server_client, jp_base_url  # the test server, without jp_fetch's token
    token = jp_serverapp.identity_provider.token
    # A browser session: the token once in the URL, then only cookies; the XSRF
    # cookie comes with a page, as JupyterLab's own page hands it to the browser.
    cookies = SimpleCookie()
    for path in (f"api/status?token={token}", "login"):
        answer = await http.fetch(f"{root}{path}", raise_error=False)
        for header in answer.headers.get_list("Set-Cookie"):
            cookies.load(header)
    assert "_xsrf" in cookies, "jupyter-server hands out its XSRF cookie"
    cookie_header = "; ".join(f"{k}={v.value}" for k, v in cookies.items())
    name = unique("xsrf")
    body = json.dumps({"name": name, "command": "python x.py", "image": IMAGE, "snapshot": None})
    url = f"{root}mlops/api/v1/jobs/pytorchjobs"

    without = await http.fetch(url, method="POST", body=body, raise_error=False, headers={"Cookie": cookie_header})
    assert without.code == 403
    assert not controller.exists("pytorchjob", alice.namespace, name)

    with_token = await http.fetch(
        url,
        method="POST",
        body=body,
        raise_error=False,
        headers={"Cookie": cookie_header, "X-XSRFToken": cookies["_xsrf"].value},
    )
    assert with_token.code == 201, with_token.body
    assert controller.exists("pytorchjob", alice.namespace, name)
    alice.client().handle("pytorchjob", name).delete()


@on_server_loop
async def test_watch_of_every_kind_streams_existing_and_new_jobs(jp_fetch, alice):
    client = alice.client()
    before = client.submit(PyTorchJob(name=unique("before"), command="python a.py", image=IMAGE, snapshot=None))
    name = unique("during")

    async def submit_while_watching():
        await asyncio.sleep(1.5)
        return await asyncio.to_thread(
            client.submit, PyTorchJob(name=name, command="python a.py", image=IMAGE, snapshot=None)
        )

    during = asyncio.create_task(submit_while_watching())
    code, stream = await call(jp_fetch, "GET", "/jobs/watch", "jobs", "watch", params={"timeout": "4"})
    await during
    assert code == 200
    events = [json.loads(line[len("data: ") :]) for line in stream.splitlines() if line.startswith("data: ")]
    for event in events:
        jsonschema.validate(event, json_schema_of("WatchEvent"))
    seen = [(e["type"], e["job"]["kind"], e["job"]["name"]) for e in events]
    assert ("ADDED", "pytorchjob", before.name) in seen
    assert ("ADDED", "pytorchjob", name) in seen
    assert seen.index(("ADDED", "pytorchjob", before.name)) < seen.index(("ADDED", "pytorchjob", name))
    before.delete()
    client.handle("pytorchjob", name).delete()


@on_server_loop
async def test_bad_query_and_unknown_kind_are_client_errors(jp_fetch):
    code, error = await call(jp_fetch, "GET", "/jobs", "jobs", params={"kind": "tfjob"})
    assert (code, error["field"]) == (400, "kind")
    # A parameter the route does not define is ignored, as a browser's cache-buster must be;
    # the ones it does define still act (only sweeps listed) and are still checked.
    code, listing = await call(jp_fetch, "GET", "/jobs", "jobs", params={"kind": "sweep", "_": "1700000000000"})
    assert code == 200 and all(job["kind"] == "sweep" for job in listing["jobs"])
    code, listing = await call(jp_fetch, "GET", "/jobs", "jobs", params={"1700000000000": ""})
    assert code == 200 and "jobs" in listing
    code, error = await call(jp_fetch, "GET", "/jobs/watch", "jobs", "watch", params={"timeout": "0", "_": "1"})
    assert (code, error["field"]) == (400, "timeout")
    code, error = await call(jp_fetch, "GET", "/jobs/{kind}/{name}", "jobs", "tfjobs", "x")
    assert (code, error["error"]) == (404, "not-found")
    code, error = await call(jp_fetch, "GET", "/jobs/{kind}/{name}", "jobs", "sweeps", "Not_Valid")
    assert (code, error["field"]) == (400, "name")
    code, gpus = await call(jp_fetch, "GET", "/gpus", "gpus")
    assert (code, gpus["configured"]) == (200, False)


@on_server_loop
async def test_jobs_metric_counts_my_jobs_by_kind_and_state(jp_fetch, alice):
    job = alice.client().submit(PyTorchJob(name=unique("metric"), command="python a.py", image=IMAGE, snapshot=None))
    # Cancelled, the job stays in one state (the Training Operator would move it on).
    job.cancel()
    cancelled = alice.client().list("pytorchjob")
    expected = sum(1 for j in cancelled if j["state"] == "Cancelled")
    line = f'jupyterhub_mlops_user_jobs{{kind="pytorchjob",state="Cancelled"}} {float(expected)}'
    for _ in range(100):  # the first list starts the watch cache the metric reads
        await call(jp_fetch, "GET", "/jobs", "jobs")
        metrics = (await jp_fetch("metrics")).body.decode()
        if line in metrics:
            break
        await asyncio.sleep(0.1)
    else:
        raise AssertionError(f"{line!r} not in the metrics")
    # The hub's cluster-wide name counts the same jobs: a query summing both would count twice.
    assert "jupyterhub_mlops_jobs{" not in metrics
    job.delete()
