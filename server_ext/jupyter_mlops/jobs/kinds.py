"""The registry of job kinds, by singular name and by REST collection."""

from __future__ import annotations

from .errors import InvalidSpec
from .kind import JobKind
from .pytorchjob import PyTorchJobKind
from .sweep import SweepKind
from .workflow import WorkflowKind

KINDS: dict[str, JobKind] = {k.name: k for k in (PyTorchJobKind(), SweepKind(), WorkflowKind())}
BY_COLLECTION: dict[str, JobKind] = {k.collection: k for k in KINDS.values()}


def kind_named(name: str) -> JobKind:
    """Accepts ``pytorchjob`` or ``pytorchjobs``; ``InvalidSpec`` for anything else."""
    found = KINDS.get(name) or BY_COLLECTION.get(name)
    if found is None:
        raise InvalidSpec("kind", f"{name!r} is not a job kind; use one of {', '.join(KINDS)}")
    return found
