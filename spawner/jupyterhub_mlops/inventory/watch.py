"""Keep a ``GpuInventory`` in step with the cluster: one watch on Nodes, one on Pods.

Each kind is listed once (paginated), then watched from the list's
resourceVersion. Events are applied one by one as raw JSON dicts (no client
model objects: deserialising 150,000 pods into ``V1Pod`` would cost more than
the accounting itself). A stream that ends or breaks is resumed from the last
resourceVersion seen; only ``410 Gone`` (the version has left the API
server's window) forces a relist. While a stream is down the inventory is
marked out of sync, so readers answer "unknown" instead of a stale number.

Finished pods are filtered out on the server (``status.phase`` field
selector): they hold nothing, and the API server sends a DELETED event when a
pod leaves the selection, so the inventory never keeps them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

import aiohttp
import orjson
from kubernetes_asyncio import client

from .state import GpuInventory

log = logging.getLogger(__name__)

UNFINISHED_PODS = "status.phase!=Succeeded,status.phase!=Failed"


class WatchGone(Exception):
    """The API server no longer has the resourceVersion we asked to resume from."""


class ApiServerError(Exception):
    """The API server answered a list or watch with an error status."""

    def __init__(self, status: int, body: str):
        super().__init__(f"HTTP {status}: {body[:300]}")
        self.status = status


class InventoryWatcher:
    """Runs the two watches for ``inventory`` until ``stop()``.

    ``api_client`` is a ``kubernetes_asyncio`` ApiClient allowed to list and
    watch nodes and pods cluster-wide. ``on_change`` callbacks run after each
    batch of events that changed the inventory's version.
    """

    def __init__(
        self,
        inventory: GpuInventory,
        api_client: client.ApiClient,
        *,
        request_timeout: float = 30,
        watch_timeout: int = 300,
        page_size: int = 500,
        max_backoff: float = 5.0,
    ):
        self.inventory = inventory
        self.core = client.CoreV1Api(api_client)
        self.request_timeout = request_timeout
        self.watch_timeout = watch_timeout
        self.page_size = page_size
        self.max_backoff = max_backoff
        self.on_change: list[Callable[[], None]] = []
        self.relists = {"nodes": 0, "pods": 0}
        """Full lists done, per kind: one at start, then one per ``410 Gone``."""
        self.gone = {"nodes": 0, "pods": 0}
        """``410 Gone`` answers seen, per kind (the resume version had expired)."""
        self.watches = {"nodes": 0, "pods": 0}
        """Watch streams opened, per kind (the first and every resumption)."""
        self._tasks: list[asyncio.Task] = []

    # ------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._tasks = [asyncio.ensure_future(self._keep(kind)) for kind in ("nodes", "pods")]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []

    async def wait_in_sync(self, timeout: float = 60) -> None:
        deadline = asyncio.get_running_loop().time() + timeout
        while not self.inventory.in_sync:
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError(f"the GPU inventory did not sync within {timeout:.0f}s")
            await asyncio.sleep(0.05)

    # ---------------------------------------------------------------- loop
    async def _keep(self, kind: str) -> None:
        version: str | None = None
        backoff = 0.1
        while True:
            try:
                if version is None:
                    self.inventory.set_in_sync(kind, False)
                    version = await self._list(kind)
                    self.inventory.set_in_sync(kind, True)
                    self._changed()
                version = await self._watch(kind, version)
                backoff = 0.1
            except WatchGone:
                self.gone[kind] += 1
                log.info("%s watch: resourceVersion %s expired, relisting", kind, version)
                version = None
            except asyncio.CancelledError:
                raise
            except (
                aiohttp.ClientError,
                asyncio.TimeoutError,
                OSError,
                ApiServerError,
                ValueError,
            ) as exc:  # ValueError: a line that is not JSON
                # Out of sync until a watch is re-established: say "unknown".
                self.inventory.set_in_sync(kind, False)
                self._changed()
                log.warning("%s watch lost (%s); retrying in %.1fs", kind, exc, backoff)
                await asyncio.sleep(backoff)
                backoff = min(self.max_backoff, backoff * 2)

    def _call(self, kind: str):
        return self.core.list_node if kind == "nodes" else self.core.list_pod_for_all_namespaces

    def _selector(self, kind: str) -> dict:
        return {} if kind == "nodes" else {"field_selector": UNFINISHED_PODS}

    async def _list(self, kind: str) -> str:
        items: list[dict] = []
        token = None
        while True:
            kwargs = dict(
                self._selector(kind),
                limit=self.page_size,
                _preload_content=False,
                _request_timeout=self.request_timeout,
            )
            if token:
                kwargs["_continue"] = token
            resp = await self._call(kind)(**kwargs)
            async with resp:
                if resp.status == 410:
                    raise WatchGone()  # the continue token expired: start over
                if resp.status != 200:
                    raise ApiServerError(resp.status, await resp.text())
                page = orjson.loads(await resp.read())
            items.extend(page.get("items") or ())
            meta = page.get("metadata") or {}
            token = meta.get("continue")
            if not token:
                break
        self.relists[kind] += 1
        if kind == "nodes":
            self.inventory.replace_nodes(items)
        else:
            self.inventory.replace_pods(items)
        return meta.get("resourceVersion", "")

    async def _watch(self, kind: str, version: str) -> str:
        """Apply events until the stream ends; return the last resourceVersion."""
        apply = self.inventory.apply_node if kind == "nodes" else self.inventory.apply_pod
        resp = await self._call(kind)(
            **self._selector(kind),
            watch=True,
            resource_version=version,
            allow_watch_bookmarks=True,
            timeout_seconds=self.watch_timeout,
            _preload_content=False,
            _request_timeout=aiohttp.ClientTimeout(
                sock_connect=self.request_timeout, sock_read=self.watch_timeout + 30
            ),
        )
        async with resp:
            if resp.status == 410:
                raise WatchGone()
            if resp.status != 200:
                raise ApiServerError(resp.status, await resp.text())
            self.watches[kind] += 1
            buffer = b""
            chunks = resp.content.iter_any()
            # Events missed while the stream was down arrive first, at once:
            # stay "unknown" until they are in (or the stream is quiet).
            first = True
            while True:
                try:
                    if first:
                        chunk = await asyncio.wait_for(chunks.__anext__(), 0.25)
                    else:
                        chunk = await chunks.__anext__()
                except StopAsyncIteration:
                    break
                except asyncio.TimeoutError:
                    chunk = b""
                buffer += chunk
                *lines, buffer = buffer.split(b"\n")
                before = self.inventory.version
                for line in lines:
                    if line.strip():
                        version = self._apply_line(kind, apply, line, version)
                if first:
                    first = False
                    self.inventory.set_in_sync(kind, True)
                if self.inventory.version != before:
                    self._changed()
        return version

    def _apply_line(self, kind: str, apply, line: bytes, version: str) -> str:
        event = orjson.loads(line)
        event_type = event.get("type")
        obj = event.get("object") or {}
        if event_type == "ERROR":
            if obj.get("code") == 410:
                raise WatchGone()
            raise ApiServerError(obj.get("code") or 500, obj.get("message", ""))
        new_version = (obj.get("metadata") or {}).get("resourceVersion") or version
        if event_type != "BOOKMARK":
            apply(event_type, obj)
        return new_version

    def _changed(self) -> None:
        for callback in self.on_change:
            callback()
