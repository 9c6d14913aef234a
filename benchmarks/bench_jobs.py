"""Jobs API: REST submit latency, listing 1,000 jobs against kubectl, code snapshots,
and, through the real controllers, a two-replica PyTorchJob (Training Operator) and a
three-step workflow (Argo's workflow-controller) from submit to Succeeded.

Everything runs as a user's own service account (provisioned by the suite's
provisioning code, token from the TokenRequest API) through a real
jupyter-server with the jupyter_mlops extension, against the local control
plane.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import random
import secrets
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from .harness import BenchContext, Figure, Stopwatch, median

IMAGE = "registry.local/notebook:1"


def run(ctx: BenchContext) -> list[Figure]:
    cp = ctx.control_plane()
    work = Path(tempfile.mkdtemp(prefix="bench-jobs-"))
    try:
        user = _user(cp, work)
        with _notebook_server(user, work) as (base, token):
            figures = [_submit(base, token, 20 if ctx.quick else 100)]
            figures += _list(cp, user, base, token, 200 if ctx.quick else 1000, 5 if ctx.quick else 15)
        figures += _snapshot(work, 500 if ctx.quick else 5000, 5 if ctx.quick else 50)
        figures += _workflow_e2e(cp, user, work, 1 if ctx.quick else 3)
        figures += _pytorchjob_end_to_end(work / "operator", 2 if ctx.quick else 5)
        return figures
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ------------------------------------------------------------------ figures
def _submit(base: str, token: str, runs: int) -> Figure:
    headers = {"Authorization": f"token {token}"}
    samples = []
    with httpx.Client(base_url=base, headers=headers, timeout=30) as http:
        for i in range(runs + 3):
            body = {
                "name": f"bench-submit-{i}",
                "command": ["python", "train.py"],
                "gpus": 1,
                "replicas": 2,
                "image": IMAGE,
                "snapshot": None,
                "if_not_fits": "queue",
            }
            with Stopwatch() as sw:
                response = http.post("/jobs/pytorchjobs", json=body)
            if response.status_code != 201:
                raise RuntimeError(f"submit failed: {response.status_code} {response.text}")
            if i >= 3:  # the first calls warm up connections and the client
                samples.append(sw.ms)
    return Figure(
        "jobs.submit_p50_ms",
        median(samples),
        "ms",
        goal="<= 50",
        note=f"median of {runs}: REST POST /jobs/pytorchjobs (2 replicas, 1 GPU each, "
        "no snapshot) until the API server has the object",
    )


def _list(cp, user, base: str, token: str, count: int, runs: int) -> list[Figure]:
    from jupyter_mlops.jobs.kube import KubeClient
    from jupyter_mlops.jobs.pytorchjob import PyTorchJob
    from jupyter_mlops.jobs.resources import PYTORCHJOBS

    namespace = user.namespace
    existing = len(KubeClient(user.credentials).list(PYTORCHJOBS)["items"])
    creator = KubeClient(user.credentials)
    manifests = [
        PyTorchJob(
            name=f"bench-list-{i}",
            command="python train.py",
            replicas=4,
            gpus=8,
            gpu_type="NVIDIA-A100-SXM4-80GB",
            image=IMAGE,
            snapshot=None,
        ).to_manifest(namespace)
        for i in range(count - existing)
    ]
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda m: creator.create(PYTORCHJOBS, m), manifests))
    total = len(KubeClient(user.credentials).list(PYTORCHJOBS)["items"])

    ours = []
    with httpx.Client(base_url=base, headers={"Authorization": f"token {token}"}, timeout=60) as http:
        # The first list starts the extension's watch cache; measure once it holds them all.
        deadline = time.monotonic() + 120
        while len(http.get("/jobs/pytorchjobs").json()["jobs"]) != total:
            if time.monotonic() > deadline:
                raise RuntimeError("the list never showed every job")
            time.sleep(0.2)
        for _ in range(runs):
            with Stopwatch() as sw:
                response = http.get("/jobs/pytorchjobs")
                listed = len(response.json()["jobs"])
            ours.append(sw.ms)
    if listed != total:
        raise RuntimeError(f"listed {listed} of {total} jobs")
    kubectl = []
    argv = [
        str(cp.bins.kubectl),
        f"--kubeconfig={user.kubeconfig}",
        "get",
        "pytorchjobs",
        "-n",
        namespace,
        "-o",
        "json",
    ]
    for _ in range(runs):
        with Stopwatch() as sw:
            subprocess.run(argv, check=True, capture_output=True)
        kubectl.append(sw.ms)
    p50, kubectl_p50 = median(ours), median(kubectl)
    return [
        Figure(
            "jobs.list1000_p50_ms",
            p50,
            "ms",
            goal="<= 150",
            comparison=kubectl_p50,
            comparison_label="kubectl get -o json",
            note=f"median of {runs}: REST GET /jobs/pytorchjobs of {total} jobs (summaries "
            "with state), served from the extension's one watch per kind",
        ),
        Figure(
            "jobs.list_vs_kubectl_speedup",
            kubectl_p50 / p50,
            "x",
            goal=">= 1",
            note=f"kubectl get pytorchjobs -o json of the same {total} objects, same identity, side by side",
        ),
    ]


def _snapshot(work: Path, files: int, megabytes: int) -> list[Figure]:
    from jupyter_mlops.jobs.snapshot import Snapshot

    root = _working_tree(work / "tree", files, megabytes * 1024 * 1024)
    total = sum(p.stat().st_size for p in root.rglob("*") if p.is_file())
    times, archive = [], None
    for _ in range(3):
        with Stopwatch() as sw:
            archive = Snapshot(root).build()
        times.append(sw.ms / 1000)
    naive_times, naive_bytes = [], 0
    for _ in range(3):
        with Stopwatch() as sw:
            buffer = io.BytesIO()
            with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
                tar.add(root, arcname=".")
            naive_bytes = len(buffer.getvalue())
        naive_times.append(sw.ms / 1000)
    what = f"{files} files, {total / 2**20:.0f} MiB, .gitignore drops data/ and checkpoints/"
    return [
        Figure(
            "jobs.snapshot_50mb_s",
            median(times),
            "s",
            comparison=median(naive_times),
            comparison_label="tar.gz of the whole tree",
            note=f"median of 3: {what}; {archive.files} files shipped",
        ),
        Figure(
            "jobs.snapshot_bytes",
            len(archive.data),
            "bytes",
            comparison=naive_bytes,
            comparison_label="tar.gz of the whole tree",
            note=f"compressed archive shipped (over 1 MiB: on the shared volume); {what}",
        ),
    ]


# ------------------------------------------------------------------ set-up
def _workflow_e2e(cp, user: _User, work: Path, runs: int) -> list[Figure]:
    """Submit -> Succeeded of a three-step Hera workflow through the jobs API, against the
    same Workflow created straight at the API server (admin) and watched for Succeeded:
    the difference, and the time inside ``submit_workflow``, are the suite's share; the
    rest is Argo's workflow-controller and the pod runner running the steps."""
    import kubernetes
    from hera.workflows import Container, Steps, Workflow
    from jupyter_mlops.jobs import JobsClient, submit_workflow
    from jupyter_mlops.jobs.kube import KubeClient
    from jupyter_mlops.jobs.workflow import ArgoWorkflow
    from jupyterhub_mlops.provisioning import WORKFLOW_SERVICE_ACCOUNT
    from mlops_cluster import argo_executor
    from mlops_cluster.pod_runner import PodRunner

    def three_steps(name: str) -> Workflow:
        with Workflow(name=name, entrypoint="main") as workflow:
            steps = [
                Container(name=f"step-{i}", image=IMAGE, command=[sys.executable, "-c", f"print('step {i}')"])
                for i in range(3)
            ]
            with Steps(name="main"):
                for step in steps:
                    step()
        return workflow

    admin = cp.api_client("admin")
    core, custom = kubernetes.client.CoreV1Api(admin), kubernetes.client.CustomObjectsApi(admin)
    core.patch_namespace(user.namespace, {"metadata": {"labels": {"jupyterhub-mlops.local/run-locally": "true"}}})
    os.environ["MLOPS_WORKFLOW_SERVICE_ACCOUNT"] = WORKFLOW_SERVICE_ACCOUNT
    runner = PodRunner(
        admin,
        home_base=work / "homes",
        log_dir=work / "pods",
        namespace=user.namespace,
        select=argo_executor.is_workflow_pod,
    ).start()
    client = JobsClient(KubeClient(user.credentials))
    ours, direct, submits = [], [], []
    try:
        for i in range(runs):
            started = time.perf_counter()
            handle = submit_workflow(three_steps(f"bench-wf-{i}"), client=client)
            submits.append(time.perf_counter() - started)
            if handle.wait(timeout=600)["state"] != "Succeeded":
                raise RuntimeError(f"workflow {handle.name}: {handle.status()}")
            ours.append(time.perf_counter() - started)

            manifest = ArgoWorkflow.from_hera(three_steps(f"bench-raw-{i}")).to_manifest(user.namespace)
            started = time.perf_counter()
            custom.create_namespaced_custom_object("argoproj.io", "v1alpha1", user.namespace, "workflows", manifest)
            watch = kubernetes.watch.Watch()
            for event in watch.stream(
                custom.list_namespaced_custom_object,
                "argoproj.io",
                "v1alpha1",
                user.namespace,
                "workflows",
                field_selector=f"metadata.name=bench-raw-{i}",
                timeout_seconds=600,
            ):
                phase = (event["object"].get("status") or {}).get("phase")
                if phase in ("Succeeded", "Failed", "Error"):
                    watch.stop()
                    break
            if phase != "Succeeded":
                raise RuntimeError(f"workflow bench-raw-{i}: {phase}")
            direct.append(time.perf_counter() - started)
    finally:
        runner.stop()
        os.environ.pop("MLOPS_WORKFLOW_SERVICE_ACCOUNT", None)
        client.close()
    return [
        Figure(
            "jobs.workflow_e2e_s",
            median(ours),
            "s",
            comparison=median(direct),
            comparison_label="the same Workflow created directly and watched",
            note=f"median of {runs}: three sequential steps, submit_workflow() to "
            "handle.wait() == Succeeded; Argo v4.0.5 workflow-controller, steps run "
            "by the pod runner",
        ),
        Figure(
            "jobs.workflow_suite_share_s",
            median(ours) - median(direct),
            "s",
            note=f"median e2e through the jobs API minus median direct; the time inside "
            f"submit_workflow() alone: median {median(submits) * 1000:.0f} ms",
        ),
    ]


