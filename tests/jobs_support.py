"""For tests/jobs and tests/server_ext: users with service-account tokens, the pod runner for the controllers.

Identity is what a notebook pod has: alice's and bob's namespaces, service
accounts and role bindings are provisioned by the suite's own provisioning
code acting as the ``hub`` identity; each user's token comes from the
TokenRequest API, as the kubelet mounts it into a pod.

Argo's real workflow-controller, the real Training Operator and the real Katib run
in the session's cluster; ``job_runner`` (tests/conftest.py) is the pod runner that
runs the pods they create, here in alice's and bob's namespaces (``argo_workflows``
for workflows, ``training_jobs`` for PyTorchJobs, Katib's suggestion and trial pods).
Nothing here writes a controller's status.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path

import kubernetes
import pytest
import pytest_asyncio
from jupyter_mlops.jobs.client import JobsClient
from jupyter_mlops.jobs.credentials import KubeCredentials
from jupyterhub_mlops.provisioning import (
    WORKFLOW_SERVICE_ACCOUNT,
    UserNamespace,
    ensure_user_namespace,
)
from mlops_cluster.pod_command import RUN_LOCALLY_ANNOTATION
from mlops_contract.queueing import LOCAL_QUEUE

from tests.mlops_testing import wait_for
from tests.openapi_check import check

IMAGE = "quay.io/jupyter/pytorch-notebook:cuda12-python-3.12"


@dataclass
class User:
    name: str
    namespace: str
    service_account: str
    token_file: Path
    server: str
    ca_file: str
    workflow_service_account: str = WORKFLOW_SERVICE_ACCOUNT
    """What provisioning made for the user's workflow steps (GPUKubeSpawner hands it to
    the notebook as MLOPS_WORKFLOW_SERVICE_ACCOUNT)."""
    kueue_queue: str | None = None
    """The LocalQueue of the user's jobs when the hub queues GPUs with Kueue (GPUKubeSpawner
    hands it to the notebook as MLOPS_KUEUE_QUEUE)."""

    def api_client(self) -> kubernetes.client.ApiClient:
        """A ``kubernetes`` client with this user's token, straight at the API server."""
        config = kubernetes.client.Configuration()
        config.host = self.server
        config.ssl_ca_cert = self.ca_file
        config.api_key = {"authorization": f"Bearer {self.token_file.read_text()}"}
        return kubernetes.client.ApiClient(config)

    def credentials(self, namespace: str | None = None) -> KubeCredentials:
        return KubeCredentials(
            server=self.server,
            namespace=namespace or self.namespace,
            ca_file=self.ca_file,
            token_file=str(self.token_file),
        )

    def client(self, namespace: str | None = None) -> JobsClient:
        """The jobs client as this user's notebook pod would build it (from its environment)."""
        return JobsClient.from_environment(self.environment(namespace))

    def environment(self, namespace: str | None = None) -> dict[str, str]:
        env = {
            "MLOPS_KUBE_SERVER": self.server,
            "MLOPS_KUBE_TOKEN_FILE": str(self.token_file),
            "MLOPS_KUBE_CA_FILE": self.ca_file,
            "MLOPS_NAMESPACE": namespace or self.namespace,
            "MLOPS_WORKFLOW_SERVICE_ACCOUNT": self.workflow_service_account,
        }
        if self.kueue_queue:
            env["MLOPS_KUEUE_QUEUE"] = self.kueue_queue
        return env


async def provision(control_plane, username: str, group: str | None = None, prefix: str | None = None) -> UserNamespace:
    """The user's namespace as the hub provisions it (under a fresh prefix unless one is
    given); with ``group``, also the LocalQueues that put the user's notebooks and jobs in
    that group's Kueue line."""
    from jupyterhub_mlops.queues import local_queues
    from kubernetes_asyncio import config as async_config
    from mlops_contract.namespaces import user_namespace

    prefix = prefix or f"mlops-{uuid.uuid4().hex[:4]}-"
    queues = local_queues(user_namespace(username, prefix), group) if group else ()
    api = await async_config.new_client_from_config(config_file=str(control_plane.kubeconfig("hub")))
    async with api:
        return await ensure_user_namespace(api, username, prefix=prefix, local_queues=queues)


def service_account_token(core_v1, namespace: str, service_account: str) -> str:
    request = kubernetes.client.AuthenticationV1TokenRequest(
        spec=kubernetes.client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
    )
    return core_v1.create_namespaced_service_account_token(service_account, namespace, request).status.token


