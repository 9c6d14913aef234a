"""The running gateway: the SSH listener and what all connections share."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field

import asyncssh

from .audit import audit
from .connection import GatewayConnection
from .hub import ActivityReporter
from .keystore import KeyStore
from .ratelimit import FailureLimiter
from .routing import PodLocator

log = logging.getLogger(__name__)


@dataclass
class Gateway:
    """Shared state of the gateway; ``start()`` opens the SSH port.

    Built by ``SSHGatewayApp`` from its configuration; every field is
    documented by the trait of the same name there.
    """

    host_key: asyncssh.SSHKey
    gateway_key: asyncssh.SSHKey
    key_store: KeyStore
    hub_auth: object
    locator: PodLocator
    activity: ActivityReporter | None
    ip: str = "0.0.0.0"
    port: int = 2222
    pod_user: str = "jovyan"
    pod_sshd_port: int = 2222
    pod_aliases: tuple[str, ...] = ("notebook",)
    local_forwarding: bool = True
    server_separator: str = "."
    login_pattern: str = r"[a-z0-9][a-z0-9._@+-]*"
    max_login_length: int = 128
    login_timeout: float = 30
    idle_timeout: float = 3600
    connect_timeout: float = 10
    activity_interval: float = 60
    source_limiter: FailureLimiter = field(default_factory=lambda: FailureLimiter(30, 60))
    user_limiter: FailureLimiter = field(default_factory=lambda: FailureLimiter(10, 60))
    encryption_algs: tuple[str, ...] = ()
    window: int = 2 * 1024 * 1024
    max_pktsize: int = 32768
    connections: set[GatewayConnection] = field(default_factory=set)
    _server: asyncssh.SSHAcceptor | None = None
    _housekeeping: asyncio.Task | None = None

    async def start(self) -> None:
        self._server = await asyncssh.create_server(
            lambda: GatewayConnection(self),
            self.ip,
            self.port,
            server_host_keys=[self.host_key],
            login_timeout=self.login_timeout,
            # The relay passes bytes through untouched: no line editor, no
            # decoding, no agent or X11 forwarding, no built-in scp/sftp.
            encoding=None,
            line_editor=False,
            agent_forwarding=False,
            x11_forwarding=False,
            allow_scp=False,
            sftp_factory=None,
            kbdint_auth=False,
            encryption_algs=self.encryption_algs or (),
            window=self.window,
            max_pktsize=self.max_pktsize,
            keepalive_interval=60,
        )
        self._housekeeping = asyncio.ensure_future(self._housekeep())
        log.info("SSH gateway listening on %s:%s", self.ip, self.port)

    @property
    def bound_port(self) -> int:
        return self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._housekeeping:
            self._housekeeping.cancel()
        if self._server:
            self._server.close()
            await self._server.wait_closed()
        for conn in list(self.connections):
            conn.conn.close()
        if self.activity:
            await self.activity.flush()

    def touch(self, conn: GatewayConnection) -> None:
        """Count ``conn``'s traffic as activity of its server (for the idle culler)."""
        if self.activity is not None and conn.target is not None:
            self.activity.touch(conn.target)

    async def _housekeep(self) -> None:
        tick = max(0.5, min(5.0, self.idle_timeout / 4, self.activity_interval))
        last_flush = time.monotonic()
        while True:
            await asyncio.sleep(tick)
            now = time.monotonic()
            for conn in list(self.connections):
                idle = now - conn.last_traffic
                if conn.login_ok and idle > self.idle_timeout:
                    audit(
                        "logout",
                        session=conn.id,
                        user=conn.target.user,
                        server=conn.target.server,
                        reason=f"idle for {int(idle)} s",
                    )
                    conn.conn.disconnect(
                        asyncssh.DISC_BY_APPLICATION, f"Idle for {int(idle)} s: disconnected by the gateway."
                    )
                elif conn.login_ok and conn.last_traffic > last_flush:
                    self.touch(conn)
            if self.activity is not None and now - last_flush >= self.activity_interval:
                last_flush = now
                try:
                    await self.activity.flush()
                except Exception:  # keep housekeeping alive whatever the Hub does
                    log.exception("posting SSH activity to the Hub failed")
