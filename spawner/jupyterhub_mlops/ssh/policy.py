"""What a direct-tcpip request (``ssh -L``, ``ssh -J``) may reach: only the user's pod.

Two forms are accepted, both resolved to the pod's IP by the gateway so that
nothing else (the gateway host, the hub, the API server, other pods) can be
named:

- ``ssh -J user@gateway`` to host ``<login>`` (the same login, e.g. ``alice``
  or ``alice.gpu``): ProxyJump mode, only to the pod's sshd port;
- ``ssh -L`` to one of the pod aliases (``notebook`` by default) or the pod's
  own IP or name: any port of the pod, if local forwarding is enabled.

Everything here is pure.
"""

from __future__ import annotations

from dataclasses import dataclass


class ForwardRefused(Exception):
    """A forwarding request outside the user's own pod; the message is for the user."""


@dataclass(frozen=True)
class PodAddress:
    """Where a user's running server is: its pod's IP, name and namespace."""

    ip: str
    name: str
    namespace: str


@dataclass(frozen=True)
class ForwardTarget:
    kind: str
    """``proxyjump`` or ``forward``."""
    host: str
    port: int


def decide_forward(
    dest_host: str,
    dest_port: int,
    *,
    login: str,
    pod: PodAddress,
    aliases: tuple[str, ...] | list[str],
    sshd_port: int,
    local_forwarding: bool,
) -> ForwardTarget:
    """Map a requested destination to the pod, or raise ``ForwardRefused``."""
    host = dest_host.strip().lower().rstrip(".")
    if not 0 < dest_port < 65536:
        raise ForwardRefused(f"port {dest_port} is not a TCP port")
    if host == login.lower():
        if dest_port != sshd_port:
            raise ForwardRefused(
                f"ProxyJump reaches only your server's sshd on port {sshd_port}: "
                f"use -p {sshd_port} (or 'Port {sshd_port}' in ~/.ssh/config)"
            )
        return ForwardTarget("proxyjump", pod.ip, dest_port)
    if host in {a.lower() for a in aliases} or host in (pod.ip, pod.name):
        if dest_port == sshd_port:
            return ForwardTarget("proxyjump", pod.ip, dest_port)
        if not local_forwarding:
            raise ForwardRefused(
                f"port forwarding is disabled on this gateway; only ProxyJump to port {sshd_port} is allowed"
            )
        return ForwardTarget("forward", pod.ip, dest_port)
    names = ", ".join(repr(a) for a in aliases) or "your pod's IP"
    raise ForwardRefused(
        f"forwarding reaches only your own server: use {names} as host with ssh -L, "
        f"or ProxyJump to host {login!r} port {sshd_port}"
    )
