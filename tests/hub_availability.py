"""The REAL hub-side GPU availability service, for tests of the notebook side (magics, sidebar).

A real JupyterHub (``python -m jupyterhub``) with its configurable-http-proxy,
running the availability service (``spawner/jupyterhub_mlops/availability``)
as a hub-managed service, wired in exactly as a deployment wires it
(``configure_hub``). The service watches the test control plane's real Nodes
and Pods as the ``hub`` identity. Notebook-side code reaches it through the
proxy, with a real JupyterHub API token of the user, as a notebook pod does
with ``$JUPYTERHUB_API_TOKEN``.

Two ways in:

- the session fixture ``hub_availability``: tests/conftest.py registers this
  module as a plugin, once, so that one hub serves the whole session; ask for the
  fixture by name and never import it (an imported fixture is a second hub)::

      def test_x(hub_availability):
          env = hub_availability.environment("alice")  # MLOPS_AVAILABILITY_URL,
          ...                                           # JUPYTERHUB_API_TOKEN, JUPYTERHUB_USER

- the context manager ``running_hub_availability(control_plane, run_dir, python=...)``,
  for code outside pytest (benchmarks) or a hub of your own: ``python`` is the
  interpreter of the hub and its service (the development virtualenv's by default,
  JupyterHub 6; ``mlops_cluster.hub_image.python()`` for the hub image's 5.5).

Both yield a ``HubAvailability``:

- ``url``: the availability snapshot (``.../services/gpu-availability/api/v1/snapshot``)
  through the proxy: what ``MLOPS_AVAILABILITY_URL`` holds in a notebook pod;
- ``token(user)``: a JupyterHub API token of ``user`` (created on first use,
  with the user; ``alice`` and ``bob`` exist from the start), allowed to read
  the availability service;
- ``environment(user)``: the three variables above for a notebook of ``user``;
- ``snapshot(user)``: the document ``user`` is served (``gpu_types``,
  ``profiles``, ``user: {owner, held_gpus, cap}``);
- ``user_gpu_cap``: the per-user GPU cap the service enforces (``USER_GPU_CAP``).

The hub counts a user's GPUs from pods labelled ``jupyterhub-mlops/user=<user>``
(its notebook servers); a test can create such a pod to make a user hold GPUs.

PYTEST_DONT_REWRITE: test modules import ``USER_GPU_CAP`` before pytest loads
this module as a plugin; it has no asserts to rewrite.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from mlops_cluster.ports import free_ports

from tests.mlops_testing import local_hub_config

REPO = Path(__file__).resolve().parents[1]
SERVICE = "gpu-availability"
USERS = ("alice", "bob")
USER_GPU_CAP = 16
"""GPUs one user may hold at once (GpuProfiles.user_gpu_cap): room for the usual test jobs,
less than a large request (e.g. 3 workers x 8 GPUs) or a held server plus a 16-GPU job."""

CONFIG = """
import os
from jupyterhub_mlops.availability import configure_hub

# Only the admin service below makes users and tokens; nobody spawns here.
# The service reads this file too, without the hub's environment: .get, not [].
c.JupyterHub.services = [
    {{"name": "test-admin", "api_token": os.environ.get("HUB_AVAILABILITY_ADMIN_TOKEN", "")}},
]
c.JupyterHub.load_roles = [{{"name": "test-admin", "services": ["test-admin"],
    "scopes": ["admin:users", "tokens", "access:services!service={service}"]}}]
c.GpuProfiles.user_gpu_cap = {user_gpu_cap}
configure_hub(c, port={service_port},
              spawner_token=os.environ.get("HUB_AVAILABILITY_SPAWNER_TOKEN", ""),
              config_file=__file__, kubeconfig="{kubeconfig}")
