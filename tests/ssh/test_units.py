"""Unit tests of the gateway's pure parts: names, forwarding policy, limits, pod side, keys."""

from __future__ import annotations

import json

import asyncssh
import pytest
from jupyterhub_mlops.ssh.gateway_keys import GATEWAY_KEY, HOST_KEY, load_file_keys
from jupyterhub_mlops.ssh.hub import ActivityReporter
from jupyterhub_mlops.ssh.keystore import (
    FileKeyStore,
    KeyRegistrationError,
    authorized_keys_text,
    keys_configmap,
    parse_public_key,
)
from jupyterhub_mlops.ssh.names import (
    InvalidLogin,
    Target,
    candidates,
    reading_for_user,
    validate_login,
)
from jupyterhub_mlops.ssh.pod_side import ssh_pod_additions
from jupyterhub_mlops.ssh.policy import ForwardRefused, PodAddress, decide_forward
from jupyterhub_mlops.ssh.ratelimit import FailureLimiter
from jupyterhub_mlops.ssh.routing import pod_selector

POD = PodAddress(ip="10.1.2.3", name="jupyter-alice", namespace="hub")


def test_login_readings_keep_dotted_user_names():
    assert candidates("john.doe.gpu") == [Target("john.doe.gpu"), Target("john", "doe.gpu"), Target("john.doe", "gpu")]
    assert reading_for_user("john.doe.gpu", "john.doe") == Target("john.doe", "gpu")
    assert reading_for_user("alice", "bob") is None


@pytest.mark.parametrize("login", ["", "../x", "a/b", "a\x00b", "é", "A", "a" * 129, "a..b", "a."])
def test_invalid_logins(login):
    with pytest.raises(InvalidLogin):
        validate_login(login)


def test_forwarding_policy():
    kw = dict(login="alice", pod=POD, aliases=["notebook"], sshd_port=2222, local_forwarding=True)
    assert decide_forward("notebook", 8888, **kw).host == "10.1.2.3"
    assert decide_forward("alice", 2222, **kw).kind == "proxyjump"
    assert decide_forward("10.1.2.3", 6006, **kw).kind == "forward"
    for host, port in [
        ("alice", 22),
        ("bob", 2222),
        ("127.0.0.1", 8888),
        ("localhost", 80),
        ("10.1.2.4", 8888),
        ("notebook", 0),
    ]:
        with pytest.raises(ForwardRefused):
            decide_forward(host, port, **kw)
    kw["local_forwarding"] = False
    with pytest.raises(ForwardRefused):
        decide_forward("notebook", 8888, **kw)
    assert decide_forward("notebook", 2222, **kw).kind == "proxyjump"


def test_failure_limiter_blocks_then_forgets():
    now = [0.0]
    limiter = FailureLimiter(3, 60, clock=lambda: now[0])
    for _ in range(3):
        assert limiter.retry_after("k") == 0
        limiter.record("k")
    assert limiter.retry_after("k") == 60
    assert limiter.retry_after("other") == 0
    now[0] = 61
    assert limiter.retry_after("k") == 0


def test_pod_selector_uses_kubespawner_labels():
    assert pod_selector(Target("alice", "gpu")) == (
        "component=singleuser-server,hub.jupyter.org/username=alice,hub.jupyter.org/servername=gpu"
    )


def test_pod_additions():
    add = ssh_pod_additions("ssh-ed25519 AAAA gw\n", gateway_from="10.0.0.0/8")
    assert add["env"] == [
        {"name": "MLOPS_SSH_GATEWAY_KEY", "value": "ssh-ed25519 AAAA gw"},
        {"name": "MLOPS_SSHD_PORT", "value": "2222"},
        {"name": "MLOPS_SSH_GATEWAY_FROM", "value": "10.0.0.0/8"},
    ]
    assert add["ports"] == [{"name": "ssh", "containerPort": 2222, "protocol": "TCP"}]
    # Users' keys reach the pod through the gateway, not through a mount of
    # a ConfigMap that may live in another namespace.
    assert set(add) == {"env", "ports", "annotations"}


