"""The hostile suite: every attempt is refused AND leaves an audit line.

Each test connects from a loopback source address of its own (127.0.1.x), so
the per-source rate limit one test provokes never blocks another.
"""

from __future__ import annotations

import asyncio
import itertools
import socket
from urllib.parse import urlparse

import asyncssh
import pytest
from jupyterhub_mlops.ssh.names import printable

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

_sources = (f"127.0.1.{i}" for i in itertools.count(2))


async def connect(gateway, username: str, *, key=None, password=None, source=None):
    """An asyncssh client login through the gateway (raises PermissionDenied on refusal)."""
    return await asyncssh.connect(
        "127.0.0.1",
        gateway.port,
        username=username,
        known_hosts=None,
        config=[],
        agent_path=None,
        client_keys=[asyncssh.read_private_key(str(key))] if key else [],
        password=password,
        preferred_auth="password" if password else "publickey",
        local_addr=(source or next(_sources), 0),
        connect_timeout=20,
        login_timeout=20,
    )


async def refused_login(gateway, username, **kwargs) -> str:
    source = next(_sources)
    with pytest.raises(asyncssh.PermissionDenied):
        conn = await connect(gateway, username, source=source, **kwargs)
        conn.close()
    return source


# ---- tokens ----------------------------------------------------------------------


async def test_wrong_token(gateway, users):
    src = await refused_login(gateway, "alice", password="not-a-token-" + "0" * 20)
    gateway.wait_audit(
        event="login",
        outcome="refused",
        method="token",
        login="alice",
        source=lambda s: s.startswith(src + ":"),
        reason=lambda r: "token unknown" in r,
    )


async def test_expired_token(gateway, users, hub):
    token, _ = hub.new_token("alice", expires_in=1)
    await asyncio.sleep(2.5)
    src = await refused_login(gateway, "alice", password=token)
    gateway.wait_audit(event="login", outcome="refused", method="token", source=lambda s: s.startswith(src + ":"))


async def test_revoked_token(gateway, users, hub):
    token, token_id = hub.new_token("alice")
    conn = await connect(gateway, "alice", password=token)  # valid first
    conn.close()
    status, _ = hub.request("DELETE", f"/users/alice/tokens/{token_id}")
    assert status == 204
    src = await refused_login(gateway, "alice", password=token)
    gateway.wait_audit(event="login", outcome="refused", method="token", source=lambda s: s.startswith(src + ":"))


async def test_another_users_valid_token(gateway, users):
    src = await refused_login(gateway, "alice", password=users["bob"].token)
    rec = gateway.wait_audit(event="login", outcome="refused", method="token", source=lambda s: s.startswith(src + ":"))
    assert rec["reason"] == "token belongs to another user" and rec["token_owner"] == "bob"


async def test_alice_token_for_bobs_named_server(gateway, users):
    src = await refused_login(gateway, "bob.alice", password=users["alice"].token)
    gateway.wait_audit(event="login", outcome="refused", method="token", source=lambda s: s.startswith(src + ":"))


async def test_service_token_is_not_a_user(gateway, users, hub):
    src = await refused_login(gateway, "alice", password=hub.admin_token)
    gateway.wait_audit(event="login", outcome="refused", method="token", source=lambda s: s.startswith(src + ":"))


async def test_token_without_access_to_the_ssh_service(gateway, users, hub):
    token, _ = hub.new_token("alice", scopes=["read:users:name!user=alice"])
    src = await refused_login(gateway, "alice", password=token)
    gateway.wait_audit(event="login", outcome="refused", method="token", source=lambda s: s.startswith(src + ":"))


# ---- keys ------------------------------------------------------------------------


async def test_another_users_key(gateway, users):
    src = await refused_login(gateway, "alice", key=users["bob"].key)
    gateway.wait_audit(
        event="login",
        outcome="refused",
        method="publickey",
        source=lambda s: s.startswith(src + ":"),
        reason=lambda r: "not registered" in r,
    )


