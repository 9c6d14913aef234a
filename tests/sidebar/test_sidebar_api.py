"""The sidebar's REST additions, through a real jupyter-server against the real control plane.

The researcher's server acts as their service account (as in their notebook
pod). No Argo or Training Operator runs: the tests read back what the API
server holds.
"""

from __future__ import annotations

import asyncio
import urllib.error
import urllib.request
import uuid

import pytest
import pytest_asyncio

from tests.jobs_support import IMAGE, make_user
from tests.mlops_testing import wait_for
from tests.openapi_check import check
from tests.sidebar_support import remove_namespace, start_lab

pytestmark = [pytest.mark.cluster, pytest.mark.slow]
RTX = "NVIDIA-RTX-A6000"

HERA_FILE = """
from hera.workflows import Container, Resources, Workflow

with Workflow(generate_name="train-", entrypoint="train") as w:
    Container(name="train", image="{image}", command=["python", "train.py"],
              resources=Resources(gpus=2),
              node_selector={{"nvidia.com/gpu.product": "{rtx}"}})

if __name__ == "__main__":
    raise SystemExit("must not run as __main__")
"""


@pytest_asyncio.fixture
async def users(control_plane, core_v1, tmp_path):
    made = await asyncio.gather(
        *(make_user(control_plane, core_v1, tmp_path, f"{who}{uuid.uuid4().hex[:4]}") for who in ("dana", "erin"))
    )
    yield made
    for user in made:
        remove_namespace(core_v1, user.namespace)


@pytest.fixture
def lab(users, tmp_path):
    env = {**users[0].environment(), "JUPYTER_IMAGE_SPEC": IMAGE}
    with start_lab(tmp_path / "lab", env) as lab:
        yield lab


def test_workflow_from_a_hera_file(lab, users, controller):
    (lab.root / "flows").mkdir()
    (lab.root / "flows" / "train.py").write_text(HERA_FILE.format(image=IMAGE, rtx=RTX))
    status, body = lab.api("sidebar/workflows/from-file", "POST", {"path": "flows/train.py", "if_not_fits": "queue"})
    assert status == 201, body
    check("POST", "/sidebar/workflows/from-file", status, body)
    assert body["kind"] == "workflow" and body["name"].startswith("train-")
    workflow = controller.get("workflow", users[0].namespace, body["name"])
    assert workflow["spec"]["entrypoint"] == "train"

    status, listed = lab.api("jobs")
    assert status == 200, listed
    check("GET", "/jobs", status, listed)
    row = next(j for j in listed["jobs"] if j["name"] == body["name"])
    # Argo's workflow-controller may already have started it (Running) by now.
    assert (row["kind"], row["gpus"], row["gpu_type"]) == ("workflow", 2, RTX)
    assert row["state"] in ("Pending", "Running"), row


@pytest.mark.parametrize(
    ("path", "content", "says"),
    [
        ("none.py", "x = 1\n", "defines 0 Hera Workflows"),
        ("broken.py", "raise RuntimeError('no data here')\n", "RuntimeError: no data here"),
        ("../outside.py", None, "inside the notebook server's root"),
        ("notes.txt", "hello\n", "not an existing .py file"),
    ],
)
def test_workflow_file_errors_name_the_reason(lab, users, controller, path, content, says):
    if content is not None:
        (lab.root / path).write_text(content)
    status, body = lab.api("sidebar/workflows/from-file", "POST", {"path": path})
    assert status == 400, body
    check("POST", "/sidebar/workflows/from-file", status, body)
    assert body["field"] == "path" and says in body["message"], body
    assert (
        controller.custom.list_namespaced_custom_object("argoproj.io", "v1alpha1", users[0].namespace, "workflows")[
            "items"
        ]
        == []
    )


