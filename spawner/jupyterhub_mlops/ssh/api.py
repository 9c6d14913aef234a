"""The gateway's HTTP service: key registration for users, metrics for Prometheus.

Routes, under the service prefix (``/services/<name>/`` behind the Hub):

- ``GET    api/keys``               the caller's registered keys
- ``POST   api/keys``               register ``{"key": "ssh-ed25519 AAAA... comment"}``
- ``DELETE api/keys/<fingerprint>`` remove one (``SHA256:...``, URL-encoded)
- ``GET    metrics``                Prometheus metrics (also at ``/metrics``)

Every route needs a JupyterHub token (``Authorization: token ...``) that
grants access to this service; a user only ever sees and changes their own
keys. Errors are JSON ``{"message": ...}`` with a status a client can act on.
"""

from __future__ import annotations

import json
from dataclasses import asdict

from jupyterhub.services.auth import HubAuthenticated, UserNotAllowed
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from tornado import web

from .keystore import KeyRegistrationError, KeyStore


class _Base(HubAuthenticated, web.RequestHandler):
    @property
    def hub_auth(self):
        return self.settings["hub_auth"]

    @property
    def key_store(self) -> KeyStore:
        return self.settings["key_store"]

    async def prepare(self):
        # Identify the caller without blocking the event loop (the mixin's
        # get_current_user would call the Hub synchronously).
        model = await self.hub_auth.get_user(self, sync=False)
        try:
            self._hub_auth_user_cache = self.check_hub_user(model) if model else None
        except UserNotAllowed:
            self._hub_auth_user_cache = None

    def check_xsrf_cookie(self):
        # Only token headers are accepted (no cookies), so no XSRF exposure.
        return

    def require_user(self) -> dict:
        model = self.get_current_user()
        if not model:
            raise web.HTTPError(
                403,
                "send a JupyterHub API token with access to this service in the Authorization header ('token <token>')",
            )
        return model

    def require_person(self) -> str:
        model = self.require_user()
        if model.get("kind", "user") != "user":
            raise web.HTTPError(403, "only users have SSH keys; this token belongs to a service")
        return model["name"]

    def write_error(self, status_code: int, **kwargs) -> None:
        exc = kwargs.get("exc_info", (None, None, None))[1]
        message = getattr(exc, "log_message", None) or self._reason
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"message": message}))

    def write_json(self, data, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(data))

    def _raise(self, exc: KeyRegistrationError):
        raise web.HTTPError(exc.status, str(exc)) from None


def _public(key) -> dict:
    data = asdict(key)
    return {k: data[k] for k in ("fingerprint", "key", "comment", "added")}


class KeysHandler(_Base):
    async def get(self):
        user = self.require_person()
        self.write_json({"keys": [_public(k) for k in await self.key_store.list(user)]})

    async def post(self):
        user = self.require_person()
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError:
            raise web.HTTPError(400, 'the body must be JSON: {"key": "ssh-ed25519 ..."}') from None
        if not isinstance(body, dict) or not isinstance(body.get("key"), str):
            raise web.HTTPError(400, 'the body must be JSON: {"key": "ssh-ed25519 ..."}')
        try:
            key = await self.key_store.add(user, body["key"])
        except KeyRegistrationError as exc:
            self._raise(exc)
        self.write_json(_public(key), status=201)


class KeyHandler(_Base):
    async def delete(self, fingerprint: str):
        user = self.require_person()
        try:
            await self.key_store.remove(user, fingerprint)
        except KeyRegistrationError as exc:
            self._raise(exc)
        self.set_status(204)
        self.finish()


class MetricsHandler(_Base):
    async def get(self):
        if self.settings["authenticate_prometheus"]:
            self.require_user()
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(generate_latest())


def make_web_app(prefix: str, hub_auth, key_store: KeyStore, authenticate_prometheus: bool) -> web.Application:
    prefix = "/" + prefix.strip("/") + "/" if prefix.strip("/") else "/"
    return web.Application(
        [
            (prefix + "api/keys", KeysHandler),
            (prefix + r"api/keys/(.+)", KeyHandler),
            (prefix + "metrics", MetricsHandler),
            ("/metrics", MetricsHandler),
        ],
        hub_auth=hub_auth,
        key_store=key_store,
        authenticate_prometheus=authenticate_prometheus,
    )
