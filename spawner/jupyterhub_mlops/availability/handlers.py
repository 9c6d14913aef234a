"""HTTP routes of the availability service (all under the service prefix).

    GET    api/v1/snapshot            the caller's versioned view (JSON)
    GET    api/v1/events              the same view as server-sent events, on every change
    POST   api/v1/reservations        reserve a profile for a spawn (trusted services only)
    DELETE api/v1/reservations/<id>   release it (trusted services only)
    GET    metrics                    Prometheus text format
    GET    oauth_callback             the end of the browser's OAuth round trip

Every route needs a JupyterHub token (``Authorization: token …``) or the
service's OAuth cookie; a trusted service (the spawner in the hub) may ask
for another user's view with ``?user=…&group=…``.
"""

from __future__ import annotations

import asyncio
import json

from jupyterhub.services.auth import HubOAuthCallbackHandler, HubOAuthenticated
from mlops_contract.labels import label_value
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from tornado import web
from tornado.iostream import StreamClosedError

from .. import metrics
from .state import Refused

MAX_FIELD = 256


class BaseHandler(HubOAuthenticated, web.RequestHandler):
    @property
    def availability(self):
        return self.settings["availability"]

    def check_xsrf_cookie(self):
        # Token-authenticated API: the browser only ever GETs these routes.
        return

    def write_error(self, status_code: int, **kwargs):
        reason = self._reason
        exc = kwargs.get("exc_info", (None, None, None))[1]
        if isinstance(exc, web.HTTPError) and exc.log_message:
            reason = exc.log_message % exc.args if exc.args else exc.log_message
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"error": reason, **getattr(exc, "extra", {})}))

    def caller(self) -> dict:
        """The authenticated caller's hub model. Token requests that fail get a
        403 with a sentence; browser requests are sent through OAuth."""
        model = self.current_user
        if model:
            return model
        if self.request.headers.get("Authorization"):
            raise web.HTTPError(
                403,
                "This JupyterHub token is not valid, or lacks the scope access:services!service=%s.",
                self.settings["service_name"],
            )
        raise web.HTTPError(401, "Log in to JupyterHub first.")

    def trusted(self, model: dict) -> bool:
        return model.get("kind") == "service" and model.get("name") in self.settings["trusted_services"]

    def require_trusted(self) -> dict:
        model = self.caller()
        if not self.trusted(model):
            raise web.HTTPError(403, "Only the spawner may reserve or release GPUs.")
        return model

    async def members(self, groups: list[str], max_age: float | None = None) -> dict:
        """Members of the caller's groups that have a GPU quota (see ``GroupDirectory``)."""
        quota_groups = self.availability.profiles.quotas_for(groups)
        if not quota_groups:
            return {}
        return await self.settings["groups"].members(quota_groups, max_age)

    def viewer(self) -> tuple[str, list[str]]:
        """(owner label value, groups) of the user whose view is asked for."""
        model = self.caller()
        if self.get_query_argument("user", None) is not None:
            if not self.trusted(model):
                raise web.HTTPError(403, "Only the spawner may ask for another user's view.")
            user = self.get_query_argument("user")[:MAX_FIELD]
            return label_value(user), [g[:MAX_FIELD] for g in self.get_query_arguments("group")]
        if model.get("kind") == "service":
            return "", []
        return label_value(model["name"]), list(model.get("groups") or [])


class SnapshotHandler(BaseHandler):
    async def get(self):
        if not self.current_user and not self.request.headers.get("Authorization"):
            # A browser without the service cookie yet: OAuth round trip.
            return self.redirect(self.get_login_url())
        owner, groups = self.viewer()
        members = await self.members(groups)
        self.set_header("Content-Type", "application/json")
        self.set_header("Cache-Control", "no-store")
        self.finish(json.dumps(self.availability.view_for(owner, groups, members)))


