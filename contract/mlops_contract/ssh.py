"""How a user reaches a notebook server over SSH.

The gateway (hub side) reads a login as ``user`` for the default server or
``user<LOGIN_SEPARATOR>server`` for a named one; the notebook side prints the
command and ``~/.ssh/config`` block that produce exactly such a login, in the
sidebar and in ``%mlops ssh`` alike. Everything here is pure.
"""

from __future__ import annotations

LOGIN_SEPARATOR = "."
"""Between user and server name in a login (``alice.gpu``)."""

DEFAULT_GATEWAY_PORT = 22
"""The port users give ssh when the operator names none: the SSH default, what a
load balancer in front of the gateway usually listens on."""

KEEPALIVE_SECONDS = 30
"""ServerAliveInterval suggested to clients: keeps idle sessions through NAT and
load balancers that drop quiet connections."""


def login_name(user: str, server: str = "") -> str:
    return f"{user}{LOGIN_SEPARATOR}{server}" if server else user


def default_host_alias(server: str = "") -> str:
    """The ``~/.ssh/config`` entry suggested for a server: one per server, stable."""
    return f"jupyterhub-{server}" if server else "jupyterhub"


def connection_help(user: str, server: str, host: str, port: int, alias: str = "") -> dict[str, str]:
    """``{"login", "host_alias", "command", "config"}`` for ``user``'s ``server`` ("" = default)."""
    login = login_name(user, server)
    alias = alias or default_host_alias(server)
    port_flag = "" if port == 22 else f" -p {port}"
    lines = [f"Host {alias}", f"    HostName {host}", f"    User {login}"]
    if port != 22:
        lines.append(f"    Port {port}")
    lines.append(f"    ServerAliveInterval {KEEPALIVE_SECONDS}")
    return {
        "login": login,
        "host_alias": alias,
        "command": f"ssh{port_flag} {login}@{host}",
        "config": "\n".join(lines) + "\n",
    }
