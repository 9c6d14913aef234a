"""Helpers shared by the tests (import them from here, never from a conftest:
with several conftest.py files, ``import conftest`` finds whichever came last)."""

from __future__ import annotations

import base64
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ARTIFACTS = REPO / "test-artifacts"
CHP = Path(shutil.which("configurable-http-proxy") or Path(sys.executable).parent / "configurable-http-proxy")
"""configurable-http-proxy: scripts/bootstrap.sh links it into the virtualenv's bin."""


def local_hub_config(*, port: int, hub_port: int, proxy_api_port: int, run_dir: Path) -> str:
    """The lines every test JupyterHub shares: loopback ports, its own proxy, a private
    sqlite database, cookie secret and pid file in ``run_dir``, dummy authentication.
    Append the test's own lines (services, roles, spawner) to it."""
    return f"""
c = get_config()  # noqa: F821
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.ConfigurableHTTPProxy.command = ["{CHP}"]
c.JupyterHub.db_url = "sqlite:///{run_dir}/jupyterhub.sqlite"
c.JupyterHub.cookie_secret_file = "{run_dir}/cookie_secret"
c.JupyterHub.pid_file = "{run_dir}/jupyterhub.pid"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
"""


def create_namespace(core_v1, name: str, labels: dict | None = None) -> str:
    """Create a namespace and wait for its default service account (pods need it)."""
    import kubernetes

    core_v1.create_namespace(
        kubernetes.client.V1Namespace(metadata=kubernetes.client.V1ObjectMeta(name=name, labels=labels))
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            core_v1.read_namespaced_service_account("default", name)
            return name
        except kubernetes.client.ApiException as exc:
            if exc.status != 404:
                raise
        time.sleep(0.1)
    raise TimeoutError(f"namespace {name}: no default service account after 30s")


def wait_for(predicate, timeout: float = 30, interval: float = 0.2, what: str = "condition"):
    """Poll ``predicate`` until it returns something truthy; return that."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = predicate()
        if last:
            return last
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what} (last: {last!r})")


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (a server that is down)."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def etcd(control_plane, call: str, body: dict) -> dict:
    """One call of the control plane's etcd v3 JSON gateway (keys are base64, see ``b64``)."""
    import requests

    resp = requests.post(f"{control_plane.etcd_url}/v3/{call}", json=body, timeout=10)
    resp.raise_for_status()
    return resp.json()


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()