# Rank 0 listens at MASTER_ADDR:MASTER_PORT, rank 1 connects: the env:// rendezvous.
_RENDEZVOUS = """\
import os, socket, time
address = (os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"]))
if os.environ["RANK"] == "0":
    peer = socket.create_server(address).accept()[0]
    peer.sendall(b"go")
    peer.recv(1)
else:
    for _ in range(300):
        try:
            print(socket.create_connection(address, timeout=5).recv(2), flush=True)
            break
        except OSError:
            time.sleep(0.1)
"""


def _pytorchjob_end_to_end(work: Path, runs: int) -> list[Figure]:
    """Submit -> Succeeded of a two-replica PyTorchJob: the Training Operator creates the
    pods, the pod runner runs them, they rendezvous. Ours: the jobs API (snapshot of the
    code, create as the user, wait on a watch); comparison: the same manifest applied with
    kubectl and ``kubectl wait``. The suite's share: what ``submit`` itself takes."""
    import kubernetes
    from jupyter_mlops.jobs.client import JobsClient
    from jupyter_mlops.jobs.kube import KubeClient
    from jupyter_mlops.jobs.pytorchjob import PyTorchJob
    from jupyter_mlops.jobs.snapshot import Snapshot
    from mlops_cluster import ControlPlane
    from mlops_cluster.controlplane import second_pod_cidr
    from mlops_cluster.pod_command import RUN_LOCALLY_ANNOTATION
    from mlops_cluster.pod_runner import PodRunner

    work.mkdir(parents=True)
    code = work / "code"
    code.mkdir()
    (code / "train.py").write_text(_RENDEZVOUS)
    cp = ControlPlane(work / "cluster", training_operator=True, pod_cidr=second_pod_cidr())
    cp.start()
    runner = None
    try:
        user = _user(cp, work)
        core = kubernetes.client.CoreV1Api(cp.api_client("admin"))
        core.patch_namespace(user.namespace, {"metadata": {"labels": {RUN_LOCALLY_ANNOTATION: "true"}}})
        env = {"PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
        runner = PodRunner(
            cp.api_client("admin"), home_base=work / "homes", log_dir=work / "pods", base_env=env
        ).start()
        client = JobsClient(KubeClient(user.credentials))
        ours, submits, theirs = [], [], []
        for i in range(runs):
            job = PyTorchJob(
                name=f"e2e-{i}",
                command="python train.py",
                replicas=2,
                gpus=1,
                gpu_type="NVIDIA-A100-SXM4-80GB",
                image=IMAGE,
                snapshot=Snapshot(code),
            )
            with Stopwatch() as total:
                with Stopwatch() as submit:
                    handle = client.submit(job, if_not_fits="queue")
                state = handle.wait(timeout=300)["state"]
            if state != "Succeeded":
                raise RuntimeError(f"e2e-{i} ended {state}: {handle.status()}")
            ours.append(total.ms / 1000)
            submits.append(submit.ms)

            created = handle.get()  # the same spec, snapshot volume included
            plain = {
                "apiVersion": created["apiVersion"],
                "kind": created["kind"],
                "metadata": {"name": f"kubectl-{i}", "namespace": user.namespace},
                "spec": created["spec"],
            }
            with Stopwatch() as sw:
                cp.kubectl("create", "-f", "-", input=json.dumps(plain))
                cp.kubectl(
                    "wait",
                    "--for=condition=Succeeded",
                    "--timeout=300s",
                    "-n",
                    user.namespace,
                    f"pytorchjob/kubectl-{i}",
                )
            theirs.append(sw.ms / 1000)
    finally:
        if runner is not None:
            runner.stop()
        cp.stop()
    e2e = median(ours)
    return [
        Figure(
            "jobs.pytorchjob_e2e_s",
            e2e,
            "s",
            goal="report",
            comparison=median(theirs),
            comparison_label="kubectl create + kubectl wait",
            note=f"median of {runs}: 2 replicas, code snapshot, real Training Operator "
            "v1.9.4, pods run by the pod runner, rendezvous at MASTER_ADDR:MASTER_PORT",
        ),
        Figure(
            "jobs.pytorchjob_suite_share_pct",
            100 * median(submits) / 1000 / e2e,
            "%",
            goal="report",
            note=f"the jobs API's submit (snapshot ConfigMap + create as the user; median "
            f"{median(submits):.0f} ms) as a share of submit -> Succeeded",
        ),
    ]


def _working_tree(root: Path, files: int, size: int) -> Path:
    """A project: source files (text) plus ignored data and checkpoints (binary), ``size`` bytes."""
    rng = random.Random(5000)
    words = [f"{rng.choice('abcdefghijklmnopqrstuvwxyz')}{i}" for i in range(2000)]
    source_files = files * 9 // 10
    data_files = files - source_files
    source_size = size // 5  # 20% code and configs, 80% ignored data
    (root / "data").mkdir(parents=True)
    (root / "checkpoints").mkdir()
    (root / ".gitignore").write_text("data/\ncheckpoints/\n*.pt\n__pycache__/\n")
    for i in range(source_files):
        package = root / f"pkg{i % 50}"
        package.mkdir(exist_ok=True)
        line_count = max(1, source_size // source_files // 40)
        text = "\n".join(" ".join(rng.choices(words, k=6)) for _ in range(line_count))
        (package / f"module_{i}.py").write_text(text)
    for i in range(data_files):
        folder = root / ("data" if i % 2 else "checkpoints")
        (folder / f"blob_{i}.bin").write_bytes(os.urandom((size - source_size) // data_files))
    return root


class _User:
    def __init__(self, namespace: str, credentials, kubeconfig: Path, token_file: Path):
        self.namespace = namespace
        self.credentials = credentials
        self.kubeconfig = kubeconfig
        self.token_file = token_file


def _user(cp, work: Path) -> _User:
    import kubernetes
    from jupyter_mlops.jobs.credentials import KubeCredentials
    from jupyterhub_mlops.provisioning import ensure_user_namespace
    from kubernetes_asyncio import config as async_config
    from mlops_cluster.identities import write_kubeconfig

    async def provision():
        api = await async_config.new_client_from_config(config_file=str(cp.kubeconfig("hub")))
        async with api:
            return await ensure_user_namespace(api, "bench", prefix=f"mlops-{uuid.uuid4().hex[:4]}-")

    provisioned = asyncio.run(provision())
    core = kubernetes.client.CoreV1Api(cp.api_client("admin"))
    token = core.create_namespaced_service_account_token(
        provisioned.service_account,
        provisioned.namespace,
        kubernetes.client.AuthenticationV1TokenRequest(
            spec=kubernetes.client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
        ),
    ).status.token
    token_file = work / "token"
    token_file.write_text(token)
    kubeconfig = write_kubeconfig(work / "kubeconfig", cp.server, cp.ca_file, "bench", token)
    credentials = KubeCredentials(
        server=cp.server,
        namespace=provisioned.namespace,
        ca_file=str(cp.ca_file),
        token_file=str(token_file),
    )
    return _User(provisioned.namespace, credentials, kubeconfig, token_file)


class _notebook_server:
    """A jupyter-server with the jupyter_mlops extension acting as ``user``."""

    def __init__(self, user: _User, work: Path):
        self.user, self.work = user, work

    def __enter__(self) -> tuple[str, str]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        self.token = secrets.token_hex(16)
        (self.work / "root").mkdir(exist_ok=True)
        repo = Path(__file__).resolve().parent.parent
        env = dict(
            os.environ,
            JUPYTER_CONFIG_DIR=str(self.work / "cfg"),
            JUPYTER_RUNTIME_DIR=str(self.work / "rt"),
            PYTHONPATH=os.pathsep.join([str(repo / "server_ext"), os.environ.get("PYTHONPATH", "")]),
            MLOPS_KUBE_SERVER=self.user.credentials.server,
            MLOPS_KUBE_TOKEN_FILE=str(self.user.token_file),
            MLOPS_KUBE_CA_FILE=self.user.credentials.ca_file,
            MLOPS_NAMESPACE=self.user.namespace,
        )
        self.log = open(self.work / "server.log", "w")  # noqa: SIM115 - closed in __exit__
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "jupyter_server",
                f"--port={port}",
                "--ip=127.0.0.1",
                f"--IdentityProvider.token={self.token}",
                "--ServerApp.open_browser=False",
                "--ServerApp.allow_root=True",
                f"--ServerApp.root_dir={self.work / 'root'}",
                "--ServerApp.jpserver_extensions=jupyter_mlops=True",
                "--log-level=WARN",
            ],
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.proc.poll() is None:
            try:
                if (
                    httpx.get(
                        f"{base}/api/status",
                        timeout=2,
                        headers={"Authorization": f"token {self.token}"},
                    ).status_code
                    == 200
                ):
                    return f"{base}/mlops/api/v1", self.token
            except httpx.TransportError:
                time.sleep(0.3)
        raise RuntimeError(f"jupyter-server did not start: {(self.work / 'server.log').read_text()}")

    def __exit__(self, *exc) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=30)
        self.log.close()
