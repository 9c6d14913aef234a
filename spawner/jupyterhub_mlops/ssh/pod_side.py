"""What a notebook pod needs so that its sshd trusts the gateway (pure functions).

GPUKubeSpawner merges ``ssh_pod_additions(...)`` into the notebook container
and pod: the gateway's public key and the sshd port in the environment read by
``images/singleuser/sshd/start-sshd.sh`` (the image's entrypoint), the user's
registered keys mounted from their ConfigMap (kept current by the kubelet, so
keys added later work for ``ssh -J`` without a restart), the container port,
and an annotation the gateway and operators can read.
"""

from __future__ import annotations

from .keystore import configmap_name

SSH_PORT = 2222
USER_KEYS_DIR = "/etc/jupyterhub-mlops/ssh-keys"
USER_KEYS_VOLUME = "jupyterhub-mlops-ssh-keys"


def sshd_env(gateway_public_key: str, port: int = SSH_PORT, gateway_from: str = "",
             user_keys: bool = True) -> list[dict]:
    """Environment variables for the notebook container."""
    env = [
        {"name": "MLOPS_SSH_GATEWAY_KEY", "value": gateway_public_key.strip()},
        {"name": "MLOPS_SSHD_PORT", "value": str(port)},
    ]
    if gateway_from:
        env.append({"name": "MLOPS_SSH_GATEWAY_FROM", "value": gateway_from})
    if user_keys:
        env.append({"name": "MLOPS_SSH_USER_KEYS_FILE",
                    "value": f"{USER_KEYS_DIR}/authorized_keys"})
    return env


def user_keys_volume(user: str) -> dict:
    """The volume of the user's key ConfigMap (optional: absent until a key is registered)."""
    return {
        "name": USER_KEYS_VOLUME,
        "configMap": {"name": configmap_name(user), "optional": True,
                      "items": [{"key": "authorized_keys", "path": "authorized_keys"}],
                      "defaultMode": 0o444},
    }


def user_keys_mount() -> dict:
    return {"name": USER_KEYS_VOLUME, "mountPath": USER_KEYS_DIR, "readOnly": True}


def ssh_pod_additions(user: str, gateway_public_key: str, port: int = SSH_PORT,
                      gateway_from: str = "", user_keys: bool = True) -> dict:
    """Everything to add to ``user``'s notebook pod, as plain dicts.

    Keys: ``env``, ``volumes``, ``volume_mounts`` and ``ports`` (for the
    notebook container), ``annotations`` (for the pod). ``gateway_from`` is an
    optional address pattern (e.g. the gateway pods' CIDR) that the gateway's
    key may connect from. The user's key ConfigMap must live in the pod's
    namespace (the gateway's ``storage_namespace``).
    """
    return {
        "env": sshd_env(gateway_public_key, port, gateway_from, user_keys),
        "volumes": [user_keys_volume(user)] if user_keys else [],
        "volume_mounts": [user_keys_mount()] if user_keys else [],
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
