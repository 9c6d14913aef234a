"""Moving bytes between the user's SSH channel and the pod, with flow control.

Each accepted channel is relayed by callbacks (no per-chunk tasks or queues):
data received on one side is written to the other, and when one side's send
window fills up, the other side stops reading until it drains.

- ``SessionRelay``: a session channel (shell, exec, sftp) opened again on an
  SSH connection from the gateway to the pod's sshd, with the same PTY,
  window size, command or subsystem; exit status and signals come back.
- ``TcpRelay``: a direct-tcpip channel (``-L``, ``-J``) spliced onto a TCP
  connection to the pod.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import asyncssh

log = logging.getLogger(__name__)

#: Bytes queued towards one side before the other side stops reading.
WRITE_BUFFER_HIGH = 1024 * 1024


class UpstreamSession(asyncssh.SSHClientSession):
    """The pod side of a ``SessionRelay``."""

    def __init__(self, relay: SessionRelay):
        self.relay = relay
        self.exit_status: int | None = None
        self.exit_signal: tuple | None = None

    def data_received(self, data: bytes, datatype) -> None:
        self.relay.traffic()
        self.relay.chan.write(data, datatype)

    def eof_received(self) -> bool:
        self.relay.chan.write_eof()
        return True  # keep the channel open for the exit status

    def exit_status_received(self, status: int) -> None:
        self.exit_status = status

    def exit_signal_received(self, signal: str, core_dumped: bool, msg: str, lang: str) -> None:
        self.exit_signal = (signal, core_dumped, msg, lang)

    def pause_writing(self) -> None:
        self.relay.chan.pause_reading()

    def resume_writing(self) -> None:
        self.relay.chan.resume_reading()

    def connection_lost(self, exc: Exception | None) -> None:
        chan = self.relay.chan
        if self.exit_signal is not None:
            chan.exit_with_signal(*self.exit_signal)
        elif self.exit_status is not None:
            chan.exit(self.exit_status)
        else:
            chan.close()


class SessionRelay(asyncssh.SSHServerSession):
    """The user side of a session channel; see the module docstring.

    ``open_upstream(relay)`` is a coroutine supplied by the gateway that
    returns the pod-side channel, or writes a message and returns None;
    ``refused(kind, detail)`` records a request the relay turns down.
    """

    SUBSYSTEMS = ("sftp",)

    def __init__(
        self, open_upstream: Callable[..., Awaitable], traffic: Callable[[], None], refused: Callable[[str, str], None]
    ):
        self._open_upstream = open_upstream
        self.traffic = traffic
        self._refused = refused
        self.chan: asyncssh.SSHServerChannel | None = None
        self.upstream: asyncssh.SSHClientChannel | None = None
        self.kind = ""
        self.request: dict = {}
        self._early: list[bytes] = []  # input that arrived before the pod side opened
        self._pending_eof = False
        self._task: asyncio.Task | None = None

    def connection_made(self, chan) -> None:
        self.chan = chan

    def pty_requested(self, term_type, term_size, term_modes) -> bool:
        self.request.update(term_type=term_type, term_size=term_size, term_modes=term_modes)
        return True

    def shell_requested(self) -> bool:
        self.kind = "shell"
        return True

    def exec_requested(self, command: str) -> bool:
        self.kind = "exec"
        self.request["command"] = command
        return True

    def subsystem_requested(self, subsystem: str) -> bool:
        if subsystem not in self.SUBSYSTEMS:
            self._refused("subsystem", subsystem)
            return False
        self.kind = subsystem
        self.request["subsystem"] = subsystem
        return True

    def session_started(self) -> None:
        # Hold the user's input until the pod side is open.
        self.chan.pause_reading()
        env = self.chan.get_environment()
        if env:
            self.request["env"] = dict(env)
        self._task = asyncio.ensure_future(self._start())

    async def _start(self) -> None:
        try:
            upstream = await self._open_upstream(self)
        except Exception:  # an unexpected failure must still end the channel
            log.exception("could not open the pod side of a %s channel", self.kind)
            self.chan.write_stderr(b"The gateway could not reach your server; try again.\r\n")
            self.chan.exit(1)
            return
        if upstream is None:
            return
        self.upstream = upstream
        for data in self._early:
            upstream.write(data)
        self._early.clear()
        if self._pending_eof:
            upstream.write_eof()
        self.chan.resume_reading()

    def data_received(self, data: bytes, datatype) -> None:
        self.traffic()
        if self.upstream is None:
            # Requests and the first data can arrive in one read, before
            # pause_reading() takes effect; the window bounds how much.
            self._early.append(data)
        else:
            self.upstream.write(data)

    def eof_received(self) -> bool:
        if self.upstream is None:
            self._pending_eof = True
        else:
            self.upstream.write_eof()
        return True

    def terminal_size_changed(self, width, height, pixwidth, pixheight) -> None:
        self.request["term_size"] = (width, height, pixwidth, pixheight)
        if self.upstream is not None:
            self.upstream.change_terminal_size(width, height, pixwidth, pixheight)

    def signal_received(self, signal: str) -> None:
        if self.upstream is not None:
            self.upstream.send_signal(signal)

    def break_received(self, msec: int) -> bool:
        if self.upstream is not None:
            self.upstream.send_break(msec)
        return True

    def pause_writing(self) -> None:
        if self.upstream is not None:
            self.upstream.pause_reading()

    def resume_writing(self) -> None:
        if self.upstream is not None:
            self.upstream.resume_reading()

    def connection_lost(self, exc) -> None:
        if self.upstream is not None:
            self.upstream.close()
        elif self._task is not None:
            self._task.cancel()


class _SocketSide(asyncio.Protocol):
    """The pod side of a ``TcpRelay``: a plain TCP connection."""

    def __init__(self):
        self.relay: TcpRelay | None = None
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport) -> None:
        self.transport = transport
        # The pod may speak first (sshd sends its banner at once): hold its
        # bytes in the socket until the user's channel is open to take them.
        transport.pause_reading()
        # Pause the SSH side only when a lot is queued: the default 64 KiB
        # high-water mark throttles bulk transfers (ssh -J, scp over -L).
        transport.set_write_buffer_limits(high=WRITE_BUFFER_HIGH)

    def data_received(self, data: bytes) -> None:
        self.relay.traffic()
        self.relay.chan.write(data)

    def eof_received(self) -> bool:
        self.relay.chan.write_eof()
        return True

    def pause_writing(self) -> None:
        self.relay.chan.pause_reading()

    def resume_writing(self) -> None:
        self.relay.chan.resume_reading()

    def connection_lost(self, exc) -> None:
        if self.relay is not None and self.relay.chan is not None:
            self.relay.chan.close()


class TcpRelay(asyncssh.SSHTCPSession):
    """The user side of a forwarded TCP connection; see the module docstring."""

    def __init__(self, socket_side: _SocketSide, traffic: Callable[[], None]):
        self.socket = socket_side
        self.traffic = traffic
        self.chan = None
        socket_side.relay = self

    @classmethod
    async def connect(cls, host: str, port: int, traffic: Callable[[], None], timeout: float) -> TcpRelay:
        """Open the TCP side; raises OSError or TimeoutError if the pod does not answer."""
        loop = asyncio.get_running_loop()
        _, side = await asyncio.wait_for(loop.create_connection(_SocketSide, host, port), timeout)
        return cls(side, traffic)

    def connection_made(self, chan) -> None:
        self.chan = chan
        chan.set_write_buffer_limits(high=WRITE_BUFFER_HIGH)
        self.socket.transport.resume_reading()

    def data_received(self, data: bytes, datatype) -> None:
        self.traffic()
        self.socket.transport.write(data)

    def eof_received(self) -> bool:
        if self.socket.transport.can_write_eof():
            self.socket.transport.write_eof()
        return True

    def pause_writing(self) -> None:
        self.socket.transport.pause_reading()

    def resume_writing(self) -> None:
        self.socket.transport.resume_reading()

    def connection_lost(self, exc) -> None:
        self.socket.transport.close()