def test_push_command_writes_the_keys_atomically(tmp_path):
    import subprocess

    from jupyterhub_mlops.ssh.pod_side import PUSH_USER_KEYS_COMMAND

    target = tmp_path / "user_keys"
    target.write_text("restrict ssh-ed25519 OLD\n")
    run = subprocess.run(
        ["sh", "-c", PUSH_USER_KEYS_COMMAND],
        input="restrict ssh-ed25519 NEW\n",
        env={"MLOPS_SSHD_USER_KEYS": str(target), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    assert target.read_text() == "restrict ssh-ed25519 NEW\n"
    assert oct(target.stat().st_mode & 0o777) == "0o600"
    assert not (tmp_path / "user_keys.new").exists()
    # Without the entrypoint's variable it writes nothing anywhere.
    run = subprocess.run(
        ["sh", "-c", PUSH_USER_KEYS_COMMAND],
        input="x\n",
        cwd=tmp_path,
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert run.returncode != 0 and "MLOPS_SSHD_USER_KEYS" in run.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["user_keys"]


async def test_tcp_relay_holds_what_the_pod_sends_until_the_channel_opens():
    """sshd speaks first (its banner): those bytes wait for the user's channel."""
    import asyncio

    from jupyterhub_mlops.ssh.relay import TcpRelay

    async def banner(reader, writer):
        writer.write(b"SSH-2.0-OpenSSH_9.2\r\n")
        await writer.drain()
        await reader.read()
        writer.close()

    server = await asyncio.start_server(banner, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]

    class Channel:
        def __init__(self):
            self.got = b""

        def set_write_buffer_limits(self, high):
            pass

        def write(self, data):
            self.got += data

        def close(self):
            pass

    relay = await TcpRelay.connect("127.0.0.1", port, traffic=lambda: None, timeout=5)
    await asyncio.sleep(0.2)  # the banner has long arrived at the gateway's socket
    chan = Channel()
    relay.connection_made(chan)
    for _ in range(100):
        if chan.got:
            break
        await asyncio.sleep(0.02)
    assert chan.got == b"SSH-2.0-OpenSSH_9.2\r\n"
    relay.connection_lost(None)
    server.close()


def test_parse_public_key_and_configmap():
    key = asyncssh.generate_private_key("ssh-ed25519", comment="me@laptop")
    reg = parse_public_key(key.export_public_key().decode())
    assert reg.fingerprint == key.get_fingerprint("sha256") and reg.comment == "me@laptop"
    cm = keys_configmap("alice", [reg])
    assert cm["metadata"]["annotations"] == {"hub.jupyter.org/username": "alice"}
    assert json.loads(cm["data"]["keys.json"])[0]["fingerprint"] == reg.fingerprint
    assert authorized_keys_text([reg]).startswith("restrict,pty,port-forwarding ssh-ed25519 ")
    with pytest.raises(KeyRegistrationError) as bad:
        parse_public_key(key.export_private_key().decode())
    assert bad.value.status == 400


async def test_file_key_store_is_durable(tmp_path):
    key = asyncssh.generate_private_key("ssh-ed25519")
    store = FileKeyStore(tmp_path / "keys.json")
    await store.add("alice", key.export_public_key().decode())
    again = FileKeyStore(tmp_path / "keys.json")
    assert await again.owns("alice", key) and not await again.owns("bob", key)
    with pytest.raises(KeyRegistrationError):
        await again.add("alice", key.export_public_key().decode())
    await again.remove("alice", key.get_fingerprint("sha256"))
    assert not await FileKeyStore(tmp_path / "keys.json").owns("alice", key)


def test_file_keys_survive_reload(tmp_path):
    first = load_file_keys(tmp_path)
    second = load_file_keys(tmp_path)
    for name in (HOST_KEY, GATEWAY_KEY):
        assert first[name].export_public_key() == second[name].export_public_key()
    assert (tmp_path / HOST_KEY).stat().st_mode & 0o777 == 0o600


def test_activity_body():
    body = ActivityReporter.body({"": 0.0, "gpu": 60.0})
    assert body["last_activity"].startswith("1970-01-01T00:01:00")
    assert set(body["servers"]) == {"", "gpu"}


def test_generate_config(tmp_path):
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-m", "jupyterhub_mlops.ssh", "--generate-config", f"--config={tmp_path / 'c.py'}"],
        capture_output=True,
        text=True,
    )
    assert out.returncode == 0, out.stderr
    text = (tmp_path / "c.py").read_text()
    assert "c.SSHGatewayApp.port = 2222" in text and "c.SSHGatewayApp.storage" in text


def test_gateway_public_key_from_secret_data():
    import base64

    from jupyterhub_mlops.ssh.pod_side import gateway_public_key

    key = asyncssh.generate_private_key("ssh-ed25519")
    data = {GATEWAY_KEY: base64.b64encode(key.export_private_key()).decode()}
    assert gateway_public_key(data) == key.export_public_key().decode().strip()
    assert "PRIVATE" not in gateway_public_key(data)