async def test_alice_key_for_bob(gateway, users):
    src = await refused_login(gateway, "bob", key=users["alice"].key)
    gateway.wait_audit(event="login", outcome="refused", method="publickey", source=lambda s: s.startswith(src + ":"))


async def test_unregistered_key(gateway, users, tmp_path):
    key = asyncssh.generate_private_key("ssh-ed25519")
    key.write_private_key(str(tmp_path / "k"))
    src = await refused_login(gateway, "alice", key=tmp_path / "k")
    gateway.wait_audit(event="login", outcome="refused", method="publickey", source=lambda s: s.startswith(src + ":"))


async def test_many_keys_on_one_connection_are_cut_off(gateway, users):
    keys = [asyncssh.generate_private_key("ssh-ed25519") for _ in range(30)]
    source = next(_sources)
    with pytest.raises((asyncssh.PermissionDenied, asyncssh.DisconnectError)):
        await asyncssh.connect(
            "127.0.0.1",
            gateway.port,
            username="alice",
            known_hosts=None,
            config=[],
            agent_path=None,
            client_keys=keys,
            preferred_auth="publickey",
            local_addr=(source, 0),
        )
    gateway.wait_audit(
        event="login",
        outcome="refused",
        method="publickey",
        source=lambda s: s.startswith(source + ":"),
        reason="too many authentication attempts",
    )


# ---- login names -------------------------------------------------------------------

BAD_LOGINS = [
    "../etc/passwd",
    "alice/../bob",
    "alice\x00bob",
    "alicé",
    "\u0430lice",
    "a" * 1024,
    "ALICE",
    "alice..gpu",
    ".alice",
    "alice;id",
]


@pytest.mark.parametrize(
    "login",
    BAD_LOGINS,
    ids=[
        "dotdot",
        "slash-dotdot",
        "nul",
        "accent",
        "cyrillic-a",
        "1kb",
        "upper",
        "empty-server",
        "leading-dot",
        "semicolon",
    ],
)
async def test_malformed_login_names(gateway, users, login, monkeypatch):
    # A hostile client is not bound by asyncssh's client-side checks.
    monkeypatch.setattr(asyncssh.connection, "saslprep", lambda text: text)
    source = next(_sources)
    with pytest.raises((asyncssh.PermissionDenied, asyncssh.IllegalUserName)):
        conn = await connect(gateway, login, key=users["alice"].key, source=source)
        conn.close()
    rec = gateway.wait_audit(
        event="login",
        outcome="refused",
        source=lambda s: s.startswith(source + ":"),
        reason=lambda r: r.startswith("invalid login name"),
    )
    # The name is either logged escaped and truncated, or (when the SSH layer
    # refused it before authentication) not at all.
    assert rec.get("login") in (printable(login), None)
    assert "\x00" not in rec.get("login", "") and len(rec.get("login", "")) < 200


# ---- forwarding ---------------------------------------------------------------------


@pytest.fixture
async def alice_conn(gateway, users):
    conn = await connect(gateway, "alice", key=users["alice"].key)
    yield conn
    conn.close()


