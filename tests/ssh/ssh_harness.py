"""Fixtures of the SSH gateway tests: a real JupyterHub, the gateway, and pods.

Loaded by tests/ssh/conftest.py; the benchmark reuses the helpers.

Everything is real: JupyterHub 6 with configurable-http-proxy, the control
plane's kube-apiserver (pods created as KubeSpawner would, run by KWOK with
loopback IPs, each user's pod in a namespace of its own as GPUKubeSpawner's
provision_user_namespaces places it), the gateway as an external Hub service
(storage in its own namespace, pods looked up in all namespaces), and in each "pod" the
image's own entrypoint (images/singleuser/sshd/start-sshd.sh) starting sshd on
<pod IP>:2222 beside a stand-in notebook (an HTTP server on <pod IP>:8888).
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.mlops_testing import CHP, wait_for

REPO = Path(__file__).resolve().parents[2]


VENV_BIN = Path(sys.executable).parent
ENTRYPOINT = REPO / "images" / "singleuser" / "sshd" / "start-sshd.sh"
HERE = Path(__file__).resolve().parent
USERS = ("alice", "bob")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(host: str, port: int, timeout: float = 30, proc=None) -> None:
    def up():
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before {host}:{port} opened")
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return True
        except OSError:
            return False

    wait_for(up, timeout=timeout, what=f"{host}:{port} to accept connections")


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


# ---- the Hub -----------------------------------------------------------------


@dataclass
class Hub:
    url: str
    api: str
    admin_token: str
    service_token: str
    proc: subprocess.Popen

    def request(self, method: str, path: str, body=None, token: str | None = None):
        """Call the Hub REST API; returns (status, parsed JSON or None)."""
        req = urllib.request.Request(
            self.api + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Authorization": f"token {token or self.admin_token}"},
        )
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, _json_or_text(r.read())
        except urllib.error.HTTPError as e:
            return e.code, _json_or_text(e.read())

    def new_token(self, user: str, **body) -> tuple[str, str]:
        """A fresh API token of ``user``: (token, id)."""
        status, model = self.request("POST", f"/users/{user}/tokens", body or {})
        assert status == 201, model
        return model["token"], model["id"]


def _json_or_text(raw: bytes):
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return raw.decode(errors="replace")


HUB_CONFIG = """
import sys
sys.path.insert(0, {here!r})
c.JupyterHub.ip = "127.0.0.1"
c.JupyterHub.port = {port}
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = {hub_port}
c.ConfigurableHTTPProxy.command = [{chp!r}]
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{proxy_api_port}"
c.JupyterHub.authenticator_class = "dummy"
c.Authenticator.allow_all = True
c.JupyterHub.spawner_class = "hub_spawner.ExistingPodSpawner"
c.Spawner.start_timeout = 30
c.Spawner.http_timeout = 30
c.JupyterHub.db_url = "sqlite:///{db}"
c.JupyterHub.cookie_secret_file = {cookie!r}
c.JupyterHub.services = [
    {{"name": "ssh", "api_token": {service_token!r}, "url": "http://127.0.0.1:{ssh_api_port}"}},
    {{"name": "test-admin", "api_token": {admin_token!r}}},
]
c.JupyterHub.load_roles = [
    {{"name": "user", "scopes": ["self", "access:services!service=ssh"]}},
    {{"name": "ssh-gateway", "services": ["ssh"], "scopes": ["users:activity", "read:users"]}},
    {{"name": "test-admin", "services": ["test-admin"],
      "scopes": ["admin:users", "admin:servers", "tokens", "read:users", "admin:auth_state"]}},
]
"""


@pytest.fixture(scope="session")
def hub(tmp_path_factory) -> Hub:
    if not CHP.exists():
        pytest.fail(f"configurable-http-proxy not found at {CHP} (run make install)")
    d = tmp_path_factory.mktemp("hub")
    port, hub_port = free_port(), free_port()
    admin_token, service_token = secrets.token_hex(16), secrets.token_hex(16)
    (d / "jupyterhub_config.py").write_text(
        HUB_CONFIG.format(
            here=str(HERE),
            port=port,
            hub_port=hub_port,
            chp=str(CHP),
            proxy_api_port=free_port(),
            db=d / "hub.sqlite",
            cookie=str(d / "cookie_secret"),
            service_token=service_token,
            admin_token=admin_token,
            ssh_api_port=SSH_API_PORT,
        )
    )
    log = open(d / "hub.log", "wb")
    env = {**os.environ, "PATH": f"{CHP.parent}:{VENV_BIN}:{os.environ['PATH']}"}
    proc = subprocess.Popen(
        [str(VENV_BIN / "jupyterhub"), "-f", "jupyterhub_config.py"],
        cwd=d,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )
    hub = Hub(
        url=f"http://127.0.0.1:{port}",
        api=f"http://127.0.0.1:{port}/hub/api",
        admin_token=admin_token,
        service_token=service_token,
        proc=proc,
    )

    def ready():
        if proc.poll() is not None:
            raise RuntimeError(f"jupyterhub exited; log: {d / 'hub.log'}")
        try:
            return hub.request("GET", "/")[0] == 200
        except OSError:
            return False

    wait_for(ready, timeout=60, what="JupyterHub to answer")
    for user in USERS:
        status, _ = hub.request("POST", f"/users/{user}")
        assert status in (201, 409)
    yield hub
    stop(proc)


SSH_API_PORT = free_port()


# ---- the cluster side ---------------------------------------------------------


@pytest.fixture(scope="session")
def ssh_namespace(control_plane, core_v1) -> str:
    name = f"t-ssh-{secrets.token_hex(3)}"
    core_v1.create_namespace({"metadata": {"name": name, "labels": {"jupyterhub-mlops/test": "true"}}})
    # Pods need the namespace's default service account.
    wait_for(
        lambda: core_v1.list_namespaced_service_account(name).items, timeout=30, what="the default service account"
    )
    # The gateway's storage (its Secret, users' key ConfigMaps) lives in one namespace,
    # where the hub gets the storage role, as helm-values/rbac-release-namespace.yaml
    # grants it in the release namespace.
    control_plane.kubectl(
        "create",
        "rolebinding",
        "hub-storage",
        "-n",
        name,
        "--clusterrole=jupyterhub-mlops:hub-storage",
        "--group=mlops:hub",
    )
    yield name
    core_v1.delete_namespace(name)


@pytest.fixture(scope="session")
def user_namespaces(control_plane, core_v1) -> dict[str, str]:
    """One namespace per user, named as provision_user_namespaces names them."""
    from jupyterhub_mlops.provisioning import user_namespace

    prefix = f"t-ssh-{secrets.token_hex(3)}-"
    names = {user: user_namespace(user, prefix) for user in USERS}
    for name in names.values():
        core_v1.create_namespace({"metadata": {"name": name, "labels": {"jupyterhub-mlops/test": "true"}}})
        wait_for(
            lambda n=name: core_v1.list_namespaced_service_account(n).items,
            timeout=30,
            what="the default service account",
        )
    yield names
    for name in names.values():
        core_v1.delete_namespace(name)


def notebook_pod(user: str, server: str = "") -> dict:
    """A notebook pod as KubeSpawner (with GPUKubeSpawner's owner label) builds it."""
    from kubespawner.slugs import is_valid_label, safe_slug

    annotations = {"hub.jupyter.org/username": user}
    if server:
        annotations["hub.jupyter.org/servername"] = server
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": f"jupyter-{user}" + (f"--{server}" if server else ""),
            "labels": {
                "component": "singleuser-server",
                "app.kubernetes.io/component": "singleuser-server",
                "hub.jupyter.org/username": safe_slug(user, is_valid=is_valid_label),
                "hub.jupyter.org/servername": safe_slug(server, is_valid=is_valid_label),
                "jupyterhub-mlops/user": user,
            },
            "annotations": annotations,
        },
        "spec": {
            "containers": [
                {
                    "name": "notebook",
                    "image": "jupyter/base-notebook",
                    "ports": [{"containerPort": 8888}, {"containerPort": 2222}],
                }
            ]
        },
    }


