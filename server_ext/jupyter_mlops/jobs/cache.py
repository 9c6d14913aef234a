"""``JobCache``: the user's jobs of each kind, kept current by one shared watch per kind.

Listing 1,000 custom objects from the API server costs it half a second or
more; the sidebar lists often. So the REST API keeps one watch per kind
(list once, then resume from the last resourceVersion, relist only on 410
Gone) and answers lists from memory. Until a kind's watch is in sync --
and whenever it is not (a denied list, a missing CRD, the API server away) --
lists go to the API server, so its answer (403, 501, 503) is what the caller
sees. Writes made through the API are applied at once, so a list right after
a submit already shows the job.
"""

from __future__ import annotations

import logging
import threading

from .errors import JobsError
from .kind import JobKind

log = logging.getLogger(__name__)
WATCH_SECONDS = 300
RETRY_SECONDS = 5.0


def _version(obj: dict) -> int:
    try:
        return int(obj["metadata"]["resourceVersion"])
    except (KeyError, ValueError):
        return 0


class _KindCache:
    def __init__(self) -> None:
        self.objects: dict[str, dict] = {}
        self.synced = False
        self.lock = threading.Lock()

    def apply(self, event_type: str, obj: dict) -> None:
        name = obj["metadata"]["name"]
        with self.lock:
            known = self.objects.get(name)
            if known is not None and _version(known) > _version(obj):
                return  # an older event than what a write-through already stored
            if event_type == "DELETED":
                self.objects.pop(name, None)
            else:
                self.objects[name] = obj


class JobCache:
    """Start with ``start()``; ``objects(kind)`` is None while that kind is not in sync."""

    def __init__(self, client, kinds: list[JobKind]):
        self.client = client
        self.kinds = kinds
        self._caches = {k.name: _KindCache() for k in kinds}
        self._stop = threading.Event()
        self._streams: list = []
        self._threads: list[threading.Thread] = []

    def start(self) -> JobCache:
        for kind in self.kinds:
            thread = threading.Thread(
                target=self._run, args=(kind,), daemon=True, name=f"mlops-cache-{kind.name}"
            )
            thread.start()
            self._threads.append(thread)
        return self

    def close(self) -> None:
        self._stop.set()
        for stream in list(self._streams):
            stream.close()

    def objects(self, kind: JobKind) -> list[dict] | None:
        cache = self._caches[kind.name]
        with cache.lock:
            return list(cache.objects.values()) if cache.synced else None

    def observe(self, kind: JobKind, obj: dict, deleted: bool = False) -> None:
        """Apply a write made through this API (write-through), before its watch event."""
        self._caches[kind.name].apply("DELETED" if deleted else "MODIFIED", obj)

    def forget(self, kind: JobKind, name: str, uid: str | None) -> None:
        """Drop the job ``name`` whose delete through this API answered a Status (not the object).

        Only the object with that ``uid`` goes: a job created again under the
        same name in the meantime stays.
        """
        cache = self._caches[kind.name]
        with cache.lock:
            known = cache.objects.get(name)
            if known is not None and known["metadata"].get("uid") == uid:
                del cache.objects[name]

    # ---------------------------------------------------------------- watch loop
    def _run(self, kind: JobKind) -> None:
        cache = self._caches[kind.name]
        version = None
        while not self._stop.is_set():
            try:
                if version is None:
                    listing = self.client.kube.list(kind.resource)
                    with cache.lock:
                        cache.objects = {o["metadata"]["name"]: o for o in listing["items"]}
                        cache.synced = True
                    version = listing["metadata"]["resourceVersion"]
                for event_type, obj in self.client.watch_events(
                    kind,
                    resource_version=version,
                    timeout_seconds=WATCH_SECONDS,
                    on_open=self._streams.append,
                ):
                    if event_type == "RESYNC":
                        version = None  # 410 Gone: relist
                        break
                    version = obj["metadata"]["resourceVersion"]
                    cache.apply(event_type, obj)
            except JobsError as exc:
                with cache.lock:
                    cache.synced = False
                version = None
                log.info(
                    "jupyter_mlops: %s cache out of sync (%s); retrying", kind.name, exc.message
                )
                self._stop.wait(RETRY_SECONDS)
            finally:
                self._streams[:] = [s for s in self._streams if not s.closed]