def test_job_extras_and_rbac_isolation(lab, users, controller, tmp_path):
    status, created = lab.api(
        "jobs/pytorchjobs",
        "POST",
        {
            "command": ["python", "train.py"],
            "replicas": 2,
            "gpus": 1,
            "gpu_type": RTX,
            "snapshot": None,
            "if_not_fits": "queue",
        },
    )
    assert status == 201, created
    name = created["name"]

    def extras_of_job() -> dict:
        status, extras = lab.api(f"sidebar/jobs/pytorchjobs/{name}")
        assert status == 200, extras
        check("GET", "/sidebar/jobs/{kind}/{name}", status, extras)
        return extras

    extras = extras_of_job()
    assert (extras["gpus"], extras["gpu_type"], extras["objective"]) == (2, RTX, None)
    # The Training Operator's own conditions, in its words.
    wait_for(
        lambda: "PyTorchJobCreated" in {c.get("reason") for c in extras_of_job()["conditions"]},
        timeout=60,
        what="the operator's Created condition in the extras",
    )
    status, body = lab.api("sidebar/jobs/pytorchjobs/no-such-job")
    assert status == 404, body
    check("GET", "/sidebar/jobs/{kind}/{name}", status, body)
    status, body = lab.api("sidebar/jobs/notebooks/x")
    assert status == 404 and "not a job kind" in body["message"], body

    # Erin's server pointed at Dana's namespace: the API server refuses, the sidebar says so.
    env = {**users[1].environment(users[0].namespace), "JUPYTER_IMAGE_SPEC": IMAGE}
    with start_lab(tmp_path / "intruder", env) as intruder:
        for path, template in (("jobs", "/jobs"), (f"sidebar/jobs/pytorchjobs/{name}", "/sidebar/jobs/{kind}/{name}")):
            status, body = intruder.api(path)
            assert status == 403, body
            check("GET", template, status, body)
            assert body["error"] == "forbidden" and "Permission denied" in body["message"], body


def anonymous(lab, method: str, path: str) -> int:
    """The status of a request without any credential."""
    request = urllib.request.Request(
        f"{lab.url}mlops/api/v1/{path}", method=method, data=b"{}" if method != "GET" else None
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def test_ssh_routes(users, tmp_path):
    env = {
        **users[0].environment(),
        "JUPYTERHUB_USER": "dana",
        "JUPYTERHUB_SERVER_NAME": "gpu",
        "MLOPS_SSH_HOST": "ssh.example.org",
        "MLOPS_SSH_KEYS_URL": "http://127.0.0.1:9/api/keys",
    }
    with start_lab(tmp_path / "lab", env) as lab:
        for method, path in (
            ("GET", "jobs"),
            ("GET", "sidebar/jobs/pytorchjobs/x"),
            ("GET", "ssh"),
            ("GET", "ssh/keys"),
            ("POST", "ssh/keys"),
            ("DELETE", "ssh/keys/x"),
            ("POST", "sidebar/workflows/from-file"),
        ):
            assert anonymous(lab, method, path) == 403, f"{method} {path} answered without a token"
        status, info = lab.api("ssh")
        assert status == 200, info
        check("GET", "/ssh", status, info)
        assert info["command"] == "ssh dana.gpu@ssh.example.org"
        assert info["config"] == (
            "Host jupyterhub-gpu\n    HostName ssh.example.org\n    User dana.gpu\n    ServerAliveInterval 30\n"
        )
        status, body = lab.api("ssh/keys")
        assert status == 503 and "did not answer" in body["message"], body
        check("GET", "/ssh/keys", status, body)
        status, body = lab.api("ssh/keys", "POST", {"key": "  "})
        assert status == 400 and body["field"] == "key", body
        check("POST", "/ssh/keys", status, body)
        status, body = lab.api("ssh/keys/SHA256%3Aabc%2Fdef", "DELETE")
        assert status == 503 and "did not answer" in body["message"], body
        check("DELETE", "/ssh/keys/{fingerprint}", status, body)

    env = {key: value for key, value in env.items() if not key.startswith("MLOPS_SSH")}
    with start_lab(tmp_path / "bare", env) as lab:
        status, info = lab.api("ssh")
        assert status == 200 and info["configured"] is False and info["keys_api"] is False, info
        check("GET", "/ssh", status, info)
        status, body = lab.api("ssh/keys")
        assert status == 503 and "MlopsSsh.keys_url" in body["message"], body
        check("GET", "/ssh/keys", status, body)
