"""The sidebar's SSH settings: where the gateway is and where its key API is.

The command and ``~/.ssh/config`` block the sidebar shows come from
``mlops_contract.ssh.connection_help``, as in ``%mlops ssh``.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from textwrap import dedent

from mlops_contract.ssh import DEFAULT_GATEWAY_PORT
from traitlets import Integer, Unicode
from traitlets.config import Configurable

from ..ssh_gateway import gateway_address


class MlopsSsh(Configurable):
    gateway_host = Unicode(
        "",
        help=dedent("""
        Host name users give ssh to reach the SSH gateway (e.g. ssh.hub.example.org).
        Empty: MLOPS_SSH_HOST, else the host of JUPYTERHUB_PUBLIC_URL; with none of
        them the sidebar says that SSH is not set up here."""),
    ).tag(config=True)
    gateway_port = Integer(
        0,
        help=dedent(f"""
        Port of the SSH gateway as users reach it. 0: the value of MLOPS_SSH_PORT,
        else {DEFAULT_GATEWAY_PORT}."""),
    ).tag(config=True)
    host_alias = Unicode(
        "",
        help=dedent("""
        Name of the ~/.ssh/config entry the sidebar suggests. Empty: ``jupyterhub``
        (``jupyterhub-<server>`` for a named server)."""),
    ).tag(config=True)
    keys_url = Unicode(
        "",
        help=dedent("""
        URL of the SSH gateway's key API (its ``api/keys`` route, e.g.
        http://proxy-public/services/ssh/api/keys). The notebook server calls
        it with its JupyterHub token (JUPYTERHUB_API_TOKEN), so that token needs
        access to the gateway service (``access:services!service=ssh`` in
        the server's token scopes). Empty: keys cannot be managed from the sidebar.
        Environment: MLOPS_SSH_KEYS_URL."""),
    ).tag(config=True)

    def resolved(self, environ: Mapping[str, str] | None = None) -> dict:
        """The settings with environment fallbacks applied."""
        env = os.environ if environ is None else environ
        host, port = gateway_address(self.gateway_host, self.gateway_port, env)
        return {
            "host": host,
            "port": port,
            "alias": self.host_alias,
            "keys_url": self.keys_url or env.get("MLOPS_SSH_KEYS_URL", ""),
            "token": env.get("JUPYTERHUB_API_TOKEN", ""),
        }
