"""The gateway's own keys, which must survive restarts.

- the *host key* clients see (a new one would trip "REMOTE HOST IDENTIFICATION
  HAS CHANGED" in every user's known_hosts);
- the *gateway key* the gateway uses to log in to the sshd in notebook pods,
  whose public half the pods authorize (see ``pod_side.py``).

Two stores, chosen by the gateway's ``storage`` setting: files (development)
and one Kubernetes Secret (a cluster, where the gateway pod's disk is not
durable). Both generate Ed25519 keys on first start and return the same keys
ever after.
"""

from __future__ import annotations

import base64
import logging
import os
from pathlib import Path
from typing import Any

import asyncssh

log = logging.getLogger(__name__)

HOST_KEY = "ssh_host_ed25519_key"
GATEWAY_KEY = "gateway_ed25519_key"
KEY_NAMES = (HOST_KEY, GATEWAY_KEY)


def _new_key_text() -> bytes:
    return asyncssh.generate_private_key("ssh-ed25519").export_private_key()


def load_file_keys(directory: Path) -> dict[str, asyncssh.SSHKey]:
    """Read the keys under ``directory`` (one file per key), creating missing ones (0600)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    keys = {}
    for name in KEY_NAMES:
        path = directory / name
        if not path.exists():
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:  # another process created it first: use theirs
                pass
            else:
                with os.fdopen(fd, "wb") as f:
                    f.write(_new_key_text())
                log.info("generated a new SSH key at %s", path)
        keys[name] = asyncssh.import_private_key(path.read_bytes())
    return keys


async def load_secret_keys(core_v1, namespace: str, name: str, timeout: float = 10) -> dict[str, asyncssh.SSHKey]:
    """Read the keys from Secret ``namespace/name``, creating it or missing keys.

    If two gateways start at once, the one whose write loses (409) reads the
    winner's keys, so both serve the same ones.
    """
    from kubernetes_asyncio.client.exceptions import ApiException

    for _attempt in range(3):
        try:
            secret = await core_v1.read_namespaced_secret(name, namespace, _request_timeout=timeout)
            data = dict(secret.data or {})
        except ApiException as exc:
            if exc.status == 403:
                raise RuntimeError(
                    f"the gateway may not read Secret {namespace}/{name}: "
                    "grant it get, create and update on secrets there"
                ) from exc
            if exc.status != 404:
                raise
            secret, data = None, {}
        missing = [k for k in KEY_NAMES if k not in data]
        if not missing:
            return {k: asyncssh.import_private_key(base64.b64decode(data[k])) for k in KEY_NAMES}
        for k in missing:
            data[k] = base64.b64encode(_new_key_text()).decode()
        body: dict[str, Any] = {
            "apiVersion": "v1",
            "kind": "Secret",
            "type": "Opaque",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/component": "ssh-gateway"}},
            "data": data,
        }
        try:
            if secret is None:
                await core_v1.create_namespaced_secret(namespace, body, _request_timeout=timeout)
            else:
                body["metadata"]["resourceVersion"] = secret.metadata.resource_version
                await core_v1.replace_namespaced_secret(name, namespace, body, _request_timeout=timeout)
            log.info("stored new SSH keys %s in Secret %s/%s", missing, namespace, name)
        except ApiException as exc:
            if exc.status != 409:
                raise
        # Read back what is stored now (ours, or the winner's after a 409).
    raise RuntimeError(f"could not store the gateway's keys in Secret {namespace}/{name}")
