"""REST handlers of the jobs API under ``{base_url}/mlops/api/v1/`` (see openapi.yaml).

Every verb is ``@tornado.web.authenticated`` and XSRF-checked by
jupyter-server's ``APIHandler``. Kubernetes calls are blocking (httpx), so
they run on a thread pool; streams (logs, watches) get a thread each and
are closed when the client goes away. Every ``JobsError`` becomes its HTTP
status with ``{"error", "message", ...}``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import re
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import tornado.web
from jupyter_server.base.handlers import APIHandler
from tornado.iostream import StreamClosedError

from .jobs.client import IF_NOT_FITS, JobsClient
from .jobs.errors import ClusterUnreachable, InvalidSpec, JobsError, NotFound
from .jobs.kinds import BY_COLLECTION, KINDS, kind_named
from .jobs.pytorchjob import PyTorchJob
from .jobs.snapshot import Snapshot
from .jobs.sweep import Sweep
from .jobs.workflow import ArgoWorkflow
from .jobs.workload import WORKLOAD_FIELD_TYPES

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


class AllowHeaderMixin:
    """405 answers say which methods the route serves (RFC 9110), as clients expect."""

    def write_error(self, status_code: int, **kwargs) -> None:
        if status_code == 405:
            served = [
                m
                for m in ("GET", "POST", "DELETE")
                if getattr(type(self), m.lower()) is not getattr(APIHandler, m.lower())
            ]
            self.set_header("Allow", ", ".join(served))
        super().write_error(status_code, **kwargs)


class JobsHandler(AllowHeaderMixin, APIHandler):
    """Shared plumbing: the user's ``JobsClient`` and running blocking calls off the loop.

    Query parameters a route does not define are ignored, not refused:
    JupyterLab's ServerConnection and browsers add cache-busting ones
    (``?1700000000000``, ``_=...``) to GETs.
    """

    def kind(self, collection: str):
        if collection not in BY_COLLECTION:
            raise NotFound(
                f"{collection!r} is not a job kind; use one of {', '.join(BY_COLLECTION)}."
            )
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
        return await asyncio.get_running_loop().run_in_executor(
            _POOL, functools.partial(fn, *args, **kwargs)
        )

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
    async def pump(self, produce, content_type: str, format_item) -> None:
        """Run ``produce(emit, register)`` on its own thread and write what it emits.

        ``register(stream)`` hands over a ``Stream`` to close when the client
        leaves. An exception in the producer ends the response.
        """
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        streams: list = []
        stopped = threading.Event()
        done = object()

        def emit(item) -> None:
            loop.call_soon_threadsafe(queue.put_nowait, item)

        def register(stream) -> None:
            streams.append(stream)
            if stopped.is_set():
                stream.close()

        def run() -> None:
            try:
                produce(emit, register, stopped)
            except BaseException as exc:  # noqa: BLE001 - handed to the loop, raised there
                emit(exc)
            finally:
                emit(done)

        threading.Thread(target=run, name="mlops-stream", daemon=True).start()
        self.set_header("Content-Type", content_type)
        self.set_header("Cache-Control", "no-cache")
        self.set_header("X-Accel-Buffering", "no")
        first = True
        try:
            while True:
                try:
                    item = await asyncio.wait_for(queue.get(), HEARTBEAT_SECONDS)
                except asyncio.TimeoutError:
                    if content_type == "text/event-stream":
                        self.write(": keep-alive\n\n")
                        await self.flush()
                    continue
                if item is done:
                    break
                if isinstance(item, BaseException):
                    if first:
                        raise item  # nothing sent yet: answer with the mapped error status
                    self.log.warning("jupyter_mlops: stream ended: %s", item)
                    break
                first = False
                self.write(format_item(item))
                await self.flush()
        except StreamClosedError:
            pass
        finally:
            stopped.set()
            for stream in streams:
                stream.close()
        if not self._finished:
            self.finish()


def _sse(item: tuple[str, dict]) -> str:
    event, data = item
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


# ------------------------------------------------------------------ specs
_FIELDS = {
    "pytorchjob": {
        "name": str,
        "command": (list, str),
        "replicas": int,
        "nproc_per_node": int,
        "backoff_limit": int,
        **WORKLOAD_FIELD_TYPES,
    },
    "sweep": {
        "name": str,
        "command": (list, str),
        "parameters": list,
        "objective_metric": str,
        "objective": str,
        "goal": (int, float),
        "additional_metrics": list,
        "algorithm": str,
        "parallel_trials": int,
        "max_trials": int,
        "max_failed_trials": int,
        "trial_kind": str,
        "replicas": int,
        **WORKLOAD_FIELD_TYPES,
    },
    "workflow": {"manifest": dict},
}
_REQUIRED = {
    "pytorchjob": ("command",),
    "sweep": ("command", "parameters", "objective_metric"),
    "workflow": ("manifest",),
}
_SPEC_CLASSES = {"pytorchjob": PyTorchJob, "sweep": Sweep, "workflow": ArgoWorkflow}


def spec_from_json(kind: str, body: dict, root_dir: str):
    """The spec object for a REST body; ``InvalidSpec`` names the first bad field."""
    fields = _FIELDS[kind]
    values = {}
    for key, value in body.items():
        if key in ("snapshot", "if_not_fits"):
            continue
        if key not in fields:
            raise InvalidSpec(key, "unknown field")
        if value is None:
            raise InvalidSpec(key, "must not be null (leave it out for the default)")
        expected = fields[key]
        if not isinstance(value, expected) or isinstance(value, bool) and expected is int:
            raise InvalidSpec(key, f"has the wrong type ({type(value).__name__})")
        values[key] = value
    for key in _REQUIRED[kind]:
        if key not in values:
            raise InvalidSpec(key, "is required")
    default = {} if kind != "workflow" else None
    values["snapshot"] = snapshot_from_json(body.get("snapshot", default), root_dir)
    return _SPEC_CLASSES[kind](**values)


def snapshot_from_json(value, root_dir: str) -> Snapshot | None:
    """``{"path", "include", "exclude", "gitignore"}`` with ``path`` inside the server's root."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise InvalidSpec("snapshot", "must be an object or null")
    allowed = {f.name for f in dataclasses.fields(Snapshot)}
    for key in value:
        if key not in allowed:
            raise InvalidSpec(f"snapshot.{key}", "unknown field")
    root = Path(root_dir).resolve()
    path = (root / str(value.get("path") or "")).resolve()
    if path != root and root not in path.parents:
        raise InvalidSpec("snapshot.path", "must be inside the notebook server's root directory")
    for key in ("include", "exclude"):
        patterns = value.get(key) or []
        if not isinstance(patterns, list) or not all(isinstance(p, str) for p in patterns):
            raise InvalidSpec(f"snapshot.{key}", "must be a list of gitignore-style patterns")
    if not isinstance(value.get("gitignore", True), bool):
        raise InvalidSpec("snapshot.gitignore", "must be true or false")
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
                    "message": "GPU availability is not configured on this server "
                    "(MlopsJobs.availability_url).",
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
        if_not_fits = body.get("if_not_fits", "refuse")
        if if_not_fits not in IF_NOT_FITS:
            raise InvalidSpec("if_not_fits", f"must be one of {', '.join(IF_NOT_FITS)}")
        spec = spec_from_json(kind.name, body, self.settings["server_root_dir"])
        handle = await self.call(self.jobs.submit, spec, if_not_fits=if_not_fits)
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
        part = self.get_query_argument("part", None)
        container = self.get_query_argument("container", None)
        follow = self.flag("follow")
        tail = self.number("tail_lines")
        stream = await self.call(
            handle.open_logs, part, container=container, follow=follow, tail_lines=tail
        )

        def produce(emit, register, stopped) -> None:
            register(stream)
            for line in stream:
                emit(line)

        await self.pump(produce, "text/plain; charset=utf-8", lambda line: line + "\n")