async def make_user(control_plane, core_v1, tmp_dir: Path, username: str, group: str | None = None) -> User:
    """``username`` with a provisioned namespace and the notebook's token; with ``group``,
    in that group's Kueue line as a notebook of a hub that queues GPUs is."""
    provisioned = await provision(control_plane, username, group)
    token_file = tmp_dir / f"{username}.token"
    token_file.write_text(service_account_token(core_v1, provisioned.namespace, provisioned.service_account))
    return User(
        username,
        provisioned.namespace,
        provisioned.service_account,
        token_file,
        control_plane.server,
        str(control_plane.ca_file),
        kueue_queue=LOCAL_QUEUE if group else None,
    )


@pytest_asyncio.fixture(scope="session")
async def alice(control_plane, core_v1, tmp_path_factory) -> User:
    return await make_user(control_plane, core_v1, tmp_path_factory.mktemp("alice"), "alice")


@pytest_asyncio.fixture(scope="session")
async def bob(control_plane, core_v1, tmp_path_factory) -> User:
    return await make_user(control_plane, core_v1, tmp_path_factory.mktemp("bob"), "bob")


RUN_LOCALLY = RUN_LOCALLY_ANNOTATION
"""The label of a namespace whose pods opt in to run locally (the pod runner reads it too)."""


class ArgoWorkflows:
    """What a workflow test needs around the session's workflow-controller: the pod runner
    running the step pods it creates (with Argo's executor played by ``argo_executor``)."""

    def __init__(self, control_plane, runner):
        self.custom = kubernetes.client.CustomObjectsApi(control_plane.api_client("admin"))
        self.runner = runner

    def task_results(self, namespace: str, workflow: str) -> list[dict]:
        return self.custom.list_namespaced_custom_object(
            "argoproj.io",
            "v1alpha1",
            namespace,
            "workflowtaskresults",
            label_selector=f"workflows.argoproj.io/workflow={workflow}",
        )["items"]


def is_controllers_pod(pod: dict) -> bool:
    """A pod a real controller of the session made: an Argo step, a PyTorchJob replica,
    a Katib suggestion service or trial."""
    from mlops_cluster import argo_executor, katib, training_operator

    return argo_executor.is_workflow_pod(pod) or training_operator.is_replica_pod(pod) or katib.is_katib_pod(pod)


def printing_experiment_spec(trials: int = 3, parallel: int = 2, algorithm: str = "random") -> dict:
    """A Katib Experiment's spec written straight for Katib (not through the suite): a sweep
    of ``x`` in [-2, 2] minimizing ``loss``, whose Job trial prints ``loss=<x>``. Katib
    strips the ``sh -c`` and wraps the rest, unquoted: no shell characters in it."""
    return {
        "objective": {"type": "minimize", "objectiveMetricName": "loss"},
        "algorithm": {"algorithmName": algorithm},
        "parallelTrialCount": parallel,
        "maxTrialCount": trials,
        "maxFailedTrialCount": 1,
        "parameters": [{"name": "x", "parameterType": "double", "feasibleSpace": {"min": "-2", "max": "2"}}],
        "trialTemplate": {
            "primaryContainerName": "training",
            "retain": True,
            "trialParameters": [{"name": "x", "reference": "x"}],
            "trialSpec": {
                "apiVersion": "batch/v1",
                "kind": "Job",
                "spec": {
                    "backoffLimit": 0,
                    "template": {
                        "spec": {
                            "restartPolicy": "Never",
                            "containers": [
                                {
                                    "name": "training",
                                    "image": IMAGE,
                                    "command": ["sh", "-c", "echo loss=${trialParameters.x}"],
                                }
                            ],
                        }
                    },
                },
            },
        },
    }


def controllers_pod_runner(control_plane, folder: Path):
    """A started pod runner for ``is_controllers_pod`` pods of the namespaces labelled
    ``RUN_LOCALLY`` (the session's one is ``job_runner``, tests/conftest.py). The image
    would bring ``python``: this interpreter's folder leads PATH. Short crash-loop
    back-off (0.5 s doubling to 2 s) keeps failing jobs quick."""
    import os
    import sys

    from mlops_cluster.pod_runner import INHERITED_ENV, PodRunner

    env = {key: os.environ[key] for key in INHERITED_ENV if key in os.environ}
    env["PATH"] = f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"
    return PodRunner(
        control_plane.api_client("admin"),
        home_base=folder / "homes",
        log_dir=folder / "logs",
        base_env=env,
        restart_backoff=0.5,
        max_restart_backoff=2.0,
        select=is_controllers_pod,
        **control_plane.pod_runner_options(),
    ).start()


