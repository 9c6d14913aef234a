"""Happy paths through the gateway with the real OpenSSH clients.

Each test reaches the user's own pod (its sshd runs the image's entrypoint on
the pod IP that KWOK gave the pod) and proves it: the pod name comes from the
pod's own environment, files land in that pod's home.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.cluster


def test_exec_with_registered_key_runs_in_own_pod(clients, users):
    out = clients.run("alice", ["gw", "echo $MLOPS_POD_NAME; echo $((6*7))"])
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [users["alice"].pod.name, "42"]
    out = clients.run("bob", ["gw", "echo $MLOPS_POD_NAME"])
    assert out.stdout.strip() == users["bob"].pod.name, out.stderr
