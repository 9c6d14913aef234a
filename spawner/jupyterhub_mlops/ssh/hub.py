"""Talking to the Hub: who owns a token, and SSH activity for the idle culler."""

from __future__ import annotations

import datetime
import json
import logging
import time
from urllib.parse import quote

from jupyterhub.services.auth import HubAuth
from tornado.httpclient import AsyncHTTPClient, HTTPClientError

from .names import Target

log = logging.getLogger(__name__)


async def token_owner(hub_auth: HubAuth, token: str) -> str | None:
    """The name of the user ``token`` belongs to, or None.

    None when the Hub does not know the token (wrong, expired, revoked), when
    it belongs to a service, or when it lacks the scopes the gateway requires
    (``hub_auth.access_scopes``: by default, access to this service). Never
    cached: a revoked token stops working at once.
    """
    if not token or len(token) > 4096 or not token.isprintable():
        return None
    model = await hub_auth.user_for_token(token, use_cache=False, sync=False)
    if not model or model.get("kind", "user") != "user":
        return None
    if hub_auth.access_scopes and not hub_auth.check_scopes(hub_auth.access_scopes, model):
        log.info("token of %s lacks the scopes %s", model.get("name"), hub_auth.access_scopes)
        return None
    return model.get("name")


class ActivityReporter:
    """Collects SSH activity per server and posts it to the Hub now and then.

    The Hub's idle culler reads a server's ``last_activity``; posting SSH
    traffic there keeps a server busy over SSH from being culled. ``touch`` is
    cheap (called on traffic); ``flush`` makes one request per active user.
    """

    def __init__(self, api_url: str, api_token: str, request_timeout: float = 10):
        self.api_url = api_url.rstrip("/")
        self.api_token = api_token
        self.request_timeout = request_timeout
        self._pending: dict[Target, float] = {}

    def touch(self, target: Target) -> None:
        self._pending[target] = time.time()

    @staticmethod
    def body(servers: dict[str, float]) -> dict:
        """The activity request body for one user (pure)."""

        def iso(t: float) -> str:
            return datetime.datetime.fromtimestamp(t, datetime.timezone.utc).isoformat()

        return {
            "last_activity": iso(max(servers.values())),
            "servers": {name: {"last_activity": iso(t)} for name, t in servers.items()},
        }

    async def flush(self) -> None:
        pending, self._pending = self._pending, {}
        by_user: dict[str, dict[str, float]] = {}
        for target, when in pending.items():
            by_user.setdefault(target.user, {})[target.server] = when
        client = AsyncHTTPClient()
        for user, servers in by_user.items():
            try:
                await client.fetch(
                    f"{self.api_url}/users/{quote(user, safe='')}/activity",
                    method="POST",
                    headers={"Authorization": f"token {self.api_token}"},
                    body=json.dumps(self.body(servers)),
                    request_timeout=self.request_timeout,
                )
            except HTTPClientError as exc:
                # 404/400: the user or server is gone; 403: the gateway's role
                # lacks users:activity. Neither is worth retrying.
                log.warning("could not post SSH activity of %s to the Hub: %s", user, exc)
            except OSError as exc:
                log.warning("Hub unreachable while posting SSH activity: %s", exc)
                for server, when in servers.items():  # retry next time
                    self._pending.setdefault(Target(user, server), when)