def runs_locally(core_v1, *namespaces: str) -> None:
    """The controllers' pods in ``namespaces`` run as local processes (``job_runner``)."""
    for name in namespaces:
        core_v1.patch_namespace(name, {"metadata": {"labels": {RUN_LOCALLY: "true"}}})


@pytest.fixture
def argo_workflows(control_plane, core_v1, alice, bob, job_runner, monkeypatch) -> ArgoWorkflows:
    """Workflows really run; the notebook (this process) knows its users' workflow account,
    as GPUKubeSpawner tells a notebook (MLOPS_WORKFLOW_SERVICE_ACCOUNT)."""
    runs_locally(core_v1, alice.namespace, bob.namespace)
    monkeypatch.setenv("MLOPS_WORKFLOW_SERVICE_ACCOUNT", WORKFLOW_SERVICE_ACCOUNT)
    return ArgoWorkflows(control_plane, job_runner)


@pytest.fixture
def training_jobs(core_v1, alice, bob, job_runner):
    """alice's and bob's PyTorchJobs really run: the session's Training Operator creates
    their pods, ``job_runner`` runs them, the operator writes what they did."""
    runs_locally(core_v1, alice.namespace, bob.namespace)
    return job_runner


@pytest.fixture(scope="session")
def argo_server(control_plane):
    """A real Argo Server (``argo server --auth-mode=client``) for the session's cluster."""
    from mlops_cluster.argo_server import ArgoServer

    server = ArgoServer(control_plane).start()
    yield server
    server.stop()


def argo_creator_label(namespace: str, service_account: str) -> str:
    """The ``workflows.argoproj.io/creator`` label the Argo Server puts on what it creates
    for a service-account token: the token's subject, made a valid label value."""
    subject = f"system:serviceaccount:{namespace}:{service_account}"
    return subject.replace(":", "-")[-63:].strip("-_.")


API = ("mlops", "api", "v1")
JOB_RESOURCES = {"pytorchjobs", "experiments", "workflows"}
"""The resources of the three job kinds, as the API server's metrics name them."""


def namespaced_watches(control_plane) -> dict[str, int]:
    """Open WATCH requests in a namespace per job resource, from the API server's /metrics: how
    many watches the API server holds, whoever opened them. A watch of one object (by its
    name) counts too: the API server's metrics give it the scope ``resource``."""
    text = control_plane.kubectl("get", "--raw", "/metrics").stdout
    counts = dict.fromkeys(JOB_RESOURCES, 0)
    for line in text.splitlines():
        if not line.startswith("apiserver_longrunning_requests{"):
            continue
        labels = dict(re.findall(r'(\w+)="([^"]*)"', line.split("}")[0]))
        if labels.get("verb") == "WATCH" and labels.get("scope") in ("namespace", "resource"):
            if labels.get("resource") in JOB_RESOURCES:
                counts[labels["resource"]] += int(float(line.rsplit(" ", 1)[1]))
    return counts


def server_config(user: User, namespace: str, **jobs_traits) -> dict:
    """pytest-jupyter's ``jp_server_config``: the extension acting as ``user`` on ``namespace``."""
    return {
        "ServerApp": {"jpserver_extensions": {"jupyter_mlops": True}},
        "MlopsJobs": {
            "kube_server": user.server,
            "kube_token_file": str(user.token_file),
            "kube_ca_file": user.ca_file,
            "namespace": namespace,
            **jobs_traits,
        },
    }


@pytest.fixture
def project(jp_root_dir, code_dir):
    """``code_dir`` copied under the jupyter-server's root; its path relative to the root."""
    import shutil

    shutil.copytree(code_dir, jp_root_dir / "project")
    return "project"


LR_TRIAL = """\
import sys
lr = float(sys.argv[sys.argv.index("--lr") + 1])
print(f"accuracy={1 - lr:.4f}")
"""
"""A sweep's trial over ``--lr``: prints the accuracy Katib's StdOut collector reads (1 - lr)."""


def lr_sweep(name: str, project: str, trial_kind: str, max_trials: int, parallel_trials: int) -> dict:
    """The REST body of a sweep of ``LR_TRIAL`` (as ``project``/train.py) over lr in [0.001, 0.1]."""
    return {
        "name": name,
        "command": "python train.py --lr {lr}",
        "parameters": [{"name": "lr", "type": "double", "min": 0.001, "max": 0.1}],
        "objective_metric": "accuracy",
        "trial_kind": trial_kind,
        "max_trials": max_trials,
        "parallel_trials": parallel_trials,
        "image": IMAGE,
        "snapshot": {"path": project},
    }


