"""REST handlers of the jobs API under ``{base_url}/mlops/api/v1/`` (see openapi.json).

Every verb is ``@tornado.web.authenticated`` and XSRF-checked by
jupyter-server's ``APIHandler``. One-shot Kubernetes calls go through the
blocking client the Python API shares, on a bounded thread pool. Streams
never take a thread: watches are subscriptions to the per-kind informers
(``jobs.cache``) and log following reads the API server on the event loop
(``jobs.aiokube``); either ends, and lets go of everything it held, as soon
as its client leaves. Every ``JobsError`` becomes its HTTP status with
``{"error", "message", ...}``.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import re
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import tornado.web
from jupyter_server.base.handlers import APIHandler
from mlops_contract.api import BodyError, WorkflowSpec, validate_body
from tornado.http1connection import HTTP1Connection
from tornado.iostream import StreamClosedError

from .jobs.client import JobsClient
from .jobs.errors import InvalidSpec, JobsError, NotFound
from .jobs.job_events import job_events
from .jobs.kinds import BY_COLLECTION, KINDS, kind_named
from .jobs.kueue_line import any_queued, with_places
from .jobs.pytorchjob import PyTorchJob
from .jobs.resources import PODS
from .jobs.snapshot import Snapshot
from .jobs.sweep import Sweep
from .jobs.workflow import ArgoWorkflow

KIND_RE = r"([^/]+)"
"""Any segment: an unknown kind is answered with a JSON 404, not tornado's HTML page."""
NAME_RE = r"([^/]+)"
"""Any path segment: a bad name is answered with a 400 naming it, not an HTML 404."""
VALID_NAME = re.compile(r"^[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?$")
HEARTBEAT_SECONDS = 15
_POOL = ThreadPoolExecutor(max_workers=16, thread_name_prefix="mlops-jobs")


def maps_errors(method):
    """Answer a ``JobsError`` with its status and JSON body, once, for every handler."""

    @functools.wraps(method)
    async def wrapper(self, *args, **kwargs):
        try:
            return await method(self, *args, **kwargs)
        except JobsError as exc:
            if self._headers_written:
                self.log.warning("jupyter_mlops: stream ended: %s", exc.message)
                return
            self.set_status(exc.http_status)
            self.set_header("Content-Type", "application/json")
            self.finish(json.dumps(exc.to_json()))

    return wrapper


class AllowHeaderHandler(APIHandler):
    """jupyter-server's ``APIHandler`` whose 405 answers say which methods the route serves
    (RFC 9110), as clients expect."""

    def write_error(self, status_code: int, **kwargs) -> None:
        if status_code == 405:
            served = [
                m
                for m in ("GET", "POST", "DELETE")
                if getattr(type(self), m.lower()) is not getattr(APIHandler, m.lower())
            ]
            self.set_header("Allow", ", ".join(served))
        super().write_error(status_code, **kwargs)


