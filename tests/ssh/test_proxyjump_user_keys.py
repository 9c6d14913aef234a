"""ssh -J with the user's own key when notebook pods run in per-user namespaces.

The harness puts alice's and bob's pods in namespaces of their own (as
GPUKubeSpawner's provision_user_namespaces does) while the gateway keeps its
keys in its own namespace; nothing mounts the users' keys into the pods. The
gateway pushes the registered keys to the pod's sshd before each jump.
"""

import subprocess

import pytest

from tests.ssh.ssh_harness import delete_key, register_key, ssh_config_text

pytestmark = pytest.mark.cluster


def test_proxyjump_with_own_key_into_a_per_user_namespace(clients, users, user_namespaces, ssh_namespace):
    alice = users["alice"]
    assert len({*user_namespaces.values(), ssh_namespace}) == 3
    out = clients.run("alice", ["pod", "echo $MLOPS_POD_NAMESPACE $MLOPS_POD_NAME"])
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [user_namespaces["alice"], alice.pod.name]
    clients.gateway.wait_audit(
        event="channel",
        kind="proxyjump",
        user="alice",
        outcome="ok",
        user_keys=lambda v: (v or "").startswith("pushed"),
    )
    # The pod's sshd trusts alice's registered keys, and only hers.
    trusted = (alice.pod.dir / "sshd" / "user_keys").read_text()
    assert alice.public_key.split()[1] in trusted
    assert users["bob"].public_key.split()[1] not in trusted


def test_a_key_revoked_through_the_api_no_longer_opens_the_pod(clients, users, hub, tmp_path):
    alice = users["alice"]
    laptop2 = tmp_path / "alice_laptop2"
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "alice@laptop2", "-f", str(laptop2)], check=True
    )
    status, added = register_key(hub, alice.token, (tmp_path / "alice_laptop2.pub").read_text())
    assert status == 201, added
    # The jump itself logs in with alice's first key; the pod's sshd sees only the second.
    config = tmp_path / "ssh_config"
    config.write_text(
        ssh_config_text(clients.gateway.port, alice, clients.known_hosts, tmp_path / "pod_known_hosts", pod_key=laptop2)
    )

    def jump():
        return subprocess.run(
            ["ssh", "-F", str(config), "pod", "echo $MLOPS_POD_NAME"],
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )

    out = jump()
    assert out.returncode == 0 and out.stdout.strip() == alice.pod.name, out.stderr
    assert delete_key(hub, alice.token, added["fingerprint"]) == 204
    out = jump()
    assert out.returncode == 255 and "Permission denied" in out.stderr, out
    assert added["key"].split()[1] not in (alice.pod.dir / "sshd" / "user_keys").read_text()
    # Her first key still opens the pod.
    assert clients.run("alice", ["pod", "true"]).returncode == 0
