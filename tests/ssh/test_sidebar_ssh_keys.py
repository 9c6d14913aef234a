"""The sidebar's SSH panel against the real SSH gateway's key API, behind a real JupyterHub.

A hub user's notebook server (a jupyter lab with this checkout's extensions,
its JUPYTERHUB_API_TOKEN a real hub token of that user) calls the gateway's
key API through the hub's proxy; the Galata spec ui-tests/tests/ssh-keys.spec.ts
adds a key, has a bad one refused, and removes the key after a confirmation,
checking what the gateway stored in its ConfigMap.
"""

from __future__ import annotations

import subprocess
import uuid

import asyncssh
import pytest
from jupyterhub_mlops.ssh.keystore import configmap_name

from tests.sidebar_support import cluster_environment, run_galata, start_lab

pytestmark = [pytest.mark.browser, pytest.mark.cluster]


@pytest.mark.timeout(600)
def test_sidebar_adds_and_removes_a_key(control_plane, hub, gateway, ssh_namespace, tmp_path):
    user = f"lab{uuid.uuid4().hex[:4]}"
    status, body = hub.request("POST", f"/users/{user}")
    assert status == 201, body
    token, _ = hub.new_token(user)
    key = asyncssh.generate_private_key("ssh-ed25519", comment="browser@laptop")
    env = {
        "JUPYTERHUB_USER": user,
        "JUPYTERHUB_API_TOKEN": token,
        "MLOPS_SSH_HOST": "ssh.hub.example.org",
        "MLOPS_SSH_PORT": "2222",
        "MLOPS_SSH_KEYS_URL": f"{hub.url}/services/ssh/api/keys",
    }
    with start_lab(tmp_path / "lab", env, galata=True) as lab:
        result: subprocess.CompletedProcess = run_galata(
            lab,
            "ssh",
            {
                **cluster_environment(control_plane, ssh_namespace),
                "SSH_TEST_USER": user,
                "SSH_TEST_PUBLIC_KEY": key.export_public_key().decode().strip(),
                "SSH_TEST_FINGERPRINT": key.get_fingerprint("sha256"),
                "SSH_KEYS_NAMESPACE": ssh_namespace,
                "SSH_KEYS_CONFIGMAP": configmap_name(user),
            },
        )
    output = result.stdout[-6000:] + result.stderr[-3000:]
    assert result.returncode == 0, output
    assert "1 passed" in result.stdout, output