@dataclass
class Pod:
    user: str
    name: str
    ip: str
    dir: Path
    proc: subprocess.Popen | None = None


# ---- the gateway ---------------------------------------------------------------


@dataclass
class Gateway:
    port: int
    api_port: int
    config: Path
    audit_file: Path
    env: dict
    log: Path
    proc: subprocess.Popen | None = None
    restarts: int = 0

    def start(self) -> None:
        log = open(self.log, "ab")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "jupyterhub_mlops.ssh", "--config", str(self.config)],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_port("127.0.0.1", self.port, timeout=60, proc=self.proc)
        wait_port("127.0.0.1", self.api_port, timeout=30, proc=self.proc)

    def stop(self) -> None:
        if self.proc is not None:
            stop(self.proc)

    def restart(self) -> None:
        self.stop()
        self.restarts += 1
        self.start()

    def audit(self) -> list[dict]:
        if not self.audit_file.exists():
            return []
        return [json.loads(line) for line in self.audit_file.read_text().splitlines() if line]

    def wait_audit(self, what: str = "audit line", timeout: float = 15, **match) -> dict:
        """The first audit record whose fields equal ``match`` (values may be callables)."""

        def ok(rec):
            for k, v in match.items():
                if callable(v):
                    if not v(rec.get(k)):
                        return False
                elif rec.get(k) != v:
                    return False
            return True

        return wait_for(lambda: next((r for r in self.audit() if ok(r)), None), timeout=timeout, what=f"{what} {match}")


