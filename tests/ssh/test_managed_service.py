"""The gateway as a Hub-managed service: the Hub starts it with its own token and URLs."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import urllib.error
import urllib.request

import pytest
from ssh_harness import CHP, HERE, REPO, VENV_BIN, free_port, stop, wait_for, wait_port

pytestmark = pytest.mark.cluster

MANAGED_HUB_CONFIG = """
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.command = [{chp!r}]
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.db_url = "sqlite:///{db}"
c.JupyterHub.cookie_secret_file = {cookie!r}
c.JupyterHub.services = [
    {{"name": "ssh", "url": "http://127.0.0.1:{api_port}",
      "command": [{python!r}, "-m", "jupyterhub_mlops.ssh", "--config", {gw_config!r}],
      "environment": {{"PYTHONPATH": {pythonpath!r}}}}},
    {{"name": "test-admin", "api_token": {admin_token!r}}},
]
c.JupyterHub.load_roles = [
    {{"name": "user", "scopes": ["self", "access:services!service=ssh"]}},
    {{"name": "ssh-gateway", "services": ["ssh"], "scopes": ["users:activity", "read:users"]}},
    {{"name": "test-admin", "services": ["test-admin"], "scopes": ["admin:users", "tokens"]}},
]
"""


def test_hub_starts_the_gateway_with_its_credentials(control_plane, tmp_path):
    port, ssh_port, api_port = free_port(), free_port(), free_port()
    admin_token = secrets.token_hex(16)
    gw_config = tmp_path / "jupyterhub_mlops_ssh_config.py"
    gw_config.write_text(
        f'c.SSHGatewayApp.ip = "127.0.0.1"\nc.SSHGatewayApp.port = {ssh_port}\n'
        f'c.SSHGatewayApp.storage = "file"\nc.SSHGatewayApp.data_dir = "{tmp_path / "data"}"\n'
        f'c.SSHGatewayApp.kubeconfig = "{control_plane.kubeconfig("hub")}"\n')
    (tmp_path / "jupyterhub_config.py").write_text(MANAGED_HUB_CONFIG.format(
        port=port, hub_port=free_port(), chp=str(CHP), proxy_api_port=free_port(),
        db=tmp_path / "hub.sqlite", cookie=str(tmp_path / "cookie_secret"), api_port=api_port,
        python=sys.executable, gw_config=str(gw_config), admin_token=admin_token,
        pythonpath=os.pathsep.join([str(REPO / "spawner"), str(HERE)])))
    env = {**os.environ, "PATH": f"{CHP.parent}:{VENV_BIN}:{os.environ['PATH']}"}
    hub = subprocess.Popen([str(VENV_BIN / "jupyterhub"), "-f", "jupyterhub_config.py"],
                           cwd=tmp_path, stdout=open(tmp_path / "hub.log", "wb"),
                           stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        wait_port("127.0.0.1", ssh_port, timeout=90, proc=hub)
        wait_port("127.0.0.1", api_port, timeout=30, proc=hub)

        def call(method, url, token, body=None):
            req = urllib.request.Request(url, method=method, headers={
                "Authorization": f"token {token}"},
                data=None if body is None else json.dumps(body).encode())
            with urllib.request.urlopen(req, timeout=30) as r:
                return json.loads(r.read())

        api = f"http://127.0.0.1:{port}/hub/api"

        def hub_ready():
            try:
                return call("GET", f"{api}/", admin_token)
            except (urllib.error.URLError, OSError):
                return None
        wait_for(hub_ready, timeout=60, what="the Hub's API behind its proxy")
        call("POST", f"{api}/users/carol", admin_token)
        token = call("POST", f"{api}/users/carol/tokens", admin_token, {})["token"]
        # The gateway identifies carol with the Hub using the token the Hub gave it.
        reply = call("GET", f"http://127.0.0.1:{port}/services/ssh/api/keys", token)
        assert reply == {"keys": []}
        # Its host key persisted under data_dir, as configured.
        assert (tmp_path / "data" / "ssh_host_ed25519_key").exists()
    finally:
        stop(hub)
        # The Hub signals its services at shutdown but does not wait for them:
        # end this test's gateway (found by its unique config path) by pid.
        found = subprocess.run(["pgrep", "-f", str(gw_config)], capture_output=True, text=True)
        for pid in found.stdout.split():
            os.kill(int(pid), signal.SIGTERM)
