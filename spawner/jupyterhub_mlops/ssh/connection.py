"""One client connection to the gateway: authentication, then its channels.

asyncssh creates one ``GatewayConnection`` per TCP connection. It decides
who the user is (a registered key, or a JupyterHub token as password), which
server they mean (``user`` or ``user.servername``), and relays each channel
to that server's pod. Every login and every channel writes one audit line.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from typing import TYPE_CHECKING

import asyncssh

from . import metrics
from .audit import audit
from .hub import token_owner
from .keystore import authorized_keys_text
from .names import InvalidLogin, Target, candidates, printable, reading_for_user, validate_login
from .pod_side import PUSH_USER_KEYS_COMMAND
from .policy import ForwardRefused, PodAddress, decide_forward
from .relay import SessionRelay, TcpRelay, UpstreamSession
from .routing import ServerNotRunning

if TYPE_CHECKING:
    from .gateway import Gateway

log = logging.getLogger(__name__)

#: Credential checks one connection may ask for (a key is checked twice: once
#: when offered, once with its signature). Beyond this the client is cut off,
#: so one connection cannot make the gateway query the key store endlessly.
MAX_AUTH_CHECKS = 24


class GatewayConnection(asyncssh.SSHServer):
    def __init__(self, gateway: Gateway):
        self.gw = gateway
        self.id = uuid.uuid4().hex[:12]
        self.conn: asyncssh.SSHServerConnection | None = None
        self.peer = ("?", 0)
        self.login = ""
        self.login_ok = False
        self.target: Target | None = None
        self.method = "none"
        self.last_traffic = time.monotonic()
        self._failure: tuple[str, str] | None = None
        self._failure_audited = False
        self._refusal: str | None = None
        self._pod: asyncio.Future | None = None
        self._upstream: asyncio.Future | None = None
        self._auth_checks = 0
        self._keys_of: dict[str, list] = {}  # registered keys per user, read once

    # ---- bookkeeping -------------------------------------------------------

    def _fields(self, **extra) -> dict:
        fields = {
            "session": self.id,
            "source": f"{self.peer[0]}:{self.peer[1]}",
            "login": printable(self.login) if self.login else None,
        }
        if self.target is not None:
            fields.update(user=self.target.user, server=self.target.server)
        fields.update(extra)
        return fields

    def _user_keys(self) -> list[str]:
        """Rate-limit keys for the login: the whole name and the part before the separator."""
        first = self.login.split(self.gw.server_separator, 1)[0]
        return sorted({f"user:{self.login}", f"user:{first}"})

    def traffic(self) -> None:
        self.last_traffic = time.monotonic()

    def _fail(self, method: str, reason: str, audit_now: bool, **extra) -> None:
        self._failure = (method, reason)
        self.gw.source_limiter.record(self.peer[0])
        for key in self._user_keys():
            self.gw.user_limiter.record(key)
        metrics.LOGINS.labels(method, "refused").inc()
        if audit_now:
            self._failure_audited = True
            audit("login", **self._fields(outcome="refused", method=method, reason=reason, **extra))

    # ---- asyncssh callbacks: connection and authentication -----------------

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        self.peer = conn.get_extra_info("peername")[:2]
        self.gw.connections.add(self)

    def begin_auth(self, username: str) -> bool:
        self.login = username
        wait = self.gw.source_limiter.retry_after(self.peer[0])
        if wait:
            self._refusal = f"Too many failed logins from {self.peer[0]}; try again in {int(wait) + 1} s."
            self._fail("none", "rate-limited (source)", audit_now=True)
        else:
            try:
                validate_login(username, self.gw.login_pattern, self.gw.max_login_length, self.gw.server_separator)
            except InvalidLogin as exc:
                self._refusal = f"Invalid login name: {exc}."
                self._fail("none", f"invalid login name: {exc}", audit_now=True)
        if self._refusal:
            self.conn.send_auth_banner(self._refusal + "\r\n")
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    def _too_many_checks(self) -> bool:
        self._auth_checks += 1
        if self._auth_checks <= MAX_AUTH_CHECKS:
            return False
        method = self._failure[0] if self._failure else "none"
        self._failure = (method, "too many authentication attempts")
        self.conn.disconnect(asyncssh.DISC_NO_MORE_AUTH_METHODS_AVAILABLE, "Too many authentication attempts.")
        return True

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        if self._refusal or self._too_many_checks():
            return False
        for target in candidates(username, self.gw.server_separator):
            if target.user not in self._keys_of:
                self._keys_of[target.user] = await self.gw.key_store.list(target.user)
            if any(k.matches(key) for k in self._keys_of[target.user]):
                self.target, self.method = target, "publickey"
                return True
        self._failure = ("publickey", f"key {key.get_fingerprint('sha256')} not registered to this user")
        return False

    def password_auth_supported(self) -> bool:
        return True

    async def validate_password(self, username: str, password: str) -> bool:
        if self._refusal or self._too_many_checks():
            return False
        wait = max(self.gw.user_limiter.retry_after(k) for k in self._user_keys())
        if wait:
            # Tokens can be guessed, keys cannot: a flood against one user
            # blocks token logins for that user but never their keys.
            self.conn.send_auth_banner(
                f"Too many failed token logins for this user; try again in {int(wait) + 1} s, "
                "or log in with your registered key.\r\n"
            )
            self._fail("token", "rate-limited (user)", audit_now=True)
            return False
        owner = await token_owner(self.gw.hub_auth, password)
        target = reading_for_user(username, owner, self.gw.server_separator) if owner else None
        if target is None:
            reason = (
                "token belongs to another user"
                if owner
                else "token unknown, expired, revoked or without access to this service"
            )
            self._fail("token", reason, audit_now=True, token_owner=owner)
            return False
        self.target, self.method = target, "token"
        return True

    def auth_completed(self) -> None:
        self.login_ok = True
        self.last_traffic = time.monotonic()  # the idle clock starts at login
        metrics.LOGINS.labels(self.method, "ok").inc()
        metrics.SESSIONS.inc()
        audit("login", **self._fields(outcome="ok", method=self.method))

    def connection_lost(self, exc: Exception | None) -> None:
        self.gw.connections.discard(self)
        if self.login_ok:
            metrics.SESSIONS.dec()
            self.gw.touch(self)
        elif not self._failure_audited:
            method, reason = self._failure or ("none", "disconnected before logging in")
            if isinstance(exc, asyncssh.IllegalUserName):
                # asyncssh refuses these itself (NUL, >= 1 KiB, not UTF-8)
                # before begin_auth sees the name.
                reason = f"invalid login name: {exc}"
            elif exc is not None and "timeout" in str(exc).lower():
                reason = f"login timeout ({reason})"
            self._fail(method, reason, audit_now=True)
        if self._upstream is not None and self._upstream.done() and not self._upstream.cancelled():
            if self._upstream.exception() is None:
                self._upstream.result().close()

    # ---- the user's pod ----------------------------------------------------

    async def pod(self) -> PodAddress:
        """The user's running pod, looked up once per connection."""
        if self._pod is None:
            self._pod = asyncio.ensure_future(self.gw.locator.locate(self.target))  # type: ignore[arg-type]  # set at login
        return await asyncio.shield(self._pod)

    async def upstream(self) -> asyncssh.SSHClientConnection:
        """One SSH connection to the pod's sshd, shared by this connection's sessions."""
        if self._upstream is None:
            self._upstream = asyncio.ensure_future(self._connect_upstream())
        return await asyncio.shield(self._upstream)

    async def _connect_upstream(self) -> asyncssh.SSHClientConnection:
        pod = await self.pod()
        return await asyncssh.connect(
            pod.ip,
            self.gw.pod_sshd_port,
            username=self.gw.pod_user,
            client_keys=[self.gw.gateway_key],
            known_hosts=None,
            config=[],
            agent_path=None,
            agent_forwarding=False,
            preferred_auth="publickey",
            encryption_algs=self.gw.encryption_algs or (),
            connect_timeout=self.gw.connect_timeout,
            keepalive_interval=30,
        )

    # ---- channels ----------------------------------------------------------

    def session_requested(self) -> SessionRelay:
        return SessionRelay(self._open_session, self.traffic, self._session_refused)

    def _session_refused(self, kind: str, detail: str) -> None:
        metrics.CHANNELS.labels("refused").inc()
        audit(
            "channel",
            **self._fields(
                kind=kind,
                outcome="refused",
                detail=_short(detail),
                reason=f"only the {'/'.join(SessionRelay.SUBSYSTEMS)} subsystem is offered",
            ),
        )

    async def _open_session(self, relay: SessionRelay):
        kind, req = relay.kind or "shell", relay.request
        detail = req.get("command") or req.get("subsystem")
        try:
            conn = await self.upstream()
            chan, _ = await conn.create_session(
                lambda: UpstreamSession(relay),
                command=req.get("command"),
                subsystem=req.get("subsystem"),
                term_type=req.get("term_type"),
                term_size=req.get("term_size"),
                term_modes=req.get("term_modes", {}),
                env=req.get("env", {}),
                encoding=None,
                window=self.gw.window,
                max_pktsize=self.gw.max_pktsize,
            )
        except ServerNotRunning as exc:
            return self._refuse_session(relay, kind, str(exc), "server not running", detail)
        except (OSError, asyncssh.Error, asyncio.TimeoutError) as exc:
            message = (
                "The gateway could not reach the sshd in your server "
                f"({type(exc).__name__}); is sshd running in the image?"
            )
            return self._refuse_session(relay, kind, message, f"pod unreachable: {exc}", detail)
        metrics.CHANNELS.labels(kind).inc()
        audit("channel", **self._fields(kind=kind, outcome="ok", detail=_short(detail), pty=bool(req.get("term_type"))))
        self.gw.touch(self)
        return chan

    def _refuse_session(self, relay, kind, message, reason, detail):
        metrics.CHANNELS.labels("refused").inc()
        audit("channel", **self._fields(kind=kind, outcome="refused", reason=reason, detail=_short(detail)))
        relay.chan.write_stderr(message.encode() + b"\r\n")
        relay.chan.exit(1)
        return None

    def connection_requested(self, dest_host: str, dest_port: int, orig_host: str, orig_port: int):
        return self._open_forward(dest_host, dest_port)

    async def _open_forward(self, dest_host: str, dest_port: int) -> TcpRelay:
        requested = f"{printable(dest_host, 60)}:{dest_port}"
        try:
            pod = await self.pod()
            target = decide_forward(
                dest_host,
                dest_port,
                login=self.login,
                pod=pod,
                aliases=self.gw.pod_aliases,
                sshd_port=self.gw.pod_sshd_port,
                local_forwarding=self.gw.local_forwarding,
            )
        except (ForwardRefused, ServerNotRunning) as exc:
            metrics.CHANNELS.labels("refused").inc()
            audit("channel", **self._fields(kind="forward", outcome="refused", destination=requested, reason=str(exc)))
            raise asyncssh.ChannelOpenError(asyncssh.OPEN_ADMINISTRATIVELY_PROHIBITED, str(exc)) from None
        extra = {}
        if target.kind == "proxyjump":
            extra["user_keys"] = await self._push_user_keys()
        try:
            relay = await TcpRelay.connect(target.host, target.port, self.traffic, self.gw.connect_timeout)
        except (OSError, asyncio.TimeoutError) as exc:
            metrics.CHANNELS.labels("refused").inc()
            audit(
                "channel",
                **self._fields(kind=target.kind, outcome="failed", destination=requested, reason=str(exc), **extra),
            )
            raise asyncssh.ChannelOpenError(
                asyncssh.OPEN_CONNECT_FAILED, f"nothing answers on port {dest_port} of your server"
            ) from None
        metrics.CHANNELS.labels(target.kind).inc()
        audit("channel", **self._fields(kind=target.kind, outcome="ok", destination=requested, **extra))
        self.gw.touch(self)
        return relay

    async def _push_user_keys(self) -> str:
        """Make the pod's sshd trust exactly the user's registered keys; says how it went.

        In ProxyJump mode the user's client logs in to the pod's sshd end to
        end, with the user's own key. The gateway, which already holds the
        user's keys, writes them into the sshd's ``user_keys`` file through its
        own short login (see ``pod_side``), so this works in any namespace and
        a revoked key stops working at the next jump. A failure is reported
        (audit line) but does not stop the jump: keys pushed before still work.
        """
        try:
            keys = await self.gw.key_store.list(self.target.user)
            conn = await self._connect_upstream()
            async with conn:
                result = await asyncio.wait_for(
                    conn.run(PUSH_USER_KEYS_COMMAND, input=authorized_keys_text(keys)), self.gw.connect_timeout
                )
        except (OSError, asyncssh.Error, asyncio.TimeoutError) as exc:
            return f"not pushed: {type(exc).__name__}: {_short(str(exc))}"
        except Exception as exc:  # the key store's API errors: still try the jump
            log.exception("reading the registered keys of %s failed", self.target.user)
            return f"not pushed: {type(exc).__name__}"
        if result.exit_status != 0:
            return f"not pushed: exit {result.exit_status}: {_short(str(result.stderr).strip())}"
        return f"pushed {len(keys)}"

    def server_requested(self, listen_host: str, listen_port: int):
        metrics.CHANNELS.labels("refused").inc()
        audit(
            "channel",
            **self._fields(
                kind="remote-forward",
                outcome="refused",
                destination=f"{printable(listen_host, 60)}:{listen_port}",
                reason="remote forwarding (-R) is not offered",
            ),
        )
        return False


def _short(text: str | None) -> str | None:
    return None if text is None else printable(text, 200)
