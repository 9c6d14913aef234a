"""The sidebar in a real JupyterLab, driven by the Galata specs in ui-tests/, against the real control plane.

pytest provides what the specs run against: a freshly provisioned researcher
(namespace and service account, credentials as their notebook pod has them),
a jupyter lab with this checkout's server extension and labextension
configured by ``jupyterlab.galata.configure_jupyter_server``, and the cluster's
admin kubeconfig. ``npx playwright test`` then drives Debian's headless
Chromium (ui-tests/playwright.config.js) through the projects ``fresh``
(sidebar.spec.ts), ``jobs`` (jobs, sweep and workflow specs) and ``errors``;
``forbidden`` runs on a server of its own, for a researcher without rights.

Argo's real workflow-controller runs the workflow spec's workflow, the real
Training Operator the PyTorchJobs and the real Katib the sweep spec's sweep (the
pods they create run as local processes by the pod runner); no spec writes a
job's status.
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import contextlib
import uuid

import kubernetes
import pytest
import pytest_asyncio
from mlops_cluster.ports import free_port

from tests.jobs_support import IMAGE, make_user, runs_locally
from tests.sidebar_support import cluster_environment, remove_namespace, run_galata, start_lab

pytestmark = [pytest.mark.browser, pytest.mark.cluster, pytest.mark.slow]

# The specs of the projects fresh + jobs + errors (playwright.config.js).
SPECS = 11

HERA_FILE = """
from hera.workflows import Container, Steps, Workflow

with Workflow(generate_name="pipeline-", entrypoint="main") as w:
    prepare = Container(name="prepare", image="{image}", command=["python", "-c", "print('prepared')"])
    evaluate = Container(name="evaluate", image="{image}", command=["python", "-c", "print('accuracy=0.9')"])
    publish = Container(name="publish", image="{image}", command=["python", "-c", "print('published')"])
    with Steps(name="main"):
        prepare()
        evaluate()
        publish(when="1 == 2")

if __name__ == "__main__":
    raise SystemExit("the sidebar must not run this file as __main__")
"""


# jobs.spec.ts's PyTorchJob: each replica says who it is and runs on; the master
# prints one more line once the spec creates the file ``go`` (MLOPS_TEST_GO_FILE).
# Only as a script: errors.spec.ts has the server read it for Hera Workflows.
TRAIN = """import os, time
if __name__ == "__main__" and os.environ.get("RANK", "0") == "0":
    print("master says hi", flush=True)
    print("loss=0.5", flush=True)
    while not os.path.exists({go!r}):
        time.sleep(0.1)
    print("loss=0.25", flush=True)
    time.sleep(600)
elif __name__ == "__main__":
    print("worker 0 up", flush=True)
    time.sleep(600)
"""


# sweep.spec.ts's trials: Katib passes the values as --lr=… --batch=…; the best lr is 0.05.
SWEEP = """import argparse
parser = argparse.ArgumentParser()
parser.add_argument("--lr", type=float)
parser.add_argument("--batch", type=int)
args = parser.parse_args()
print(f"accuracy={1 - abs(args.lr - 0.05):.4f}")
"""


@pytest_asyncio.fixture
async def researcher(control_plane, core_v1, tmp_path):
    user = await make_user(control_plane, core_v1, tmp_path, f"gala{uuid.uuid4().hex[:4]}")
    yield user
    remove_namespace(core_v1, user.namespace)


@pytest_asyncio.fixture
async def researcher_without_rights(control_plane, core_v1, tmp_path):
    user = await make_user(control_plane, core_v1, tmp_path, f"nogo{uuid.uuid4().hex[:4]}")
    rbac = kubernetes.client.RbacAuthorizationV1Api(control_plane.api_client("admin"))
    for binding in rbac.list_namespaced_role_binding(user.namespace, _request_timeout=10).items:
        rbac.delete_namespaced_role_binding(binding.metadata.name, user.namespace, _request_timeout=10)
    yield user
    remove_namespace(core_v1, user.namespace)


@pytest.fixture
def availability(hub_availability):
    """``availability(user)``: the environment that points a notebook server of ``user`` at the
    hub's real GPU availability service (MLOPS_AVAILABILITY_URL and the user's own hub token)."""
    return hub_availability.environment


@contextlib.contextmanager
def researcher_lab(researcher, availability, work_dir):
    """The researcher's notebook server, as configure_jupyter_server sets it up for Galata."""
    env = {
        **researcher.environment(),
        "JUPYTERHUB_USER": researcher.name,
        **availability(researcher.name),
        "JUPYTER_IMAGE_SPEC": IMAGE,
        "MLOPS_SSH_HOST": "ssh.hub.example.org",
        "MLOPS_SSH_PORT": "2222",
        # Nothing listens there: the SSH panel must say so in words (errors.spec.ts).
        "MLOPS_SSH_KEYS_URL": f"http://127.0.0.1:{free_port()}/services/mlops-ssh/api/keys",
    }
    with start_lab(work_dir, env, galata=True) as lab:
        (lab.root / "train.py").write_text(TRAIN.format(go=str(work_dir / "go")))
        (lab.root / "sweep.py").write_text(SWEEP)
        (lab.root / "flows").mkdir()
        (lab.root / "flows" / "pipeline.py").write_text(HERA_FILE.format(image=IMAGE))
        yield lab


def assert_passed(result, count: int) -> None:
    output = result.stdout[-8000:] + result.stderr[-3000:]
    assert result.returncode == 0, output
    assert f"{count} passed" in result.stdout, output


@pytest.mark.timeout(900)  # JupyterLab's first loads in Chromium are slow on a shared machine
def test_galata_specs_pass(control_plane, core_v1, researcher, availability, job_runner, tmp_path):
    # The pods of workflows, PyTorchJobs and sweeps run as local processes.
    runs_locally(core_v1, researcher.namespace)
    environment = {
        **cluster_environment(control_plane, researcher.namespace),
        "MLOPS_TEST_GO_FILE": str(tmp_path / "lab" / "go"),
    }
    with researcher_lab(researcher, availability, tmp_path / "lab") as lab:
        result = run_galata(lab, "errors", environment)
    assert_passed(result, SPECS)


@pytest.mark.timeout(600)
def test_galata_forbidden_researcher(control_plane, researcher_without_rights, availability, tmp_path):
    with researcher_lab(researcher_without_rights, availability, tmp_path / "lab") as lab:
        result = run_galata(lab, "forbidden", {})
    assert_passed(result, 1)
