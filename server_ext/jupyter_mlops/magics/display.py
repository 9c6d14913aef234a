"""Jobs as notebook outputs: a handle that renders itself, and a display that follows the job.

``NotebookJob`` is the jobs API's ``JobHandle`` plus ``_repr_html_`` and a
plain-text form (a thin adapter: the API's handle has no rich display), so
``-o job`` gives users the whole API and a cell ending in ``job`` shows the
current status. ``follow`` keeps one display (``display_id``) up to date
while the job runs and returns when it finishes; ``follow_in_background``
returns at once and keeps the display up to date from a thread (``--bg``).
Both learn of the job's changes from the notebook server's stream of it
(``notebook_server``), never from an API-server watch of their own.
"""

from __future__ import annotations

import contextvars
import threading
from dataclasses import dataclass, field

from IPython.display import display

from ..jobs import FINISHED, JobHandle, JobsError
from . import render
from .notebook_server import NotebookServer


@dataclass
class JobView:
    """What a job looked like at one moment; renders without calling the cluster."""

    status: dict
    warnings: list[str] = field(default_factory=list)

    def _repr_html_(self) -> str:
        return render.job_html(self.status, self.warnings)

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(render.job_text(self.status, self.warnings))

    def __str__(self) -> str:
        return render.job_text(self.status, self.warnings)


class NotebookJob(JobHandle):
    """A ``JobHandle`` that displays as its current status (asks the cluster each time)."""

    @classmethod
    def of(cls, handle: JobHandle) -> NotebookJob:
        return cls(handle.client, handle.kind, handle.name, handle.namespace, handle.warnings)

    def view(self) -> JobView:
        return JobView(self.status(), list(self.warnings))

    def resubmit(self) -> NotebookJob:
        return NotebookJob.of(super().resubmit())

    def _repr_html_(self) -> str:
        return self.view()._repr_html_()

    def _repr_pretty_(self, printer, cycle) -> None:
        self.view()._repr_pretty_(printer, cycle)


def show(job: NotebookJob):
    """Display the job's status once; return the ``DisplayHandle`` to update it."""
    return display(job.view(), display_id=True)


def _track(job: NotebookJob, output, view: JobView, server: NotebookServer) -> JobView:
    """Update ``output`` on every change of the job until it finishes or is deleted.

    The changes come from the notebook server's stream of the job (its shared
    informer); the view shown is read afresh on each. Returns the last view
    shown. Views equal to the one shown are not sent again.
    """
    for event in server.job_events(job.kind, job.name):
        if event["type"] == "DELETED":
            view = JobView(
                {**view.status, "state": "Deleted", "message": "the job was deleted"},
                view.warnings,
            )
            output.update(view)
            return view
        latest = job.view()
        if latest != view:
            view = latest
            output.update(view)
        if view.status["state"] in FINISHED:
            return view
    return view  # not reached: the stream ends only after DELETED, or raises


def _with_warning(view: JobView, warning: str) -> JobView:
    return JobView(view.status, [*view.warnings, warning])


def _without_server(job: NotebookJob) -> str:
    return (
        "This output does not update: live displays follow jobs through the notebook "
        f"server, and no Jupyter server started this kernel; %mlops status {job.name} "
        "shows it now."
    )


def follow(job: NotebookJob) -> JobView:
    """Update one display in place on every change of the job until it finishes.

    Returns the last view. Interrupting the kernel (``KeyboardInterrupt``)
    stops following; the job itself keeps running. In a kernel that no
    notebook server started, the display is shown once and says so.
    """
    view = job.view()
    server = NotebookServer.of_this_kernel()
    finished = view.status["state"] in FINISHED
    if server is None and not finished:
        view = _with_warning(view, _without_server(job))
    try:  # from the first display on, an interrupt only stops the watching
        output = display(view, display_id=True)
        if finished or server is None:
            return view
        return _track(job, output, view, server)
    except KeyboardInterrupt:
        print(f"Stopped watching; {job.kind.name} {job.name} keeps running (%mlops status {job.name}).")
    return view


_followed: set[tuple[str, str, str]] = set()
"""(kind, namespace, name) of the jobs whose output a background thread keeps up to date."""
_followed_lock = threading.Lock()


def follow_in_background(job: NotebookJob, max_followers: int) -> threading.Thread | None:
    """Display the job now and return at once; a daemon thread updates that display in place
    (``update_display_data``) on every change until the job finishes or is deleted.

    Returns the thread, or None when the job has already finished, no
    notebook server started this kernel, or ``max_followers`` jobs are
    followed already: each follower holds a thread of the kernel and a stream
    from the notebook server, so their number is bounded, and the display
    then says that it will not update. The thread runs in a copy of the
    cell's context, so its updates are attributed to the cell that submitted
    the job. If the server stops answering, the display says so instead of
    going quiet.
    """
    view = job.view()
    server = NotebookServer.of_this_kernel()
    key = (job.kind.name, job.namespace, job.name)
    with _followed_lock:
        room = len(_followed) < max_followers
        tracked = room and server is not None and view.status["state"] not in FINISHED and key not in _followed
        if tracked:
            _followed.add(key)
    if not room:
        view = _with_warning(
            view,
            f"This output does not update: {max_followers} jobs are followed already "
            f"(MlopsMagics.background_followers); %mlops status {job.name} shows it now.",
        )
    elif server is None and view.status["state"] not in FINISHED:
        view = _with_warning(view, _without_server(job))
    output = display(view, display_id=True)
    if not tracked or server is None:
        return None

    def keep_updated() -> None:
        try:
            _track(job, output, view, server)
        except JobsError as exc:
            output.update(
                _with_warning(view, f"Stopped updating: {exc.message} (%mlops status {job.name} shows it now).")
            )
        finally:
            with _followed_lock:
                _followed.discard(key)

    thread = threading.Thread(
        target=contextvars.copy_context().run,
        args=(keep_updated,),
        name=f"mlops-follow-{job.kind.name}-{job.name}",
        daemon=True,  # never keeps a kernel from shutting down
    )
    thread.start()
    return thread
