"""Where the spawner finds the SSH gateway's public key (only the public half
ever leaves the gateway's storage and reaches a pod)."""

from __future__ import annotations

import logging
from pathlib import Path

import asyncssh
from kubernetes_asyncio.client.rest import ApiException

from .gateway_keys import GATEWAY_KEY
from .pod_side import gateway_public_key


async def read_from_secret(core_v1, namespace: str, name: str, log: logging.Logger, timeout: float = 10) -> str | None:
    """The public key from the gateway's Secret, or None (logged) if unreadable."""
    try:
        secret = await core_v1.read_namespaced_secret(name, namespace, _request_timeout=timeout)
    except ApiException as exc:
        reason = {
            404: "does not exist yet (is the SSH gateway running?)",
            403: "is not readable by the hub (RBAC)",
        }.get(exc.status, f"answered {exc.status}")
        log.error("SSH gateway Secret %s/%s %s; starting the server without SSH", namespace, name, reason)
        return None
    if not secret.data or GATEWAY_KEY not in secret.data:
        log.error("SSH gateway Secret %s/%s holds no %s; starting without SSH", namespace, name, GATEWAY_KEY)
        return None
    return gateway_public_key(secret.data)


def read_from_dir(data_dir: str, log: logging.Logger) -> str | None:
    """The public key from the gateway's data_dir (storage='file'), or None (logged)."""
    path = Path(data_dir) / GATEWAY_KEY
    try:
        private = asyncssh.import_private_key(path.read_bytes())
    except (OSError, asyncssh.KeyImportError) as exc:
        log.error("SSH gateway key %s unreadable (%s); starting the server without SSH", path, exc)
        return None
    return private.export_public_key().decode().strip()