"""


def _terminate_with_parent() -> None:
    """SIGTERM the hub when the test process dies, so it stops its proxy and service."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class HubAvailability:
    """A running hub with the availability service (see the module's docstring)."""

    hub_url: str
    """The proxy's public URL (no trailing slash)."""
    admin_token: str
    run_dir: Path
    user_gpu_cap: int = USER_GPU_CAP
    _tokens: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        """The snapshot URL through the proxy: a notebook's ``MLOPS_AVAILABILITY_URL``."""
        return f"{self.hub_url}/services/{SERVICE}/api/v1/snapshot"

    def token(self, user: str) -> str:
        """A JupyterHub API token of ``user`` (the user is created if new), cached per user."""
        if user not in self._tokens:
            created = self._admin("POST", f"/users/{user}")
            if created.status_code not in (201, 409):
                created.raise_for_status()
            issued = self._admin(
                "POST",
                f"/users/{user}/tokens",
                json={"note": "notebook (test)", "scopes": [f"access:services!service={SERVICE}"]},
            )
            issued.raise_for_status()
            self._tokens[user] = issued.json()["token"]
        return self._tokens[user]

    def environment(self, user: str) -> dict[str, str]:
        """What a notebook pod of ``user`` has for the availability API."""
        return {
            "MLOPS_AVAILABILITY_URL": self.url,
            "JUPYTERHUB_API_TOKEN": self.token(user),
            "JUPYTERHUB_USER": user,
        }

    def snapshot(self, user: str) -> dict:
        """The availability document served to ``user``."""
        response = requests.get(self.url, headers={"Authorization": f"token {self.token(user)}"}, timeout=30)
        response.raise_for_status()
        return response.json()

    def _admin(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(
            method,
            f"{self.hub_url}/hub/api{path}",
            headers={"Authorization": f"token {self.admin_token}"},
            timeout=30,
            **kwargs,
        )


@contextlib.contextmanager
def running_hub_availability(control_plane, run_dir: Path, python: str = sys.executable) -> Iterator[HubAvailability]:
    """Start JupyterHub + proxy + availability service against ``control_plane``; stop them after.

    Yields once the service answers with an inventory in sync with the cluster,
    and ``alice``'s and ``bob``'s tokens exist. Logs: ``run_dir/jupyterhub.log``
    (the hub, its proxy and the service).
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    port, hub_port, proxy_api_port, service_port = free_ports(4)
    config = run_dir / "jupyterhub_config.py"
    config.write_text(
        local_hub_config(port=port, hub_port=hub_port, proxy_api_port=proxy_api_port, run_dir=run_dir)
        + textwrap.dedent(CONFIG).format(
            service_port=service_port,
            service=SERVICE,
            user_gpu_cap=USER_GPU_CAP,
            kubeconfig=control_plane.kubeconfig("hub"),
        )
    )
    hub = HubAvailability(f"http://127.0.0.1:{port}", secrets.token_hex(16), run_dir)
    env = {
        **os.environ,
        "HUB_AVAILABILITY_ADMIN_TOKEN": hub.admin_token,
        "HUB_AVAILABILITY_SPAWNER_TOKEN": secrets.token_hex(16),
        # This checkout's hub side and the contract it imports, also for the service the
        # hub starts (it keeps PYTHONPATH): the hub image's virtualenv has neither.
        "PYTHONPATH": os.pathsep.join(
            [str(REPO / "spawner"), str(REPO / "contract"), str(REPO / "cluster"), os.environ.get("PYTHONPATH", "")]
        ),
    }
    log_file = run_dir / "jupyterhub.log"
    with open(log_file, "ab") as log:
        proc = subprocess.Popen(
            [python, "-m", "jupyterhub", "-f", str(config)],
            cwd=run_dir,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=_terminate_with_parent,
        )
    try:
        _wait_in_sync(hub, proc, log_file)
        for user in USERS:
            hub.token(user)
        yield hub
    finally:
        proc.terminate()  # the hub stops its proxy and the service
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def _wait_in_sync(hub: HubAvailability, proc: subprocess.Popen, log_file: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyterhub exited:\n{log_file.read_text()[-3000:]}")
        try:
            response = requests.get(hub.url, headers={"Authorization": f"token {hub.admin_token}"}, timeout=5)
            if response.status_code == 200 and response.json().get("in_sync"):
                return
        except (requests.RequestException, ValueError):
            pass
        time.sleep(0.3)
    raise RuntimeError(f"the availability service was not in sync in 90s:\n{log_file.read_text()[-3000:]}")


@pytest.fixture(scope="session")
def hub_availability(control_plane, tmp_path_factory) -> Iterator[HubAvailability]:
    """One real hub with the availability service for the whole test session."""
    with running_hub_availability(control_plane, tmp_path_factory.mktemp("hub")) as hub:
        yield hub
