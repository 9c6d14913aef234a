"""A real JupyterHub (with its proxy and the availability service) for the spawner tests.

The hub runs GPUKubeSpawner against the local control plane as the ``hub``
identity; notebook pods are bound by the real scheduler and set Running by
KWOK, but nothing listens on their IPs, so spawns never become ready: the
tests look at what the hub refuses, what pods it creates and what the
availability service reports.
"""

from __future__ import annotations

import ctypes
import os
import re
import secrets
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from urllib.parse import urlencode

import requests
from mlops_cluster.ports import free_ports

from tests.mlops_testing import local_hub_config

REPO = Path(__file__).resolve().parents[2]
PASSWORD = "correct horse"
SERVICE = "gpu-availability"

CONFIG = """
import os
from jupyterhub_mlops.availability import configure_hub

c.DummyAuthenticator.password = "{password}"
c.JupyterHub.spawner_class = "jupyterhub_mlops.spawner.GPUKubeSpawner"
c.JupyterHub.slow_spawn_timeout = 0
c.JupyterHub.allow_named_servers = True  # spawn URLs name servers (tests of query options)
c.JupyterHub.cleanup_servers = False  # pods outlive a hub restart, as in production
c.JupyterHub.load_groups = {{"students": {{"users": ["carol"]}},
                            "lab": {{"users": ["erin", "frank", "gina"]}}}}
c.JupyterHub.services = [
    {{"name": "test-admin", "api_token": os.environ.get("TEST_ADMIN_TOKEN", "")}},
]
c.JupyterHub.load_roles = [{{"name": "test-admin", "services": ["test-admin"],
    "scopes": ["admin:users", "admin:servers", "read:users", "tokens", "read:metrics",
               "access:services!service={service}"]}}]

c.KubeSpawner.namespace = "{namespace}"
c.KubeSpawner.start_timeout = 30
c.KubeSpawner.http_timeout = 60
c.KubeSpawner.image = "quay.io/jupyter/base-notebook:latest"


def test_hooks(spawner, pod):
    # Lets a test make a spawn fail after its GPUs were reserved.
    if spawner.user.name == "failing":
        raise RuntimeError("pod hook refused this pod (test)")
    # Lets a test keep a pod pending: no scheduler of that name runs, so the pod
    # waits for a node as it would behind a busy scheduler.
    if spawner.user.name.startswith("waiting"):
        pod.spec.scheduler_name = "no-such-scheduler"
    return pod


c.KubeSpawner.modify_pod_hook = test_hooks

c.GpuProfiles.profiles = [
    {{"display_name": "CPU only", "slug": "cpu", "gpus": 0, "cpu": "1", "memory": "2Gi",
      "default": True}},
    {{"display_name": "One RTX A6000", "slug": "rtx-1", "gpu_type": "NVIDIA-RTX-A6000", "gpus": 1,
      "cpu": "2", "memory": "8Gi"}},
    {{"display_name": "Four A100", "slug": "a100-4", "gpu_type": "NVIDIA-A100-SXM4-80GB", "gpus": 4,
      "cpu": "16", "memory": "64Gi"}},
    {{"display_name": "Sixteen A100", "slug": "a100-16", "gpu_type": "NVIDIA-A100-SXM4-80GB",
      "gpus": 16,
      "cpu": "16", "memory": "64Gi"}},
]
c.GpuProfiles.user_gpu_cap = 8
c.GpuProfiles.group_member_gpu_caps = {{"students": 1}}
c.GpuProfiles.group_gpu_quotas = {{"lab": 2}}

configure_hub(c, port={service_port}, spawner_token=os.environ.get("GPU_SPAWNER_TOKEN", ""),
              config_file=__file__, kubeconfig="{kubeconfig}")
"""


