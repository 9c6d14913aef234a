"""``Informer``: one resource's objects in the namespace, kept current by one list/watch;
``KindInformer``: one kind's jobs, fanned out to subscribers as well.

Invariants a reader may rely on:

- One coroutine per resource owns the watch: it lists once, watches from the
  listing's resourceVersion (bookmarks keep it fresh), and resumes from the
  last version it saw whenever a watch ends -- the server closing it, or the
  server away or refusing (then with backoff). It lists again only on 410
  Gone (that version is too old) or an answer it could not understand. A
  relist is compared with what was known, and the differences go out as
  ADDED/MODIFIED/DELETED, so a subscriber never misses a change.
- While a watch is down the kind is not ``synced``: lists then ask the API
  server, whose answer (503, 403, 501) is the truthful one.
- Fan-out happens only on the event loop. ``subscribe`` takes the snapshot
  and registers the subscriber with no ``await`` between, so the snapshot
  plus the events that follow are exactly the kind's history from then on.
- ``objects`` may also be read and written (write-through) from worker
  threads, hence the lock; an event older than what a write-through
  stored is dropped.
- A subscriber that stops reading is cut off once its queue is full, not
  buffered without bound; one that closes is gone at once.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable

from .aiokube import AsyncKubeClient
from .errors import ClusterUnreachable, JobsError, UpstreamError
from .kind import JobKind
from .kube import watch_event, watch_params
from .resources import Resource

log = logging.getLogger(__name__)
WATCH_SECONDS = 300
RETRY_SECONDS = (0.5, 30.0)
"""Backoff between failed attempts: first and longest wait."""
SUBSCRIBER_QUEUE = 10_000
"""Events buffered for a subscriber that has not read them yet; more and it is cut off."""


def resource_version(obj: dict) -> int:
    try:
        return int(obj["metadata"]["resourceVersion"])
    except (KeyError, ValueError):
        return 0


class Subscription:
    """(kind, event type, object) of the subscribed kinds from the moment of subscribing.

    ``initial`` holds (kind, object) of what existed then. Iterate it with
    ``async for``; ``close()`` unsubscribes (idempotent). ``name`` keeps only
    that job's events.
    """

    def __init__(self, informers: list[KindInformer], name: str | None = None):
        self.name = name
        self.queue: asyncio.Queue = asyncio.Queue(SUBSCRIBER_QUEUE)
        self.initial: list[tuple[JobKind, dict]] = []
        self.overflowed = False
        self._informers = informers
        for informer in informers:
            self.initial.extend((informer.kind, obj) for obj in informer.attach(self))

    def offer(self, kind: JobKind, event_type: str, obj: dict) -> None:
        if self.name is not None and obj["metadata"]["name"] != self.name:
            return
        try:
            self.queue.put_nowait((kind, event_type, obj))
        except asyncio.QueueFull:
            self.overflowed = True
            self.close()

    def close(self) -> None:
        for informer in self._informers:
            informer.detach(self)
        self._informers = []

    def __aiter__(self) -> Subscription:
        return self

    async def __anext__(self) -> tuple[JobKind, str, dict]:
        # Cut off: its client must subscribe again for a fresh snapshot, not a gap.
        if self.overflowed:
            raise StopAsyncIteration
        return await self.queue.get()

    def __enter__(self) -> Subscription:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Informer:
    """The objects of one resource in the client's namespace; ``objects`` while ``synced``.

    ``keep`` trims each object before it is stored (None: kept whole): what a
    reader needs of 1,000 Katib Trials is a fraction of each, and the server
    holds them for as long as it runs. It must keep ``metadata.name`` and
    ``metadata.resourceVersion``, which the store orders changes by.
    """

    def __init__(
        self,
        resource: Resource,
        label: str,
        watch_seconds: int = WATCH_SECONDS,
        keep: Callable[[dict], dict] | None = None,
    ):
        self.resource = resource
        self.label = label
        """What the log calls it: ``pytorchjob``, ``trial``."""
        self.watch_seconds = watch_seconds
        """How long the API server keeps one watch open before the informer resumes anew."""
        self.keep = keep
        self.objects: dict[str, dict] = {}
        self.synced = False
        self.error: JobsError | None = None
        """Why the last list or watch failed, while not synced."""
        self.lock = threading.Lock()
        self.lists = 0
        """Lists made (the first one and every relist)."""
        self.expired = 0
        """Watches answered 410 Gone (the version to resume from was too old)."""
        self.watches_opened = 0
        self.watches_open = 0
        """API-server watches this informer holds now: 0 or 1."""
        self._wake = asyncio.Event()
        """Set to cut a backoff short."""
        self._attempted = asyncio.Event()
        """Set when the current attempt (list or resume) has ended; replaced for the next."""
        self._backoff = RETRY_SECONDS[0]

    def _changed(self, event_type: str, obj: dict) -> None:
        """Called on the loop for every change stored (a subclass fans it out)."""

    # ------------------------------------------------------------ the store
    def apply(self, event_type: str, obj: dict) -> bool:
        """Store one change; False when it is older than what is known (then it is dropped)."""
        if self.keep is not None:
            obj = self.keep(obj)
        name = obj["metadata"]["name"]
        with self.lock:
            known = self.objects.get(name)
            if known is not None and resource_version(known) > resource_version(obj):
                return False
            if event_type == "DELETED":
                self.objects.pop(name, None)
            else:
                self.objects[name] = obj
            return True

    def forget(self, name: str, uid: str | None) -> None:
        with self.lock:
            known = self.objects.get(name)
            if known is not None and known["metadata"].get("uid") == uid:
                del self.objects[name]

    def snapshot(self) -> list[dict] | None:
        with self.lock:
            return list(self.objects.values()) if self.synced else None

    def _replace(self, items: list[dict], version: str) -> list[tuple[str, dict]]:
        """Take a fresh listing made at ``version``; the changes against what was known, as watch events.

        A write-through newer than the listing stays: the list may have been
        answered just before a submit made through this API, whose watch
        event is still on its way, and a list right after that submit must
        show the job.
        """
        listed_at = resource_version({"metadata": {"resourceVersion": version}})
        if self.keep is not None:
            items = [self.keep(o) for o in items]
        fresh = {o["metadata"]["name"]: o for o in items}
        with self.lock:
            for name, known_obj in self.objects.items():
                newest_listed = max(listed_at, resource_version(fresh.get(name, {})))
                if resource_version(known_obj) > newest_listed:
                    fresh[name] = known_obj
            known, self.objects = self.objects, fresh
            self.synced = True
        changes = [("DELETED", obj) for name, obj in known.items() if name not in fresh]
        for name, obj in fresh.items():
            before = known.get(name)
            if before is None:
                changes.append(("ADDED", obj))
            elif before["metadata"].get("resourceVersion") != obj["metadata"].get("resourceVersion"):
                changes.append(("MODIFIED", obj))
        return changes

    async def ready(self, timeout: float) -> None:
        """Return once in sync; else raise why not, after one fresh attempt (not a stale error).

        A ``ComponentMissing`` (no CRD) or ``PermissionDenied`` is raised as the
        API server answered it, so callers can answer with its status.
        """
        if self.synced:
            return
        attempted = self._attempted
        self._wake.set()  # skip the backoff: a caller is waiting for the answer
        try:
            await asyncio.wait_for(attempted.wait(), timeout)
        except asyncio.TimeoutError:
            pass
        if self.synced:
            return
        raise self.error or ClusterUnreachable(
            f"The list of {self.resource.qualified} is not available yet; try again in a moment."
        )

    # ------------------------------------------------------------ the loop
    async def run(self, kube: AsyncKubeClient) -> None:
        """List, watch, resume, relist: until cancelled."""
        version: str | None = None
        while True:
            try:
                if version is None:
                    self.lists += 1
                    listing = await kube.list(self.resource)
                    version = listing["metadata"]["resourceVersion"]
                    changes = self._replace(listing["items"], version)
                    self._now_synced()
                    for event_type, obj in changes:
                        self._changed(event_type, obj)
                version = await self._watch(kube, version)
            except (JobsError, ValueError, KeyError) as exc:
                if not isinstance(exc, JobsError):
                    exc = UpstreamError(f"The API server's answer could not be read: {exc!r}")
                if isinstance(exc, UpstreamError):
                    version = None  # not understood: start again from a list
                await self._back_off(exc)

    def _now_synced(self) -> None:
        with self.lock:
            self.synced = True
        self.error = None
        self._backoff = RETRY_SECONDS[0]
        self._settle()

    async def _back_off(self, exc: JobsError) -> None:
        with self.lock:
            self.synced = False
        self.error = exc
        self._settle()
        log.info(
            "jupyter_mlops: %s informer out of sync (%s); retrying in %.1fs",
            self.label,
            exc.message,
            self._backoff,
        )
        self._wake.clear()
        try:
            await asyncio.wait_for(self._wake.wait(), self._backoff)
        except asyncio.TimeoutError:
            pass
        self._backoff = min(self._backoff * 2, RETRY_SECONDS[1])

    def _settle(self) -> None:
        """Tell callers of ``ready`` that an attempt has ended, one way or the other."""
        attempted, self._attempted = self._attempted, asyncio.Event()
        attempted.set()

    async def _watch(self, kube: AsyncKubeClient, version: str) -> str | None:
        """One watch from ``version``; the version to resume from, None to relist (410)."""
        params = {
            **watch_params(version, self.watch_seconds),
            "allowWatchBookmarks": "true",
        }
        async with kube.stream_lines(
            "watch", self.resource, None, params=params, read_timeout=self.watch_seconds + 30
        ) as lines:
            self.watches_opened += 1
            self.watches_open += 1
            if not self.synced:  # resumed after an outage: the events since `version` follow
                self._now_synced()
            try:
                async for line in lines:
                    event = watch_event(line)
                    if event is None:
                        continue
                    event_type, obj = event
                    if event_type == "RESYNC":
                        self.expired += 1
                        return None
                    if event_type not in ("ADDED", "MODIFIED", "DELETED", "BOOKMARK"):
                        raise UpstreamError(f"Unexpected watch event {event_type!r}.")
                    version = obj["metadata"]["resourceVersion"]
                    if event_type != "BOOKMARK" and self.apply(event_type, obj):
                        self._changed(event_type, obj)
            finally:
                self.watches_open -= 1
        return version


class KindInformer(Informer):
    """The jobs of one kind, whole, and their changes fanned out to subscriptions."""

    def __init__(self, kind: JobKind, watch_seconds: int = WATCH_SECONDS):
        super().__init__(kind.resource, kind.name, watch_seconds)
        self.kind = kind
        self._subscribers: set[Subscription] = set()

    @property
    def subscribers(self) -> int:
        return len(self._subscribers)

    # ------------------------------------------------------------ subscribers
    def attach(self, subscription: Subscription) -> list[dict]:
        """Register ``subscription``; what exists now (synchronous: nothing happens between)."""
        self._subscribers.add(subscription)
        with self.lock:
            return list(self.objects.values())

    def detach(self, subscription: Subscription) -> None:
        self._subscribers.discard(subscription)

    def _changed(self, event_type: str, obj: dict) -> None:
        for subscription in list(self._subscribers):
            subscription.offer(self.kind, event_type, obj)