GATEWAY_CONFIG = """
c.SSHGatewayApp.ip = "127.0.0.1"
c.SSHGatewayApp.port = {port}
c.SSHGatewayApp.storage = "kubernetes"
c.SSHGatewayApp.storage_namespace = {namespace!r}
# Notebook pods live in per-user namespaces: search them all.
c.SSHGatewayApp.pod_namespace = ""
c.SSHGatewayApp.kubeconfig = {kubeconfig!r}
# The stand-in pods run sshd as root (these tests run as root); in a real
# pod it is the notebook user.
c.SSHGatewayApp.pod_user = "root"
c.SSHGatewayApp.audit_log_file = {audit!r}
c.SSHGatewayApp.login_timeout = 5
c.SSHGatewayApp.idle_timeout = 12
c.SSHGatewayApp.activity_interval = 1
c.SSHGatewayApp.public_hub_url = "{hub_url}/hub/home"
c.HubAuth.cache_max_age = 0
c.SSHGatewayApp.asyncssh_log_level = "INFO"
"""


@pytest.fixture(scope="session")
def gateway(hub, control_plane, ssh_namespace, tmp_path_factory) -> Gateway:
    d = tmp_path_factory.mktemp("gateway")
    port = free_port()
    config = d / "jupyterhub_mlops_ssh_config.py"
    config.write_text(
        GATEWAY_CONFIG.format(
            port=port,
            namespace=ssh_namespace,
            kubeconfig=str(control_plane.kubeconfig("hub")),
            audit=str(d / "audit.jsonl"),
            hub_url=hub.url,
        )
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("JUPYTERHUB_")}
    env.update(
        JUPYTERHUB_API_TOKEN=hub.service_token,
        JUPYTERHUB_API_URL=hub.api,
        JUPYTERHUB_SERVICE_NAME="ssh",
        JUPYTERHUB_SERVICE_URL=f"http://127.0.0.1:{SSH_API_PORT}",
        JUPYTERHUB_SERVICE_PREFIX="/services/ssh/",
        PYTHONPATH=os.pathsep.join([str(REPO / "spawner"), env.get("PYTHONPATH", "")]),
    )
    gw = Gateway(
        port=port, api_port=SSH_API_PORT, config=config, audit_file=d / "audit.jsonl", env=env, log=d / "gateway.log"
    )
    gw.start()
    yield gw
    gw.stop()