class JobsHandler(AllowHeaderHandler):
    """Shared plumbing: the user's ``JobsClient`` and running blocking calls off the loop.

    Query parameters a route does not define are ignored, not refused:
    JupyterLab's ServerConnection and browsers add cache-busting ones
    (``?1700000000000``, ``_=...``) to GETs.
    """

    def kind(self, collection: str):
        if collection not in BY_COLLECTION:
            raise NotFound(f"{collection!r} is not a job kind; use one of {', '.join(BY_COLLECTION)}.")
        return BY_COLLECTION[collection]

    def job(self, collection: str, name: str):
        """The handle of ``name``; a name Kubernetes could not hold is a 400, not a 404."""
        kind = self.kind(collection)
        if not VALID_NAME.match(name):
            raise InvalidSpec("name", f"{name!r} is not a valid Kubernetes object name")
        return self.jobs.handle(kind, name)

    @property
    def jobs(self) -> JobsClient:
        settings = self.settings
        if settings.get("mlops_jobs_client") is None:
            with settings["mlops_jobs_lock"]:
                if settings.get("mlops_jobs_client") is None:
                    settings["mlops_jobs_client"] = settings["mlops_jobs_config"].build_client()
        return settings["mlops_jobs_client"]

    async def call(self, fn, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(_POOL, functools.partial(fn, *args, **kwargs))

    def body(self) -> dict:
        try:
            body = json.loads(self.request.body or b"{}")
        except ValueError as exc:
            raise InvalidSpec("body", f"is not JSON: {exc}") from exc
        if not isinstance(body, dict):
            raise InvalidSpec("body", "must be a JSON object")
        try:
            json.dumps(body, ensure_ascii=False).encode()
        except UnicodeEncodeError as exc:  # lone surrogates cannot reach the API server
            raise InvalidSpec("body", "contains text that is not valid Unicode") from exc
        return body

    def send(self, payload, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(payload))

    def send_created(self, handle) -> None:
        """201 with what identifies a job just created (submitted or resubmitted)."""
        self.send(
            {
                "kind": handle.kind.name,
                "name": handle.name,
                "namespace": handle.namespace,
                "warnings": handle.warnings,
            },
            status=201,
        )

    def flag(self, name: str) -> bool:
        value = self.get_query_argument(name, "false").lower()
        if value not in ("true", "false", "1", "0"):
            raise InvalidSpec(name, "must be true or false")
        return value in ("true", "1")

    def number(self, name: str, minimum: int = 0) -> int | None:
        value = self.get_query_argument(name, None)
        if value is None:
            return None
        if not value.isdigit() or int(value) < minimum:
            raise InvalidSpec(name, f"must be an integer >= {minimum}")
        return int(value)

    # ---------------------------------------------------------- streaming
    _client_left: asyncio.Future | None = None

    def on_connection_close(self) -> None:
        """The client went away mid-response: end its stream now, not at the next write."""
        if self._client_left is not None and not self._client_left.done():
            self._client_left.set_result(None)
        super().on_connection_close()

    async def relay(self, items: AsyncIterator, content_type: str, format_item, deadline: float | None = None) -> None:
        """Write what ``items`` yields until it ends, the client leaves or ``deadline`` (loop time).

        Server-sent event streams get a keep-alive comment when quiet. A
        ``JobsError`` before anything was written is raised (its status
        answers); later, it ends the response.
        """
        loop = asyncio.get_running_loop()
        self._client_left = loop.create_future()
        connection = self.request.connection  # tornado serves HTTP/1 only
        if isinstance(connection, HTTP1Connection) and connection.stream.closed():
            return  # gone before we started
        self.set_header("Content-Type", content_type)
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        iterator = aiter(items)
        pending: asyncio.Future | None = None
        written = False
        try:
            while True:
                wait: float = HEARTBEAT_SECONDS
                if deadline is not None:
                    wait = min(wait, deadline - loop.time())
                    if wait <= 0:
                        break
                if pending is None:
                    pending = asyncio.ensure_future(anext(iterator))
                done, _ = await asyncio.wait(
                    {pending, self._client_left}, timeout=wait, return_when=asyncio.FIRST_COMPLETED
                )
                if self._client_left in done:
                    break
                if pending not in done:
                    quiet_stream = content_type == "text/event-stream"
                    if quiet_stream and (deadline is None or loop.time() < deadline):
                        self.write(": keep-alive\n\n")
                        await self.flush()
                    continue
                try:
                    item = pending.result()
                except StopAsyncIteration:
                    break
                except JobsError as exc:
                    if not written:
                        raise
                    self.log.warning("jupyter_mlops: stream ended: %s", exc.message)
                    break
                finally:
                    pending = None
                written = True
                self.write(format_item(item))
                await self.flush()
        except StreamClosedError:
            pass
        finally:
            if pending is not None:
                pending.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await pending  # let the producer finish its cancellation before closing it
            if hasattr(iterator, "aclose"):
                await iterator.aclose()
        if not self._finished and not self._client_left.done():
            self.finish()


def _sse(item: tuple[str, dict]) -> str:
    event, data = item
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


# ------------------------------------------------------------------ specs
_SPEC_CLASSES = {"pytorchjob": PyTorchJob, "sweep": Sweep, "workflow": ArgoWorkflow}


def spec_from_json(kind: str, raw: bytes | str, root_dir: str):
    """The spec object for a REST body (validated by the contract's model of ``kind``).

    ``InvalidSpec`` names the first bad field: the model's for what a body may
    hold, then the spec's own ``validate`` for what only it can judge.
    """
    try:
        body = validate_body(kind, raw)
    except BodyError as exc:
        raise InvalidSpec(exc.field, exc.reason) from None
    values = body.model_dump(exclude_unset=True, exclude={"snapshot", "if_not_fits"})
    if isinstance(body, WorkflowSpec):
        values["manifest"] = body.manifest.model_dump()
    snapshot: dict | None
    if "snapshot" not in body.model_fields_set:  # left out: the root folder, none for a workflow
        snapshot = {} if kind != "workflow" else None
    else:
        snapshot = body.snapshot.model_dump() if body.snapshot is not None else None
    values["snapshot"] = snapshot_from_json(snapshot, root_dir)
    return _SPEC_CLASSES[kind](**values)


def snapshot_from_json(value: dict | None, root_dir: str) -> Snapshot | None:
    """A validated ``Snapshot`` body whose ``path`` must lie inside the server's root."""
    if value is None:
        return None
    root = Path(root_dir).resolve()
    try:
        path = (root / str(value.get("path") or "")).resolve()
    except ValueError:  # a NUL byte, or text no file name can hold (lone surrogates)
        raise InvalidSpec("snapshot.path", "is not a path a file could have") from None
    if path != root and root not in path.parents:
        raise InvalidSpec("snapshot.path", "must be inside the notebook server's root directory")
    return Snapshot(
        path=path,
        include=list(value.get("include") or []),
        exclude=list(value.get("exclude") or []),
        gitignore=value.get("gitignore", True),
    )


# --------------------------------------------------------------- handlers
class GpusHandler(JobsHandler):
    """``GET /gpus``: the hub's GPU availability snapshot, asked with the user's token.

    ``configured`` is false (and nothing else is said) when no availability
    service is configured; 503 when it is configured but does not answer.
    """

    @tornado.web.authenticated
    @maps_errors
    async def get(self) -> None:
        if self.jobs.availability is None:
            # A deployment without the availability service is a valid setup, not an outage.
            self.send(
                {
                    "configured": False,
                    "gpu_types": {},
                    "message": "GPU availability is not configured on this server (MlopsJobs.availability_url).",
                }
            )
            return
        self.send({"configured": True, **await self.call(self.jobs.availability.snapshot)})


class AllJobsHandler(JobsHandler):
    """``GET /jobs``: my jobs of every kind, newest first."""

    @tornado.web.authenticated
    @maps_errors
    async def get(self) -> None:
        kind = self.get_query_argument("kind", None)
        if kind is not None:
            kind = kind_named(kind).name  # 400 for an empty or unknown kind
        self.send({"namespace": self.jobs.namespace, "jobs": await self.call(self.jobs.list, kind)})


class CollectionHandler(JobsHandler):
    """``GET /jobs/{kind}``: list; ``POST /jobs/{kind}``: submit."""

    @tornado.web.authenticated
    @maps_errors
    async def get(self, collection: str) -> None:
        jobs = await self.call(self.jobs.list, self.kind(collection).name)
        self.send({"namespace": self.jobs.namespace, "jobs": jobs})

    @tornado.web.authenticated
    @maps_errors
    async def post(self, collection: str) -> None:
        kind = self.kind(collection)
        body = self.body()
        spec = spec_from_json(kind.name, self.request.body, self.settings["server_root_dir"])
        handle = await self.call(self.jobs.submit, spec, if_not_fits=body.get("if_not_fits", "refuse"))
        self.set_header("Location", self.request.path.rstrip("/") + "/" + handle.name)
        self.send_created(handle)


class JobHandler(JobsHandler):
    """``GET /jobs/{kind}/{name}``: status with parts; ``DELETE``: delete."""

    @tornado.web.authenticated
    @maps_errors
    async def get(self, collection: str, name: str) -> None:
        handle = self.job(collection, name)
        self.send(await self.call(handle.status))

    @tornado.web.authenticated
    @maps_errors
    async def delete(self, collection: str, name: str) -> None:
        await self.call(self.job(collection, name).delete)
        self.set_status(204)
        self.finish()


class CancelHandler(JobsHandler):
    @tornado.web.authenticated
    @maps_errors
    async def post(self, collection: str, name: str) -> None:
        self.send(await self.call(self.job(collection, name).cancel))


class ResubmitHandler(JobsHandler):
    @tornado.web.authenticated
    @maps_errors
    async def post(self, collection: str, name: str) -> None:
        self.send_created(await self.call(self.job(collection, name).resubmit))


class EventsHandler(JobsHandler):
    @tornado.web.authenticated
    @maps_errors
    async def get(self, collection: str, name: str) -> None:
        handle = self.job(collection, name)
        await self.call(handle.get)  # 404 for a job that does not exist
        self.send({"events": await self.call(handle.events)})


class LogsHandler(JobsHandler):
    """``GET /jobs/{kind}/{name}/logs?part=&container=&follow=&tail_lines=``: streamed text."""

    @tornado.web.authenticated
    @maps_errors
    async def get(self, collection: str, name: str) -> None:
        handle = self.job(collection, name)
        follow = self.flag("follow")
        tail = self.number("tail_lines")
        pod, params = await self.call(
            handle.log_request,
            self.get_query_argument("part", None),
            container=self.get_query_argument("container", None),
            follow=follow,
            tail_lines=tail,
        )
        _, async_kube = self.jobs.served()
        async with async_kube.stream_lines(
            "get", PODS, pod, subresource="log", params=params, namespace=handle.namespace
        ) as lines:
            await self.relay(lines, "text/plain; charset=utf-8", lambda line: line + "\n")


class WatchHandler(JobsHandler):
    """Server-sent ``job`` events carrying ``{"type", "job"}``; end after ``timeout`` seconds.

    ``GET /jobs/watch`` watches every kind, ``GET /jobs/{kind}/{name}/watch`` one job.
    The stream starts with the current state (type ``ADDED``). Streams share
    the informers: opening one asks the API server nothing for a kind in
    sync, except the named job's current state. A Queued job is sent again when
    its place in line moves (``jobs/job_events.py``).
    """

    @tornado.web.authenticated
    @maps_errors
    async def get(self, collection: str | None = None, name: str | None = None) -> None:
        timeout = self.number("timeout", 1)
        if collection is not None and name is not None:
            self.job(collection, name)  # a 400 for a name Kubernetes could not hold
        kinds = [self.kind(collection)] if collection else list(KINDS.values())
        client = self.jobs
        cache, async_kube = client.served()
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        # Subscribed before the named job is read, so no change falls between the two;
        # a missing job, a denied list or a missing CRD answers with its status.
        with await cache.subscribe(
            kinds, name=name, timeout=client.kube.timeout, skip_missing=name is None
        ) as subscription:
            if name is None:
                initial = subscription.initial
            else:
                initial = [(kinds[0], await async_kube.get(kinds[0].resource, name))]
            events = job_events(initial, subscription, self.placed)
            await self.relay(events, "text/event-stream", _sse, deadline)
        if subscription.overflowed:
            self.log.warning("jupyter_mlops: a watch stream fell behind and was ended")

    async def placed(self, summaries: list[dict]) -> list[dict]:
        """``summaries`` with each Queued job's place in line, as ``GET /jobs`` gives them: a
        client that applies the events over the list must not lose the place. Kueue is asked
        (off the loop) only when some job is Queued."""
        if not any_queued(summaries):
            return summaries
        return await self.call(with_places, summaries, self.jobs.kube, self.jobs.namespace)


ROUTES = [
    (r"/gpus", GpusHandler),
    (r"/jobs", AllJobsHandler),
    (r"/jobs/watch", WatchHandler),
    (rf"/jobs/{KIND_RE}", CollectionHandler),
    (rf"/jobs/{KIND_RE}/{NAME_RE}", JobHandler),
    (rf"/jobs/{KIND_RE}/{NAME_RE}/cancel", CancelHandler),
    (rf"/jobs/{KIND_RE}/{NAME_RE}/resubmit", ResubmitHandler),
    (rf"/jobs/{KIND_RE}/{NAME_RE}/events", EventsHandler),
    (rf"/jobs/{KIND_RE}/{NAME_RE}/logs", LogsHandler),
    (rf"/jobs/{KIND_RE}/{NAME_RE}/watch", WatchHandler),
]
