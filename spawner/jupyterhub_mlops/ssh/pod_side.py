"""The contract between the gateway and the sshd in notebook pods (pure functions and constants).

GPUKubeSpawner merges ``ssh_pod_additions(...)`` into the notebook container
and pod: the gateway's public key and the sshd port in the environment read by
``images/singleuser/sshd/start-sshd.sh`` (the image's entrypoint), the
container port, and an annotation the gateway and operators can read.

The user's own keys (for ``ssh -J``, where the user's client logs in to the
pod's sshd end to end) are not mounted: the gateway writes them into the
sshd's ``user_keys`` file with ``PUSH_USER_KEYS_COMMAND`` through its own
login, just before it opens each ProxyJump channel. This works wherever the
pod runs (per-user namespaces included), needs no RBAC on the users'
namespaces, and a key revoked through the key API is gone from the pod by the
next jump.
"""

from __future__ import annotations

SSH_PORT = 2222

#: Run by the gateway in the pod (as the notebook user) with the user's
#: authorized_keys text on stdin. start-sshd.sh puts the file's path in every
#: session's environment (MLOPS_SSHD_USER_KEYS) and lists the file in the
#: sshd's AuthorizedKeysFile; the rename makes the swap atomic for sshd.
PUSH_USER_KEYS_COMMAND = (
    'f="${MLOPS_SSHD_USER_KEYS:?the image entrypoint did not set MLOPS_SSHD_USER_KEYS}"'
    ' && umask 077 && cat > "$f.new" && mv -f "$f.new" "$f"'
)


def sshd_env(gateway_public_key: str, port: int = SSH_PORT, gateway_from: str = "") -> list[dict]:
    """Environment variables for the notebook container."""
    env = [
        {"name": "MLOPS_SSH_GATEWAY_KEY", "value": gateway_public_key.strip()},
        {"name": "MLOPS_SSHD_PORT", "value": str(port)},
    ]
    if gateway_from:
        env.append({"name": "MLOPS_SSH_GATEWAY_FROM", "value": gateway_from})
    return env


def ssh_pod_additions(gateway_public_key: str, port: int = SSH_PORT, gateway_from: str = "") -> dict:
    """Everything to add to a notebook pod, as plain dicts.

    Keys: ``env`` and ``ports`` (for the notebook container), ``annotations``
    (for the pod). ``gateway_from`` is an optional address pattern (e.g. the
    gateway pods' CIDR) that the gateway's key may connect from.
    """
    return {
        "env": sshd_env(gateway_public_key, port, gateway_from),
        "ports": [{"name": "ssh", "containerPort": port, "protocol": "TCP"}],
        "annotations": {"jupyterhub-mlops/ssh-port": str(port)},
    }


def gateway_public_key(secret_data: dict[str, str]) -> str:
    """The gateway's public key from the ``data`` of its Secret (base64 values, as read).

    The spawner reads Secret ``jupyterhub-mlops-ssh-gateway`` (the gateway's
    ``keys_secret_name``) and passes its ``data`` here; only the public half
    ever reaches a pod.
    """
    import base64

    import asyncssh

    from .gateway_keys import GATEWAY_KEY

    private = asyncssh.import_private_key(base64.b64decode(secret_data[GATEWAY_KEY]))
    return private.export_public_key().decode().strip()
