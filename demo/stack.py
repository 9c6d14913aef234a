"""The processes of the demo, started in order and stopped in reverse.

``DemoStack.start`` brings up each part and says so on stderr; ``stop``
stops everything it started, newest first, and is safe to call at any point
of a failed start. Every process is a child of this one with the kernel's
parent-death signal (``mlops_cluster.processes``), so none survives the demo,
even when it is killed.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import kubernetes
from mlops_cluster import ControlPlane, processes
from mlops_cluster.ports import free_ports

from . import seed

REPO = Path(__file__).resolve().parent.parent
HUB_NAMESPACE = "jupyterhub"
API_TIMEOUT = 10


@dataclass
class DemoSettings:
    run_dir: Path
    ip: str = "127.0.0.1"
    port: int = 8000
    ssh_port: int = 2222
    password: str = field(default_factory=lambda: secrets.token_urlsafe(9))

    @property
    def url(self) -> str:
        return f"http://{self.ip}:{self.port}/"


class DemoError(RuntimeError):
    """A part of the demo did not start; the message says which and where its log is."""


class DemoStack:
    def __init__(self, settings: DemoSettings) -> None:
        self.settings = settings
        self.run_dir = Path(settings.run_dir).resolve()
        self.log_dir = self.run_dir / "logs"
        self.cluster: ControlPlane | None = None
        self._procs: dict[str, subprocess.Popen] = {}
        self._began = time.monotonic()

    # ------------------------------------------------------------ progress
    def say(self, message: str) -> None:
        print(f"[demo {time.monotonic() - self._began:5.1f}s] {message}", file=sys.stderr, flush=True)

    # ----------------------------------------------------------- lifecycle
    def start(self) -> None:
        self._check_port_free()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        hub_port, proxy_api_port, availability_port, ssh_api_port = free_ports(4)
        self.say(
            "starting the local Kubernetes control plane "
            "(etcd, kube-apiserver, scheduler, KWOK, the Training Operator, "
            "Argo's workflow-controller, Katib with MariaDB)..."
        )
        # The real Training Operator, Argo workflow-controller and Katib run the jobs;
        # their pods run through the pod runner.
        self.cluster = ControlPlane(self.run_dir / "cluster", training_operator=True, argo_controller=True, katib=True)
        self.cluster.start()
        self.say(f"control plane ready at {self.cluster.server} ({self.cluster.startup_seconds:.1f}s)")

        self.say("starting the pod runner (notebook pods run as local processes on their pod IPs)...")
        self._start(
            "pod-runner",
            [
                sys.executable,
                "-m",
                "mlops_cluster.pod_runner",
                f"--kubeconfig={self.cluster.kubeconfig('admin')}",
                f"--home-base={self.run_dir / 'homes'}",
                f"--log-dir={self.run_dir / 'pods'}",
                *self.cluster.pod_runner_arguments(),
            ],
            env={  # what a job's image would bring: python and the suite's packages
                "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"
            },
        )

        self.say("seeding other users' GPU pods so availability is not all free...")
        core = kubernetes.client.CoreV1Api(self.cluster.api_client("admin"))
        self._create_namespace(core, HUB_NAMESPACE)
        self._seed(core)

        proxy_token = secrets.token_hex(32)
        self.say(f"starting configurable-http-proxy on {self.settings.url} ...")
        self._start(
            "proxy",
            [
                str(_venv_bin("configurable-http-proxy")),
                f"--ip={self.settings.ip}",
                f"--port={self.settings.port}",
                "--api-ip=127.0.0.1",
                f"--api-port={proxy_api_port}",
                f"--default-target=http://127.0.0.1:{hub_port}",
                f"--error-target=http://127.0.0.1:{hub_port}/hub/error",
            ],
            env={"CONFIGPROXY_AUTH_TOKEN": proxy_token},
        )
        # Ask our proxy's API, not the public port: something else may listen there.
        self._wait_http(
            f"http://127.0.0.1:{proxy_api_port}/api/routes",
            "proxy",
            timeout=60,
            headers={"Authorization": f"token {proxy_token}"},
        )

        self.say("starting JupyterHub with GPUKubeSpawner...")
        hub_dir = self.run_dir / "hub"
        hub_dir.mkdir(exist_ok=True)
        # The cluster starts empty each time: so does the Hub's database.
        (hub_dir / "jupyterhub.sqlite").unlink(missing_ok=True)
        hub_settings = {
            "public_url": self.settings.url,
            "hub_port": hub_port,
            "proxy_api_url": f"http://127.0.0.1:{proxy_api_port}",
            "password": self.settings.password,
            "namespace": HUB_NAMESPACE,
            "singleuser": str(_venv_bin("jupyterhub-singleuser")),
            "hub_dir": str(hub_dir),
            "python": sys.executable,
            "config_file": str(REPO / "demo" / "jupyterhub_config.py"),
            "availability_port": availability_port,
            "ssh_ip": self.settings.ip,
            "ssh_port": self.settings.ssh_port,
            "ssh_api_port": ssh_api_port,
            "ssh_data_dir": str(self.run_dir / "ssh-gateway"),
            "sshd_entrypoint": str(REPO / "images" / "singleuser" / "sshd" / "start-sshd.sh"),
            "pythonpath": _pythonpath(),
        }
        settings_file = hub_dir / "demo-settings.json"
        settings_file.write_text(json.dumps(hub_settings, indent=2))
        settings_file.chmod(0o600)  # holds the demo password
        self._start(
            "jupyterhub",
            [
                sys.executable,
                "-m",
                "jupyterhub",
                "-f",
                str(REPO / "demo" / "jupyterhub_config.py"),
            ],
            env={
                "KUBECONFIG": str(self.cluster.kubeconfig("hub")),
                "CONFIGPROXY_AUTH_TOKEN": proxy_token,
                "MLOPS_DEMO_SETTINGS": str(settings_file),
                # The token the spawner reserves GPUs with: a secret, so in the
                # environment of the Hub (and its services), never in a file.
                "GPU_SPAWNER_TOKEN": secrets.token_hex(32),
            },
            cwd=hub_dir,
        )
        self._wait_http(f"{self.settings.url}hub/api", "jupyterhub", timeout=120)
        self.say("JupyterHub is up; waiting for its services (GPU availability, SSH gateway)...")
        # The Hub starts its managed services in the background; a spawn
        # before the availability service listens would be refused.
        for port, what in (
            (availability_port, "the GPU availability service"),
            (ssh_api_port, "the SSH gateway's key API"),
            (self.settings.ssh_port, "the SSH gateway"),
        ):
            self._wait_port(
                "127.0.0.1" if port != self.settings.ssh_port else self.settings.ip, port, what, timeout=120
            )
        self.say("GPU availability service and SSH gateway are up")

    def stop(self) -> None:
        """Stop everything, newest first. The Hub stops the users' servers
        (their pods are deleted, so the pod runner stops their processes)."""
        for name in reversed(list(self._procs)):
            self.say(f"stopping {name}...")
            processes.stop_tree(self._procs.pop(name), timeout=30)
        if self.cluster is not None:
            self.say("stopping the control plane...")
            self.cluster.stop()
            self.cluster = None
        self.say("stopped")

    def check_alive(self) -> None:
        """Raise DemoError if a part exited by itself."""
        for name, proc in self._procs.items():
            if proc.poll() is not None:
                raise self._failed(name, f"exited with code {proc.returncode}")
        for name, alive in (self.cluster.running() if self.cluster else {}).items():
            if not alive:
                raise DemoError(f"{name} of the control plane exited; logs in {self.cluster.log_dir}")

    # ------------------------------------------------------------ helpers
    def _check_port_free(self) -> None:
        # configurable-http-proxy logs a busy port but keeps running: ask first.
        for port, option in ((self.settings.port, "--port"), (self.settings.ssh_port, "--ssh-port")):
            family = socket.AF_INET6 if ":" in self.settings.ip else socket.AF_INET
            with socket.socket(family) as probe:
                # As the proxy does: connections of a previous run in TIME_WAIT do not count.
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                try:
                    probe.bind((self.settings.ip, port))
                except OSError as error:
                    raise DemoError(
                        f"cannot listen on {self.settings.ip}:{port} "
                        f"({error.strerror}): stop what uses it or choose another "
                        f"{option}"
                    ) from None

    def _start(self, name: str, argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> None:
        full_env = {**os.environ, "PYTHONPATH": _pythonpath(), **(env or {})}
        self._procs[name] = processes.start(name, argv, self.log_dir, env=full_env, cwd=cwd)

    def _failed(self, name: str, why: str) -> DemoError:
        return DemoError(
            f"{name} {why}. Last lines of {self.log_dir / (name + '.log')}:\n" + processes.log_tail(self.log_dir, name)
        )

    def _wait_http(self, url: str, name: str, timeout: float, headers: dict[str, str] | None = None) -> None:
        request = urllib.request.Request(url, headers=headers or {})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._procs[name].poll() is not None:
                raise self._failed(name, f"exited with code {self._procs[name].returncode}")
            try:
                with urllib.request.urlopen(request, timeout=5) as response:
                    if response.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, OSError):
                pass
            time.sleep(0.3)
        raise self._failed(name, f"did not answer at {url} within {timeout:.0f}s")

    def _wait_port(self, host: str, port: int, what: str, timeout: float) -> None:
        """Wait until ``what``, a service the Hub runs, accepts connections."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._procs["jupyterhub"].poll() is not None:
                raise self._failed("jupyterhub", "exited")
            try:
                with socket.create_connection((host, port), timeout=2):
                    return
            except OSError:
                time.sleep(0.3)
        raise self._failed(
            "jupyterhub",
            f"started {what}, which did not listen on {host}:{port} "
            f"within {timeout:.0f}s (its output is in the Hub's log)",
        )

    def _create_namespace(self, core, name: str) -> None:
        """Create ``name`` and wait for its default service account (pods need it)."""
        try:
            core.create_namespace({"metadata": {"name": name}}, _request_timeout=API_TIMEOUT)
        except kubernetes.client.ApiException as error:
            if error.status != 409:  # already there: fine
                raise
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                core.read_namespaced_service_account("default", name, _request_timeout=API_TIMEOUT)
                return
            except kubernetes.client.ApiException as error:
                if error.status != 404:
                    raise
            time.sleep(0.2)
        raise DemoError(
            f"namespace {name} got no default service account in 60s; "
            f"see {self.cluster.log_dir / 'kube-controller-manager.log'}"
        )

    def _seed(self, core) -> None:
        self._create_namespace(core, seed.NAMESPACE)
        for pod in seed.seed_manifests()[1:]:
            try:
                core.create_namespaced_pod(seed.NAMESPACE, pod, _request_timeout=API_TIMEOUT)
            except kubernetes.client.ApiException as error:
                if error.status != 409:
                    raise
            self.say(f"  {seed.describe(pod)}")


def _venv_bin(name: str) -> Path:
    """A program of this virtualenv (next to the running python, unresolved)."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        raise DemoError(f"{path} is missing: run `make install`")
    return path


def _pythonpath() -> str:
    """The children import mlops_cluster (and this checkout's packages) too."""
    parts = [str(REPO / "cluster")] + [p for p in os.environ.get("PYTHONPATH", "").split(":") if p]
    return ":".join(dict.fromkeys(parts))
