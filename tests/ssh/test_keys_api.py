"""The key registration API, through the Hub's proxy, with users' own hub tokens."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

import asyncssh
import pytest
from jupyterhub_mlops.ssh.keystore import configmap_name

pytestmark = pytest.mark.cluster


def call(hub, method, path="", token=None, body=None):
    headers = {"Authorization": f"token {token}"} if token else {}
    req = urllib.request.Request(
        f"{hub.url}/services/ssh/api/keys{path}",
        method=method,
        headers=headers,
        data=None if body is None else json.dumps(body).encode(),
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            raw = r.read()
            return r.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        return e.code, json.loads(raw) if raw else None


def test_every_route_needs_a_token(hub, users):
    for method, path, body in (
        ("GET", "", None),
        ("POST", "", {"key": users["alice"].public_key}),
        ("DELETE", "/SHA256%3Aabc", None),
    ):
        status, reply = call(hub, method, path, body=body)
        assert status == 403 and "token" in reply["message"], (method, status, reply)
        status, reply = call(hub, method, path, token="bogus", body=body)
        assert status == 403


def test_users_see_only_their_own_keys(hub, users):
    status, alice = call(hub, "GET", token=users["alice"].token)
    assert status == 200
    status, bob = call(hub, "GET", token=users["bob"].token)
    assert [k["comment"] for k in alice["keys"]] == ["alice@laptop"]
    assert [k["comment"] for k in bob["keys"]] == ["bob@laptop"]


@pytest.mark.parametrize(
    "text,why",
    [
        ("not a key", "not an OpenSSH public key"),
        ("-----BEGIN OPENSSH PRIVATE KEY-----", "private key"),
        ("ssh-ed25519 AAAA one\nssh-ed25519 AAAA two", "exactly one"),
    ],
)
def test_bad_keys_are_refused_with_a_reason(hub, users, text, why):
    status, reply = call(hub, "POST", token=users["alice"].token, body={"key": text})
    assert status == 400 and why in reply["message"]
    assert len(call(hub, "GET", token=users["alice"].token)[1]["keys"]) == 1


def test_duplicate_key_conflicts(hub, users):
    status, reply = call(hub, "POST", token=users["alice"].token, body={"key": users["alice"].public_key})
    assert status == 409 and "already registered" in reply["message"]


def test_bob_cannot_delete_alices_key(hub, users, core_v1, ssh_namespace):
    fingerprint = call(hub, "GET", token=users["alice"].token)[1]["keys"][0]["fingerprint"]
    status, reply = call(hub, "DELETE", "/" + urllib.parse.quote(fingerprint, safe=""), token=users["bob"].token)
    assert status == 404
    cm = core_v1.read_namespaced_config_map(configmap_name("alice"), ssh_namespace)
    assert fingerprint in cm.data["keys.json"]


async def test_added_key_logs_in_and_deleted_key_no_longer_does(hub, users, gateway, tmp_path, core_v1, ssh_namespace):
    key = asyncssh.generate_private_key("ssh-ed25519", comment="alice@desktop")
    status, added = call(hub, "POST", token=users["alice"].token, body={"key": key.export_public_key().decode()})
    assert status == 201 and added["fingerprint"] == key.get_fingerprint("sha256")
    # Stored durably, in the gateway's namespace.
    cm = core_v1.read_namespaced_config_map(configmap_name("alice"), ssh_namespace)
    assert key.export_public_key().decode().split()[1] in cm.data["keys.json"]

    opts = dict(
        known_hosts=None,
        config=[],
        agent_path=None,
        client_keys=[key],
        preferred_auth="publickey",
        local_addr=("127.0.4.1", 0),
    )
    async with asyncssh.connect("127.0.0.1", gateway.port, username="alice", **opts) as conn:
        assert (await conn.run("echo $MLOPS_POD_NAME")).stdout.strip() == users["alice"].pod.name
    status, _ = call(hub, "DELETE", "/" + urllib.parse.quote(added["fingerprint"], safe=""), token=users["alice"].token)
    assert status == 204
    with pytest.raises(asyncssh.PermissionDenied):
        await asyncssh.connect("127.0.0.1", gateway.port, username="alice", **opts)
    gateway.wait_audit(
        event="login", outcome="refused", method="publickey", source=lambda s: s.startswith("127.0.4.1:")
    )