async def until(predicate, what: str, timeout: float = 60) -> None:
    """Wait on the server's loop (a blocking wait would stop the server being watched)."""
    for _ in range(int(timeout / 0.05)):
        if predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"not within {timeout}s: {what}")


async def call_api(jp_fetch, method: str, template: str, *parts, body=None, params=None):
    """One REST call: (status, parsed JSON or text), checked against the document first."""
    kwargs = {"method": method, "raise_error": False}
    if body is not None:
        kwargs["body"] = json.dumps(body)
    elif method == "POST":
        kwargs["body"] = ""
    response = await jp_fetch(*API, *parts, params=params, **kwargs)
    text = response.body.decode()
    ctype = response.headers.get("Content-Type", "")
    payload = json.loads(text) if ctype.startswith("application/json") and text else text
    check(method, template, response.code, payload if ctype.startswith("application/json") else None)
    return response.code, payload


@pytest.fixture
def code_dir(tmp_path) -> Path:
    """A small working directory with a local module, a .gitignore and ignored files."""
    root = tmp_path / "project"
    (root / "models").mkdir(parents=True)
    (root / "train.py").write_text("from models.net import build\nprint('accuracy=0.9')\n")
    (root / "models" / "__init__.py").write_text("")
    (root / "models" / "net.py").write_text("def build():\n    return 'net'\n")
    (root / ".gitignore").write_text("checkpoints/\n*.log\n")
    # Snapshots are shared by content; a test of its own gets a snapshot of its own.
    (root / "run.txt").write_text(uuid.uuid4().hex)
    (root / "checkpoints").mkdir()
    (root / "checkpoints" / "big.ckpt").write_bytes(b"\0" * 4096)
    (root / "train.log").write_text("old log\n")
    return root


class Controller:
    """Reads, as admin, the objects the controllers made (any job kind), and what they own."""

    GROUPS = {
        "pytorchjob": ("kubeflow.org", "v1", "pytorchjobs"),
        "sweep": ("kubeflow.org", "v1beta1", "experiments"),
        "trial": ("kubeflow.org", "v1beta1", "trials"),
        "workflow": ("argoproj.io", "v1alpha1", "workflows"),
    }

    def __init__(self, control_plane, tmp_dir: Path):
        api = control_plane.api_client("admin")
        self.core = kubernetes.client.CoreV1Api(api)
        self.custom = kubernetes.client.CustomObjectsApi(api)
        self.tmp_dir = tmp_dir

    def get(self, kind: str, namespace: str, name: str) -> dict:
        group, version, plural = self.GROUPS[kind]
        return self.custom.get_namespaced_custom_object(group, version, namespace, plural, name)

    def exists(self, kind: str, namespace: str, name: str) -> bool:
        try:
            self.get(kind, namespace, name)
            return True
        except kubernetes.client.ApiException as exc:
            if exc.status == 404:
                return False
            raise

    def configmap_exists(self, namespace: str, name: str) -> bool:
        try:
            self.core.read_namespaced_config_map(name, namespace)
            return True
        except kubernetes.client.ApiException as exc:
            if exc.status == 404:
                return False
            raise

    def wait_gone(self, namespace: str, configmap: str, timeout: float = 60) -> None:
        """The garbage collector (kube-controller-manager) removes what the job owned."""
        wait_for(
            lambda: not self.configmap_exists(namespace, configmap),
            timeout=timeout,
            what=f"the garbage collector to delete configmap {configmap}",
        )


@pytest.fixture
def controller(control_plane, tmp_path) -> Controller:
    return Controller(control_plane, tmp_path)


def on_server_loop(test):
    """Run an ``async def`` test on pytest-jupyter's event loop, where ``jp_serverapp`` serves.

    With this project's pytest-asyncio settings (session-scoped loop, auto mode)
    an ``async def`` test would run on pytest-asyncio's loop, where the
    jupyter-server started by pytest-jupyter never gets to answer. Wrapped as
    a plain function, pytest-asyncio leaves it alone.
    """
    import functools

    from jupyter_core.utils import ensure_event_loop

    @functools.wraps(test)
    def run(*args, **kwargs):
        ensure_event_loop(prefer_selector_loop=True).run_until_complete(test(*args, **kwargs))

    return run
