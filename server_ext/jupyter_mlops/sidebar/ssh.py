"""SSH connection help for this notebook server, and where the gateway's key API is.

``connection_help`` is pure: the exact ``ssh`` command and ``~/.ssh/config``
block for a user and server, as the SSH gateway (hub side) reads logins:
``user`` for the default server, ``user.server`` for a named one.
"""

from __future__ import annotations

import os
from textwrap import dedent

from traitlets import Integer, Unicode
from traitlets.config import Configurable


class MlopsSsh(Configurable):
    gateway_host = Unicode("", help=dedent("""
        Host name users give ssh to reach the SSH gateway (e.g. ssh.hub.example.org).
        Empty: the sidebar says that SSH is not set up here.
        Environment: MLOPS_SSH_HOST.""")).tag(config=True)
    gateway_port = Integer(0, help=dedent("""
        Port of the SSH gateway as users reach it. 0: the value of MLOPS_SSH_PORT, else 22.""")
    ).tag(config=True)
    host_alias = Unicode("", help=dedent("""
        Name of the ~/.ssh/config entry the sidebar suggests. Empty: ``jupyterhub``
        (``jupyterhub-<server>`` for a named server).""")).tag(config=True)
    keys_url = Unicode("", help=dedent("""
        URL of the SSH gateway's key API (its ``api/keys`` route, e.g.
        http://proxy-public/services/mlops-ssh/api/keys). The notebook server calls
        it with its JupyterHub token (JUPYTERHUB_API_TOKEN), so that token needs
        access to the gateway service (``access:services!service=mlops-ssh`` in
        the server's token scopes). Empty: keys cannot be managed from the sidebar.
        Environment: MLOPS_SSH_KEYS_URL.""")).tag(config=True)

    def resolved(self, environ: dict | None = None) -> dict:
        """The settings with environment fallbacks applied."""
        env = os.environ if environ is None else environ
        port = self.gateway_port or int(env.get("MLOPS_SSH_PORT") or 22)
        return {"host": self.gateway_host or env.get("MLOPS_SSH_HOST", ""), "port": port,
                "alias": self.host_alias, "keys_url": self.keys_url or env.get("MLOPS_SSH_KEYS_URL", ""),
                "token": env.get("JUPYTERHUB_API_TOKEN", "")}


def connection_help(user: str, server: str, host: str, port: int, alias: str = "") -> dict:
    """``{"login", "command", "config", "host_alias"}`` for ``user``'s ``server`` ("" = default)."""
    login = f"{user}.{server}" if server else user
    alias = alias or ("jupyterhub" if not server else f"jupyterhub-{server}")
    port_flag = "" if port == 22 else f" -p {port}"
    lines = [f"Host {alias}", f"    HostName {host}", f"    User {login}"]
    if port != 22:
        lines.append(f"    Port {port}")
    return {"login": login, "host_alias": alias,
            "command": f"ssh{port_flag} {login}@{host}",
            "config": "\n".join(lines) + "\n"}