def secret_keys(core_v1, namespace: str) -> dict[str, str]:
    """The gateway's keys as stored in its Secret (OpenSSH private key text)."""
    secret = core_v1.read_namespaced_secret("jupyterhub-mlops-ssh-gateway", namespace)
    return {k: base64.b64decode(v).decode() for k, v in secret.data.items()}


def public_key_of(private_text: str) -> str:
    import asyncssh

    return asyncssh.import_private_key(private_text).export_public_key().decode().strip()


# ---- users, their keys and pods -----------------------------------------------


@dataclass
class User:
    name: str
    key: Path
    token: str
    pod: Pod | None = None
    extra: dict = field(default_factory=dict)

    @property
    def public_key(self) -> str:
        return Path(str(self.key) + ".pub").read_text().strip()


def register_key(hub: Hub, token: str, public_key: str):
    req = urllib.request.Request(
        f"{hub.url}/services/ssh/api/keys",
        method="POST",
        data=json.dumps({"key": public_key}).encode(),
        headers={"Authorization": f"token {token}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


def delete_key(hub: Hub, token: str, fingerprint: str) -> int:
    from urllib.parse import quote

    req = urllib.request.Request(
        f"{hub.url}/services/ssh/api/keys/{quote(fingerprint, safe='')}",
        method="DELETE",
        headers={"Authorization": f"token {token}"},
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def start_pod(core_v1, namespace: str, user: str, gateway_public_key: str, base: Path, server: str = "") -> Pod:
    body = notebook_pod(user, server)
    core_v1.create_namespaced_pod(namespace, body)
    name = body["metadata"]["name"]
    pod = wait_for(
        lambda: (p := core_v1.read_namespaced_pod(name, namespace)).status.pod_ip and p.status.phase == "Running" and p,
        timeout=60,
        what=f"pod {name} Running",
    )
    ip = pod.status.pod_ip
    d = base / name
    (d / "home").mkdir(parents=True)
    (d / "home" / f"{user}-notebook.txt").write_text(f"the notebook of {user}\n")
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(d / "home"),
        "MLOPS_SSH_GATEWAY_KEY": gateway_public_key,
        "MLOPS_SSHD_LISTEN": ip,
        "MLOPS_SSHD_DIR": str(d / "sshd"),
        "MLOPS_POD_NAME": name,
        "MLOPS_POD_NAMESPACE": namespace,
        # What the NVIDIA device plugin gives the notebook container.
        "NVIDIA_VISIBLE_DEVICES": f"GPU-{user}-0",
        # A secret the notebook holds, as KubeSpawner hands it the hub token.
        "JUPYTERHUB_API_TOKEN": f"pod-token-of-{name}",
    }
    # The entrypoint of the image: sshd, then the "notebook" (an HTTP server
    # serving the home directory on the pod IP, port 8888).
    proc = subprocess.Popen(
        [str(ENTRYPOINT), sys.executable, "-m", "http.server", "8888", "--bind", ip, "--directory", str(d / "home")],
        env=env,
        cwd=d,
        stdout=open(d / "pod.log", "wb"),
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_port(ip, 2222, proc=proc)
    wait_port(ip, 8888, proc=proc)
    return Pod(user=user, name=name, ip=ip, dir=d, proc=proc)


@pytest.fixture(scope="session")
def users(hub, gateway, core_v1, ssh_namespace, user_namespaces, tmp_path_factory) -> dict[str, User]:
    d = tmp_path_factory.mktemp("users")
    gateway_pub = public_key_of(secret_keys(core_v1, ssh_namespace)["gateway_ed25519_key"])
    result = {}
    for name in USERS:
        key = d / f"{name}_ed25519"
        subprocess.run(
            ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name}@laptop", "-f", str(key)], check=True
        )
        token, _ = hub.new_token(name)
        user = User(name=name, key=key, token=token)
        status, body = register_key(hub, token, user.public_key)
        assert status == 201, body
        user.pod = start_pod(core_v1, user_namespaces[name], name, gateway_pub, d)
        # Tell the Hub the server runs (for activity), as KubeSpawner would.
        status, body = hub.request("POST", f"/users/{name}/server", {"ip": user.pod.ip})
        assert status in (201, 202), body
        result[name] = user
    wait_for(
        lambda: all(hub.request("GET", f"/users/{n}")[1]["servers"].get("", {}).get("ready") for n in USERS),
        timeout=60,
        what="the Hub to see both servers ready",
    )
    yield result
    for user in result.values():
        stop(user.pod.proc)
        try:
            os.kill(int((user.pod.dir / "sshd" / "sshd.pid").read_text()), signal.SIGTERM)
        except (OSError, ValueError):
            pass


# ---- running the real OpenSSH clients -----------------------------------------


@dataclass
class Clients:
    """OpenSSH client invocations through the gateway, with a generated ssh_config."""

    gateway: Gateway
    users: dict[str, User]
    dir: Path
    known_hosts: Path

    def config_for(self, user: User) -> Path:
        path = self.dir / f"ssh_config_{user.name}"
        if not path.exists():
            path.write_text(ssh_config_text(self.gateway.port, user, self.known_hosts, self.dir / "pod_known_hosts"))
        return path

    def run(
        self,
        user: str,
        argv: list[str],
        *,
        program: str = "ssh",
        password: str | None = None,
        timeout: float = 60,
        **kwargs,
    ) -> subprocess.CompletedProcess:
        u = self.users[user]
        env = dict(os.environ)
        opts = ["-F", str(self.config_for(u))]
        if password is not None:
            askpass = self.dir / "askpass.sh"
            askpass.write_text('#!/bin/sh\nprintf "%s\\n" "$MLOPS_TEST_PASSWORD"\n')
            askpass.chmod(0o700)
            env.update(
                SSH_ASKPASS=str(askpass), SSH_ASKPASS_REQUIRE="force", MLOPS_TEST_PASSWORD=password, DISPLAY=":0"
            )
            opts += ["-o", "PreferredAuthentications=password", "-o", "BatchMode=no"]
        return subprocess.run(
            [program, *opts, *argv],
            capture_output=True,
            text=True,
            timeout=timeout,
            env=env,
            stdin=subprocess.DEVNULL,
            **kwargs,
        )


def ssh_config_text(
    port: int, user: User, known_hosts: Path, pod_known_hosts: Path, pod_key: Path | None = None
) -> str:
    """The ~/.ssh/config of the README, with test paths; ``pod_key``: another key for ``pod``."""
    return f"""
Host gw
  HostName 127.0.0.1
  Port {port}
  User {user.name}
  IdentityFile {user.key}
  IdentitiesOnly yes
  UserKnownHostsFile {known_hosts}
  StrictHostKeyChecking yes
  BatchMode yes
  ForwardAgent no

Host pod
  HostName {user.name}
  Port 2222
  User root
  ProxyJump gw
  IdentityFile {pod_key or user.key}
  IdentitiesOnly yes
  UserKnownHostsFile {pod_known_hosts}
  StrictHostKeyChecking accept-new
  BatchMode yes
"""


@pytest.fixture(scope="session")
def clients(gateway, users, core_v1, ssh_namespace, tmp_path_factory) -> Clients:
    d = tmp_path_factory.mktemp("clients")
    host_pub = public_key_of(secret_keys(core_v1, ssh_namespace)["ssh_host_ed25519_key"])
    known_hosts = d / "known_hosts"
    # Pinned from the gateway's Secret: every connection checks it strictly.
    known_hosts.write_text(f"[127.0.0.1]:{gateway.port} {host_pub}\n")
    return Clients(gateway=gateway, users=users, dir=d, known_hosts=known_hosts)


@pytest.fixture(scope="session")
def have_rsync() -> bool:
    return shutil.which("rsync") is not None