@pytest.fixture
def sentinel():
    """A listener on the gateway host that nothing may reach."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(5)
    s.setblocking(False)
    yield s
    s.close()


def _forward_targets(users, hub, control_plane, gateway, sentinel):
    api = urlparse(control_plane.server)
    hub_url = urlparse(hub.url)
    bob_ip = users["bob"].pod.ip
    return {
        "host-loopback": ("127.0.0.1", sentinel.getsockname()[1]),
        "localhost": ("localhost", sentinel.getsockname()[1]),
        "hub": (hub_url.hostname, hub_url.port),
        "api-server": (api.hostname, api.port),
        "bob-pod-notebook": (bob_ip, 8888),
        "bob-pod-sshd": (bob_ip, 2222),
        "proxyjump-to-bob": ("bob", 2222),
        "proxyjump-port-22": ("alice", 22),
        "proxyjump-port-8888": ("alice", 8888),
        "any-address": ("0.0.0.0", 8888),
        "ipv6-loopback": ("::1", 8888),
        "kubernetes-service": ("kubernetes.default.svc", 443),
        "gateway-itself": ("127.0.0.1", gateway.port),
        "alias-lookalike": ("notebook.evil.example", 8888),
    }


FORWARDS = [
    "host-loopback",
    "localhost",
    "hub",
    "api-server",
    "bob-pod-notebook",
    "bob-pod-sshd",
    "proxyjump-to-bob",
    "proxyjump-port-22",
    "proxyjump-port-8888",
    "any-address",
    "ipv6-loopback",
    "kubernetes-service",
    "gateway-itself",
    "alias-lookalike",
]


@pytest.mark.parametrize("case", FORWARDS)
async def test_forwarding_outside_own_pod(gateway, users, hub, control_plane, alice_conn, sentinel, case):
    host, port = _forward_targets(users, hub, control_plane, gateway, sentinel)[case]
    with pytest.raises(asyncssh.ChannelOpenError) as refused:
        await alice_conn.open_connection(host, port)
    assert refused.value.code == asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED
    gateway.wait_audit(event="channel", kind="forward", outcome="refused", user="alice", destination=f"{host}:{port}")
    with pytest.raises(BlockingIOError):
        sentinel.accept()  # nothing reached the gateway host


async def test_remote_forwarding_is_refused(gateway, alice_conn):
    with pytest.raises(asyncssh.ChannelListenError):
        await alice_conn.forward_remote_port("", 0, "127.0.0.1", 22)
    gateway.wait_audit(event="channel", kind="remote-forward", outcome="refused", user="alice")


async def test_subsystems_other_than_sftp_are_refused(gateway, alice_conn):
    with pytest.raises(asyncssh.ChannelOpenError):
        await alice_conn.create_session(asyncssh.SSHClientSession, subsystem="netconf")
    gateway.wait_audit(event="channel", kind="subsystem", outcome="refused", user="alice", detail="netconf")


async def test_agent_forwarding_is_off(gateway, users, alice_conn):
    result = await alice_conn.run("echo agent=${SSH_AUTH_SOCK:-none}", check=True)
    assert result.stdout.strip() == "agent=none"


# ---- a stopped server ----------------------------------------------------------------


async def test_stopped_server_says_so_in_one_line(gateway, users):
    conn = await connect(gateway, "alice.gpu", key=users["alice"].key)
    try:
        result = await conn.run("echo should-not-run")
    finally:
        conn.close()
    assert result.exit_status == 1 and result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "alice/gpu is not running" in lines[0], lines
    gateway.wait_audit(event="channel", outcome="refused", user="alice", server="gpu", reason="server not running")


async def test_stopped_server_forward(gateway, users):
    conn = await connect(gateway, "alice.gpu", key=users["alice"].key)
    try:
        with pytest.raises(asyncssh.ChannelOpenError) as refused:
            await conn.open_connection("notebook", 8888)
    finally:
        conn.close()
    assert "not running" in refused.value.reason
    gateway.wait_audit(event="channel", kind="forward", outcome="refused", server="gpu", destination="notebook:8888")


# ---- timeouts ---------------------------------------------------------------------------


async def test_login_timeout_closes_a_silent_client(gateway):
    source = next(_sources)
    reader, writer = await asyncio.open_connection("127.0.0.1", gateway.port, local_addr=(source, 0))
    assert (await reader.readline()).startswith(b"SSH-2.0-")
    writer.write(b"SSH-2.0-silent\r\n")
    # The gateway's login timeout is 5 s in these tests.
    assert await asyncio.wait_for(reader.read(), 30) is not None
    gateway.wait_audit(
        event="login", outcome="refused", source=lambda s: s.startswith(source), reason=lambda r: "timeout" in r
    )
    writer.close()


async def test_idle_connection_is_closed(gateway, users):
    conn = await connect(gateway, "bob", key=users["bob"].key)
    # The idle timeout is 12 s in these tests.
    await asyncio.wait_for(conn.wait_closed(), 30)
    gateway.wait_audit(event="logout", user="bob", reason=lambda r: r.startswith("idle"))
