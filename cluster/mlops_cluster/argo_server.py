"""A real Argo Server (``argo server``) next to the local control plane.

    argo = ArgoServer(control_plane).start()   # http://127.0.0.1:<port>
    argo.url
    argo.stop()

It runs as it does in a cluster with ``--auth-mode=client``: every request
is carried out with the caller's own bearer token, so the API server's RBAC
decides what each user may do through it. Its own identity is the
``argo/argo-server`` service account, allowed to read workflows and
workflow templates for its caches and nothing else (cluster/argo/). Plain
HTTP on 127.0.0.1 (``--secure=false``): TLS in front of it is the
deployment's business, not what the tests are about.

Like every process of the control plane, it dies with the process that
started it (see ``processes``); call ``start`` from the main thread.
"""

from __future__ import annotations

import os
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from . import processes
from .controlplane import ControlPlane, ControlPlaneError
from .paths import CLUSTER_DIR
from .ports import free_port

ARGO_DIR = CLUSTER_DIR / "argo"
NAMESPACE = "argo"
SERVICE_ACCOUNT = "argo-server"


class ArgoServer:
    def __init__(self, control_plane: ControlPlane, name: str = "argo-server"):
        self.control_plane = control_plane
        self.name = name
        """Names the log file (``<log_dir>/<name>.log``); two servers need two names."""
        self.port: int | None = None
        self._proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        if self.port is None:
            raise ControlPlaneError("the Argo Server is not started")
        return f"http://127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.control_plane.log_dir / f"{self.name}.log"

    def start(self, timeout: float = 90) -> ArgoServer:
        """Install what it needs (idempotent), start it, and wait until it answers."""
        cp = self.control_plane
        # The upstream CRDs it needs (WorkflowTemplate for its informer) are
        # installed with the cluster (argo_controller.install_crds).
        cp.apply(ARGO_DIR)
        kubeconfig, token = cp.service_account_kubeconfig(NAMESPACE, SERVICE_ACCOUNT, self.name)
        self.port = free_port()
        argv = [
            str(cp.bins.argo),
            "server",
            f"--kubeconfig={kubeconfig}",
            f"--namespace={NAMESPACE}",
            f"--port={self.port}",
            "--auth-mode=client",
            "--secure=false",
            "--loglevel=info",
        ]
        # Per-request clients (--auth-mode=client) are built from the default
        # loading rules, which read KUBECONFIG and ignore --kubeconfig.
        env = dict(os.environ, KUBECONFIG=str(kubeconfig))
        self._proc = processes.start(self.name, argv, cp.log_dir, env=env)
        try:
            self._wait_ready(timeout, token)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop the server; safe to call twice."""
        if self._proc is not None:
            processes.stop(self._proc)
            self._proc = None

    def __enter__(self) -> ArgoServer:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _wait_ready(self, timeout: float, token: str) -> None:
        # The server listens before its HTTP gateway's gRPC connection to
        # itself is up (it dials before listening, then backs off), and
        # answers 503 for calls that need it meanwhile; a 401 for a call
        # without a token comes before that connection and proves nothing.
        # Ready: a call carried out through it, with its own token (it may
        # list the workflows of its namespace), answers 200.
        request = urllib.request.Request(
            f"{self.url}/api/v1/workflows/{NAMESPACE}", headers={"Authorization": f"Bearer {token}"}
        )
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise self._fail(f"exited with code {self._proc.returncode}")
            try:
                with urllib.request.urlopen(request, timeout=2):
                    return
            except urllib.error.HTTPError as answer:
                last = f"HTTP {answer.code}"
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError) as exc:
                last = type(exc).__name__
            time.sleep(0.2)
        raise self._fail(f"did not serve at {self.url} within {timeout:.0f}s (last: {last})")

    def _fail(self, why: str) -> ControlPlaneError:
        return ControlPlaneError(
            f"argo server {why}. Last lines of {self.log_file}:\n"
            + processes.log_tail(self.control_plane.log_dir, self.name)
        )
