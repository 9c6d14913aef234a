"""Rate limiting under a flood of failed logins, and a gateway restart.

Runs after the other SSH tests (file order): the flood blocks token logins
for alice for the rest of the failure window.
"""

from __future__ import annotations

import asyncio

import asyncssh
import pytest

from tests.ssh.ssh_harness import public_key_of, secret_keys

pytestmark = pytest.mark.cluster

ATTACKER = "127.0.2.1"


async def _attempt(gateway, username, *, password=None, key=None, source):
    try:
        conn = await asyncssh.connect(
            "127.0.0.1",
            gateway.port,
            username=username,
            known_hosts=None,
            config=[],
            agent_path=None,
            password=password,
            local_addr=(source, 0),
            client_keys=[asyncssh.read_private_key(str(key))] if key else [],
            preferred_auth="password" if password else "publickey",
            login_timeout=20,
        )
    except (asyncssh.PermissionDenied, asyncssh.DisconnectError, OSError):
        return False
    conn.close()
    return True


async def test_flood_of_failed_logins_is_rate_limited_while_users_get_in(gateway, users, clients):
    gate = asyncio.Semaphore(25)

    async def one(i):
        async with gate:
            return await _attempt(gateway, "alice", password=f"guess-{i:04d}", source=ATTACKER)

    results = await asyncio.gather(*(one(i) for i in range(200)))
    assert not any(results)
    limited = [
        r
        for r in gateway.audit()
        if r.get("source", "").startswith(ATTACKER + ":") and r.get("reason", "").startswith("rate-limited")
    ]
    assert len(limited) >= 150, "most of the flood should be turned away before the Hub is asked"

    # The attacker's address is blocked even with a valid key...
    assert not await _attempt(gateway, "alice", key=users["alice"].key, source=ATTACKER)
    # ...while alice, from her own address, gets in with her key (real ssh),
    out = clients.run("alice", ["gw", "echo $MLOPS_POD_NAME"])
    assert out.returncode == 0 and out.stdout.strip() == users["alice"].pod.name, out.stderr
    # token guessing against alice is stopped from everywhere (keys cannot be guessed),
    assert not await _attempt(gateway, "alice", password=users["alice"].token, source="127.0.2.2")
    gateway.wait_audit(
        event="login", outcome="refused", reason="rate-limited (user)", source=lambda s: s.startswith("127.0.2.2:")
    )
    # and bob is not affected at all.
    out = clients.run("bob", ["gw", "echo $MLOPS_POD_NAME"], password=users["bob"].token)
    assert out.returncode == 0 and out.stdout.strip() == users["bob"].pod.name, out.stderr


def test_restart_keeps_the_host_key(gateway, clients, users, core_v1, ssh_namespace):
    before = public_key_of(secret_keys(core_v1, ssh_namespace)["ssh_host_ed25519_key"])
    gateway.restart()
    after = public_key_of(secret_keys(core_v1, ssh_namespace)["ssh_host_ed25519_key"])
    assert after == before
    # known_hosts was pinned before the restart; StrictHostKeyChecking=yes.
    out = clients.run("bob", ["gw", "echo $MLOPS_POD_NAME"])
    assert "REMOTE HOST IDENTIFICATION HAS CHANGED" not in out.stderr
    assert out.returncode == 0 and out.stdout.strip() == users["bob"].pod.name, out.stderr