def _terminate_with_parent() -> None:
    """SIGTERM the hub when the test process dies, so it stops its proxy and service."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


class Hub:
    """``jupyterhub`` in a subprocess; ``url`` is the proxy's public URL."""

    def __init__(
        self, run_dir: Path, control_plane, namespace: str, python: str = sys.executable, extra_config: str = ""
    ):
        self.python = python
        """The interpreter whose JupyterHub and KubeSpawner run: the development
        virtualenv's (what pip resolves, JupyterHub 6) or the hub image's (5.5)."""
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        port, hub_port, proxy_api_port, service_port = free_ports(4)
        self.url = f"http://127.0.0.1:{port}"
        self.admin_token = secrets.token_hex(16)
        self.spawner_token = secrets.token_hex(16)
        self.namespace = namespace
        self.kubeconfig = str(control_plane.kubeconfig("hub"))
        self.config = self.run_dir / "jupyterhub_config.py"
        self.config.write_text(
            local_hub_config(port=port, hub_port=hub_port, proxy_api_port=proxy_api_port, run_dir=self.run_dir)
            + textwrap.dedent(CONFIG).format(
                password=PASSWORD,
                namespace=namespace,
                service=SERVICE,
                service_port=service_port,
                kubeconfig=control_plane.kubeconfig("hub"),
            )
            # A test's own settings, read after (and so over) the common ones.
            + textwrap.dedent(extra_config)
        )
        self.proc: subprocess.Popen | None = None

    def start(self) -> Hub:
        env = dict(
            os.environ,
            KUBECONFIG=self.kubeconfig,
            TEST_ADMIN_TOKEN=self.admin_token,
            GPU_SPAWNER_TOKEN=self.spawner_token,
            PYTHONPATH=os.pathsep.join(
                [str(REPO / "spawner"), str(REPO / "contract"), str(REPO / "cluster"), os.environ.get("PYTHONPATH", "")]
            ),
        )
        self.log = open(self.run_dir / "jupyterhub.log", "ab")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            [self.python, "-m", "jupyterhub", "-f", str(self.config)],
            preexec_fn=_terminate_with_parent,
            cwd=self.run_dir,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        try:
            return self._wait_ready()
        except BaseException:
            self.stop()
            raise

    def _wait_ready(self) -> Hub:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"jupyterhub exited; see {self.run_dir / 'jupyterhub.log'}")
            try:
                doc = self.snapshot()
                if doc.get("in_sync"):
                    return self
            except (requests.RequestException, ValueError):
                pass
            time.sleep(0.3)
        raise RuntimeError(f"hub or availability service not ready; see {self.run_dir}")

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()

    # ------------------------------------------------------------ helpers
    def api(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(
            method,
            f"{self.url}/hub/api{path}",
            timeout=30,
            headers={"Authorization": f"token {self.admin_token}"},
            **kwargs,
        )

    def service(self, path: str, token: str | None = None) -> requests.Response:
        return requests.get(
            f"{self.url}/services/{SERVICE}/{path}",
            timeout=30,
            headers={"Authorization": f"token {token or self.admin_token}"},
        )

    def snapshot(self, user: str | None = None) -> dict:
        resp = self.service("api/v1/snapshot")
        resp.raise_for_status()
        return resp.json()

    def view_of(self, user: str, groups: tuple[str, ...] = ()) -> dict:
        """The snapshot document the spawner gets for ``user`` in ``groups``."""
        query = urlencode([("user", user)] + [("group", g) for g in groups])
        resp = self.service(f"api/v1/snapshot?{query}", token=self.spawner_token)
        resp.raise_for_status()
        return resp.json()

    def reserve(self, user: str, groups: list[str], profile: str, pod: str) -> requests.Response:
        """Ask the availability service for a reservation as the spawner does."""
        return requests.post(
            f"{self.url}/services/{SERVICE}/api/v1/reservations",
            timeout=30,
            headers={"Authorization": f"token {self.spawner_token}"},
            json={"user": user, "groups": groups, "profile": profile, "pod": pod},
        )

    def metric(self, name: str, *, where: str = "service", **labels) -> float:
        """Sum of the samples of ``name`` whose labels include ``labels``, as the
        availability service (``where="service"``) or the hub (``"hub"``) exports them."""
        if where == "hub":
            text = requests.get(
                f"{self.url}/hub/metrics", timeout=30, headers={"Authorization": f"token {self.admin_token}"}
            ).text
        else:
            text = self.service("metrics").text
        want = [f'{k}="{v}"' for k, v in labels.items()]
        total = 0.0
        for line in text.splitlines():
            sample, _, value = line.rpartition(" ")
            if sample.split("{")[0] != name:
                continue
            if all(w in sample for w in want):
                total += float(value)
        return total

    def login(self, user: str) -> requests.Session:
        session = requests.Session()
        page = session.get(f"{self.url}/hub/login", timeout=30)
        xsrf = re.search(r'name="_xsrf" value="([^"]+)"', page.text).group(1)
        resp = session.post(
            f"{self.url}/hub/login",
            timeout=30,
            data={"username": user, "password": PASSWORD, "_xsrf": xsrf},
        )
        resp.raise_for_status()
        session.xsrf = session.cookies.get("_xsrf") or xsrf
        return session

    def spawn_page(self, session: requests.Session) -> str:
        resp = session.get(f"{self.url}/hub/spawn", timeout=30)
        resp.raise_for_status()
        session.xsrf = re.search(r'xsrf_token: "([^"]+)"', resp.text).group(1)
        return resp.text

    def post_form(self, session: requests.Session, data: dict) -> requests.Response:
        return session.post(
            f"{self.url}/hub/spawn",
            timeout=30,
            allow_redirects=False,
            data={**data, "_xsrf": session.xsrf},
        )
