"""The gateway as a Hub-managed service: the Hub starts it with its own token and URLs.

It runs on both JupyterHub majors: the hub image's (5.5, as Zero-to-JupyterHub 4.4
deploys it: ``mlops_cluster.hub_image``) and the development virtualenv's (6), the
gateway with the hub's own interpreter as a deployment runs it; a user registers a
key through the proxy and logs in over SSH into their notebook pod.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import urllib.error
import urllib.request

import pytest
from mlops_cluster import hub_image

from tests.mlops_testing import create_namespace
from tests.ssh.ssh_harness import (
    CHP,
    HERE,
    REPO,
    VENV_BIN,
    free_port,
    public_key_of,
    start_pod,
    stop,
    wait_for,
    wait_port,
)

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


@pytest.fixture(
    params=[(hub_image.IMAGE, "5."), ("development", "6.")],
    ids=["jupyterhub-5.5-as-deployed", "jupyterhub-6-as-pip-resolves"],
)
def hub_venv(request):
    """The bin folder of the hub's virtualenv (jupyterhub, and the python the gateway
    runs on) and the JupyterHub major it holds."""
    variant, major = request.param
    return (hub_image.bin_dir() if variant == hub_image.IMAGE else VENV_BIN), major


def test_hub_starts_the_gateway_with_its_credentials(control_plane, core_v1, hub_venv, tmp_path):
    hub_bin, major = hub_venv
    port, ssh_port, api_port = free_port(), free_port(), free_port()
    admin_token = secrets.token_hex(16)
    gw_config = tmp_path / "jupyterhub_mlops_ssh_config.py"
    gw_config.write_text(
        f'c.SSHGatewayApp.ip = "127.0.0.1"\nc.SSHGatewayApp.port = {ssh_port}\n'
        f'c.SSHGatewayApp.storage = "file"\nc.SSHGatewayApp.data_dir = "{tmp_path / "data"}"\n'
        f'c.SSHGatewayApp.kubeconfig = "{control_plane.kubeconfig("hub")}"\n'
        # Notebook pods in every namespace; the stand-in pod's sshd runs as root here.
        'c.SSHGatewayApp.pod_namespace = ""\nc.SSHGatewayApp.pod_user = "root"\n'
    )
    (tmp_path / "jupyterhub_config.py").write_text(
        MANAGED_HUB_CONFIG.format(
            port=port,
            hub_port=free_port(),
            chp=str(CHP),
            proxy_api_port=free_port(),
            db=tmp_path / "hub.sqlite",
            cookie=str(tmp_path / "cookie_secret"),
            api_port=api_port,
            python=str(hub_bin / "python"),
            gw_config=str(gw_config),
            admin_token=admin_token,
            pythonpath=os.pathsep.join([str(REPO / "spawner"), str(REPO / "contract"), str(HERE)]),
        )
    )
    env = {**os.environ, "PATH": f"{CHP.parent}:{hub_bin}:{os.environ['PATH']}"}
    hub = subprocess.Popen(
        [str(hub_bin / "jupyterhub"), "-f", "jupyterhub_config.py"],
        cwd=tmp_path,
        stdout=open(tmp_path / "hub.log", "wb"),
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    try:
        wait_port("127.0.0.1", ssh_port, timeout=90, proc=hub)
        wait_port("127.0.0.1", api_port, timeout=30, proc=hub)

        def call(method, url, token, body=None):
            req = urllib.request.Request(
                url,
                method=method,
                headers={"Authorization": f"token {token}"},
                data=None if body is None else json.dumps(body).encode(),
            )
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
        assert call("GET", f"{api}/", admin_token)["version"].startswith(major)
        # carol registers a key through the proxy and logs in with it to her notebook pod.
        key = tmp_path / "carol_ed25519"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)], check=True)
        public = (tmp_path / "carol_ed25519.pub").read_text().strip()
        added = call("POST", f"http://127.0.0.1:{port}/services/ssh/api/keys", token, {"key": public})
        assert added["key"].split()[1] == public.split()[1]
        ssh_into_the_notebook(core_v1, key, ssh_port, tmp_path)
    finally:
        stop(hub)
        # The Hub signals its services at shutdown but does not wait for them:
        # end this test's gateway (found by its unique config path) by pid.
        found = subprocess.run(["pgrep", "-f", str(gw_config)], capture_output=True, text=True)
        for pid in found.stdout.split():
            os.kill(int(pid), signal.SIGTERM)


def ssh_into_the_notebook(core_v1, key, ssh_port: int, tmp_path) -> None:
    """carol's command runs in her pod (a namespace of her own), through the gateway."""
    namespace = create_namespace(
        core_v1, f"t-ssh-managed-{secrets.token_hex(3)}", labels={"jupyterhub-mlops/test": "true"}
    )
    gateway_key = public_key_of((tmp_path / "data" / "gateway_ed25519_key").read_text())
    pod = start_pod(core_v1, namespace, "carol", gateway_key, tmp_path / "pods")
    try:
        out = subprocess.run(
            [
                "ssh",
                "-p",
                str(ssh_port),
                "-i",
                str(key),
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "BatchMode=yes",
                "-o",
                "StrictHostKeyChecking=accept-new",
                "-o",
                f"UserKnownHostsFile={tmp_path / 'known_hosts'}",
                "carol@127.0.0.1",
                "echo $MLOPS_POD_NAMESPACE $MLOPS_POD_NAME",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
        assert out.returncode == 0, out.stderr
        assert out.stdout.split() == [namespace, pod.name]
    finally:
        stop(pod.proc)
        try:
            os.kill(int((pod.dir / "sshd" / "sshd.pid").read_text()), signal.SIGTERM)
        except (OSError, ValueError):
            pass
        # Gone before the next variant's carol logs in: a namespace's deletion reaches its
        # pods only later, and the gateway would still find this pod Running meanwhile.
        core_v1.delete_namespaced_pod(pod.name, namespace, grace_period_seconds=0)
        wait_for(
            lambda: not core_v1.list_namespaced_pod(namespace).items,
            timeout=60,
            what=f"carol's pod in {namespace} gone",
        )
        core_v1.delete_namespace(namespace)
