"""Where users reach the hub's SSH gateway, as this notebook server tells them.

One answer for the sidebar's SSH panel and ``%mlops ssh``: the operator's
setting, then ``MLOPS_SSH_HOST`` / ``MLOPS_SSH_PORT`` (set by the deployment),
then the host the user's browser reaches JupyterHub at and the SSH port.
The command and config they print come from ``mlops_contract.ssh``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from urllib.parse import urlparse

from mlops_contract.ssh import DEFAULT_GATEWAY_PORT


def gateway_address(host: str = "", port: int = 0, environ: Mapping[str, str] | None = None) -> tuple[str, int]:
    """``(host, port)``; host is ``""`` when nothing names it."""
    env = os.environ if environ is None else environ
    host = (
        host
        or env.get("MLOPS_SSH_HOST")
        or urlparse(env.get("JUPYTERHUB_PUBLIC_URL") or env.get("JUPYTERHUB_PUBLIC_HUB_URL") or "").hostname
        or ""
    )
    return host, port or int(env.get("MLOPS_SSH_PORT") or DEFAULT_GATEWAY_PORT)