class WatchHandler(JobsHandler):
    """Server-sent ``job`` events carrying ``{"type", "job"}``; end after ``timeout`` seconds.

    ``GET /jobs/watch`` watches every kind, ``GET /jobs/{kind}/{name}/watch`` one job.
    The stream starts with the current state (type ``ADDED``).
    """

    @tornado.web.authenticated
    @maps_errors
    async def get(self, collection: str | None = None, name: str | None = None) -> None:
        timeout = self.number("timeout", 1)
        if name is not None:
            self.job(collection, name)  # a 400 for a name Kubernetes could not hold
        kinds = [self.kind(collection)] if collection else list(KINDS.values())
        client = self.jobs
        # Read first, so that a missing job or a denied list answers with its status.
        if name:
            initial = {kinds[0].name: await self.call(self._read_one, client, kinds[0], name)}
        else:
            initial = {k.name: await self.call(self._read_all, client, k) for k in kinds}
        deadline = None if timeout is None else asyncio.get_running_loop().time() + timeout
        loop = asyncio.get_running_loop()

        def produce(emit, register, stopped) -> None:
            threads = []
            for kind in kinds:
                items, version = initial[kind.name]
                if version is None:
                    continue  # component not installed
                for obj in items:
                    emit(("job", {"type": "ADDED", "job": kind.summary(obj)}))
                threads.append(
                    threading.Thread(
                        target=self._follow,
                        daemon=True,
                        args=(client, kind, name, version, emit, register, stopped, deadline, loop),
                    )
                )
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()

        await self.pump(produce, "text/event-stream", _sse)

    @staticmethod
    def _read_one(client, kind, name):
        obj = client.handle(kind, name).get()
        return [obj], obj["metadata"]["resourceVersion"]

    @staticmethod
    def _read_all(client, kind):
        from .jobs.errors import ComponentMissing

        try:
            listing = client.kube.list(kind.resource)
        except ComponentMissing:
            return [], None
        return listing["items"], listing["metadata"]["resourceVersion"]

    @staticmethod
    def _follow(client, kind, name, version, emit, register, stopped, deadline, loop) -> None:
        while not stopped.is_set():
            remaining = 60 if deadline is None else int(deadline - loop.time())
            if remaining < 1:
                return
            try:
                for event_type, obj in client.watch_events(
                    kind,
                    name=name,
                    resource_version=version,
                    timeout_seconds=min(60, remaining),
                    on_open=register,
                ):
                    if event_type == "RESYNC":
                        _, version = (
                            WatchHandler._read_all(client, kind)
                            if not name
                            else WatchHandler._read_one(client, kind, name)
                        )
                        break
                    version = obj["metadata"]["resourceVersion"]
                    emit(("job", {"type": event_type, "job": kind.summary(obj)}))
                    if name and event_type == "DELETED":
                        return
            except (NotFound, ClusterUnreachable):
                if stopped.is_set():
                    return
                raise


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
