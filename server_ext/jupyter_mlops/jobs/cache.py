"""``JobCache``: the user's jobs of each kind, one informer per kind, on the server's event loop.

Listing 1,000 custom objects from the API server costs it half a second or
more; the sidebar lists often and every open browser tab streams. So the
REST API keeps one list/watch per kind (see ``informer``) and answers lists
and streams from memory: N streams cost N queues, not N watches or threads.
Until a kind's informer is in sync -- and whenever it is not (a denied list,
a missing CRD, the API server away) -- lists go to the API server, so its
answer (403, 501, 503) is what the caller sees. Writes made through the API
are applied at once, so a list right after a submit already shows the job.

Katib's Trials are watched the same way (``trials``): a sweep's detail reads
its trials from memory, not 1,000 objects from the API server per call.
The watches use the user's own credentials in the user's namespace, so
what the API server's RBAC lets them list is all they hold.
"""

from __future__ import annotations

import asyncio

from .aiokube import AsyncKubeClient
from .errors import ComponentMissing, JobsError
from .informer import Informer, KindInformer, Subscription
from .kind import JobKind
from .resources import TRIALS
from .trials import kept_of_trial, of_experiment


class JobCache:
    """Start with ``start()`` on the event loop; ``objects(kind)`` is None while that kind is not in sync."""

    def __init__(self, kube: AsyncKubeClient | None, kinds: list[JobKind]):
        self.kube = kube
        self.kinds = kinds
        self.informers = {k.name: KindInformer(k) for k in kinds}
        self.trials = Informer(TRIALS, "trial", keep=kept_of_trial)
        """The namespace's Katib Trials, trimmed to what a sweep's detail reads."""
        self._tasks: list[asyncio.Task] = []
        self._loop: asyncio.AbstractEventLoop | None = None

    def start(self) -> JobCache:
        """Run the informers on the running loop (call it from there)."""
        kube = self.kube
        if kube is None:
            raise ValueError("a JobCache made without a client (a store only) cannot start")
        self._loop = asyncio.get_running_loop()
        self._tasks = [
            self._loop.create_task(informer.run(kube), name=f"mlops-informer-{name}")
            for name, informer in [*self.informers.items(), (self.trials.label, self.trials)]
        ]
        return self

    def close(self) -> None:
        """Stop the informers and their watches; callable from any thread."""
        if self._loop is None or self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(self._stop)

    def _stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        if self.kube is not None:
            asyncio.get_running_loop().create_task(self.kube.aclose())  # _stop runs on the loop

    # ------------------------------------------------------------ reading
    def objects(self, kind: JobKind) -> list[dict] | None:
        return self.informers[kind.name].snapshot()

    def trials_of(self, experiment: str, wait: float = 0) -> list[dict] | None:
        """The Trials of the sweep ``experiment`` (``trials.kept_of_trial``); None while not in sync.

        From a worker thread, ``wait`` seconds for the watch's first list if it is
        still under way: a detail asked as the server starts then costs the API
        server one list of the namespace's Trials, not that list and its own.
        A watch that failed is not waited for (the caller asks the API server,
        whose answer is the truthful one).
        """
        trials = self.trials.snapshot()
        loop = self._loop
        if trials is None and wait > 0 and self.trials.error is None and loop and self._from_another_thread():
            first_sync = asyncio.run_coroutine_threadsafe(self.trials.ready(wait), loop)
            try:
                first_sync.result(wait + 1)
            except (JobsError, TimeoutError):
                return None
            trials = self.trials.snapshot()
        return None if trials is None else of_experiment(trials, experiment)

    def _from_another_thread(self) -> bool:
        """Whether the caller may block on the informers' loop (it is not running on it)."""
        if self._loop is None or self._loop.is_closed():
            return False
        try:
            return asyncio.get_running_loop() is not self._loop
        except RuntimeError:  # a worker thread: no loop of its own
            return True

    async def subscribe(
        self,
        kinds: list[JobKind],
        *,
        name: str | None = None,
        timeout: float,
        skip_missing: bool = False,
    ) -> Subscription:
        """A subscription to ``kinds`` once each is in sync; else the reason (403, 503, ...).

        With ``skip_missing`` a kind whose component is not installed is left
        out instead of raising ``ComponentMissing``.
        """
        chosen = []
        for kind in kinds:
            informer = self.informers[kind.name]
            try:
                await informer.ready(timeout)
            except ComponentMissing:
                if not skip_missing:
                    raise
                continue
            chosen.append(informer)
        return Subscription(chosen, name)

    # ------------------------------------------------------------ write-through
    def observe(self, kind: JobKind, obj: dict, deleted: bool = False) -> None:
        """Apply a write made through this API (write-through), before its watch event."""
        self.informers[kind.name].apply("DELETED" if deleted else "MODIFIED", obj)

    def forget(self, kind: JobKind, name: str, uid: str | None) -> None:
        """Drop the job ``name`` whose delete through this API answered a Status (not the object).

        Only the object with that ``uid`` goes: a job created again under the
        same name in the meantime stays.
        """
        self.informers[kind.name].forget(name, uid)