class EventsHandler(BaseHandler):
    """Server-sent events: one ``snapshot`` event now and one after each change
    (at most one per ``min_interval`` seconds), a comment every 15 s to keep
    proxies from closing an idle stream."""

    min_interval = 0.25

    async def get(self):
        if not self.current_user and not self.request.headers.get("Authorization"):
            return self.redirect(self.get_login_url())
        owner, groups = self.viewer()
        self.set_header("Content-Type", "text/event-stream")
        self.set_header("Cache-Control", "no-store")
        changed: asyncio.Event = self.settings["changes"].subscribe()
        sent = None
        try:
            while True:
                members = await self.members(groups)
                version = self.availability.version
                if version != sent:
                    doc = self.availability.view_for(owner, groups, members)
                    self.write(f"id: {doc['version']}\nevent: snapshot\ndata: {json.dumps(doc)}\n\n")
                    sent = version
                else:
                    self.write(": keep-alive\n\n")
                await self.flush()
                try:
                    await asyncio.wait_for(changed.wait(), 15)
                except asyncio.TimeoutError:
                    pass
                changed.clear()
                await asyncio.sleep(self.min_interval)
        except StreamClosedError:
            pass
        finally:
            self.settings["changes"].unsubscribe(changed)


class ReservationsHandler(BaseHandler):
    async def post(self):
        self.require_trusted()
        try:
            body = json.loads(self.request.body or b"{}")
        except json.JSONDecodeError:
            raise web.HTTPError(400, "The body must be a JSON object.") from None
        fields = {}
        for name in ("user", "profile", "pod"):
            value = body.get(name) if isinstance(body, dict) else None
            if not isinstance(value, str) or not value or len(value) > MAX_FIELD:
                raise web.HTTPError(400, f"'{name}' must be a non-empty string of at most {MAX_FIELD} characters.")
            fields[name] = value
        groups = body.get("groups") or []
        if not isinstance(groups, list) or not all(isinstance(g, str) for g in groups):
            raise web.HTTPError(400, "'groups' must be a list of group names.")
        queue = body.get("queue", False)
        if not isinstance(queue, bool):
            raise web.HTTPError(400, "'queue' must be true or false.")
        if queue and not self.availability.profiles.queue_with_kueue:
            raise web.HTTPError(
                409, "This hub does not queue spawns (GpuProfiles.queue_with_kueue is off): choose GPUs that are free."
            )
        # Current members (no cache), then the check and the booking with no
        # await between them: concurrent spawns of one group cannot both pass.
        members = await self.members(groups, max_age=0)
        try:
            res = self.availability.reserve(
                label_value(fields["user"]),
                groups,
                fields["profile"],
                fields["pod"],
                members,
                queue=queue,
            )
        except Refused as refused:
            metrics.SPAWN_REFUSALS.labels(refused.code).inc()
            error = web.HTTPError(409, "%s", str(refused))
            error.extra = {"code": refused.code}  # type: ignore[attr-defined]  # read by write_error
            raise error from None
        metrics.SPAWNS.labels(res.profile.slug).inc()
        self.settings["changes"].notify()
        self.set_status(201)
        self.finish(
            {
                "id": res.id,
                "queued": res.queued,
                "profile": res.profile.to_json(),
                "node_selector": dict(res.node_selector),
                "gpu_resource": res.shape.gpu_resource,
                "expires_at": res.expires_at,
            }
        )


class ReservationHandler(BaseHandler):
    async def delete(self, reservation_id: str):
        self.require_trusted()
        if not self.availability.book.release(reservation_id):
            raise web.HTTPError(404, "No such reservation (it was released or has expired).")
        self.settings["changes"].notify()
        self.set_status(204)
        self.finish()


class MetricsHandler(BaseHandler):
    async def get(self):
        self.caller()
        a = self.availability
        c = a.computed()
        metrics.set_gauges(c.gpu_types, c.held_by_owner_and_type, a.reserved_by_type(), c.snapshot.in_sync)
        self.set_header("Content-Type", CONTENT_TYPE_LATEST)
        self.finish(generate_latest())


class Changes:
    """Wakes every open event stream when the availability changes."""

    def __init__(self):
        self._events: set[asyncio.Event] = set()

    def subscribe(self) -> asyncio.Event:
        event = asyncio.Event()
        self._events.add(event)
        return event

    def unsubscribe(self, event: asyncio.Event) -> None:
        self._events.discard(event)

    def notify(self) -> None:
        for event in self._events:
            event.set()


def routes(prefix: str) -> list:
    return [
        (prefix + "api/v1/snapshot", SnapshotHandler),
        (prefix + "api/v1/events", EventsHandler),
        (prefix + "api/v1/reservations", ReservationsHandler),
        (prefix + r"api/v1/reservations/([A-Za-z0-9-]{1,64})", ReservationHandler),
        (prefix + "metrics", MetricsHandler),
        (prefix + "oauth_callback", HubOAuthCallbackHandler),
    ]
