"""The subcommand registry of ``%mlops`` and what subcommands share.

Each subcommand is a function ``(magics, args, cell)`` with its options
declared by IPython's ``magic_arguments`` decorators (which also write its
help text), registered with ``@subcommand``. ``MlopsMagics`` dispatches on
the first word of the line.
"""

from __future__ import annotations

from argparse import ArgumentParser
from dataclasses import dataclass
from typing import Any, Protocol

from IPython.core.magic_arguments import argument

from ..jobs import ComponentMissing, JobsClient, NotFound
from ..jobs.kinds import KINDS
from .display import NotebookJob
from .parsing import MagicInputError, parse_variable

NO_CELL, CELL, EITHER = "line only", "cell only", "line or cell"


class SubcommandFunction(Protocol):
    """``(magics, args, cell)``, decorated with ``magic_arguments``, which gives it ``parser``."""

    parser: ArgumentParser

    def __call__(self, magics: Any, args: Any, cell: str | None) -> None: ...


@dataclass(frozen=True)
class Subcommand:
    name: str
    run: SubcommandFunction
    """``run(magics, args, cell)``; ``args`` parsed by ``run.parser``."""
    cell: str
    """NO_CELL, CELL or EITHER."""
    example: str
    """One typical use, shown by ``%mlops?``."""


REGISTRY: dict[str, Subcommand] = {}


def subcommand(name: str, *, example: str, cell: str = NO_CELL):
    """Register a function already decorated with ``magic_arguments``."""

    def register(func: SubcommandFunction) -> SubcommandFunction:
        REGISTRY[name] = Subcommand(name, func, cell, example)
        return func

    return register


def output_argument():
    return argument(
        "-o",
        "--output",
        metavar="VAR",
        help="store the job's handle in this variable of your namespace",
    )


def kind_argument():
    return argument(
        "--kind",
        choices=sorted(KINDS),
        help="the job's kind, when jobs of two kinds share the name",
    )


def store(magics, variable: str | None, value) -> None:
    """``-o VAR``: put ``value`` in the user's namespace (``MlopsMagics`` checked the name
    before the subcommand ran, so a bad name never follows a submission)."""
    if variable:
        magics.shell.user_ns[parse_variable(variable)] = value


def find_job(client: JobsClient, name: str, kind: str | None = None) -> NotebookJob:
    """The user's job called ``name``, of any kind unless ``kind`` says which.

    Kinds whose component is not installed are skipped unless asked for by
    ``kind`` (then ``ComponentMissing`` names the component).
    """
    kinds = [kind] if kind else list(KINDS)
    found = []
    for each in kinds:
        try:
            found.append(client.get(each, name))
        except NotFound:
            continue
        except ComponentMissing:
            if kind:
                raise
    if not found:
        what = f"{kind} " if kind else "job "
        raise NotFound(f"No {what}named {name!r} in namespace {client.namespace!r}; %mlops jobs lists yours.")
    if len(found) > 1:
        kinds_found = ", ".join(h.kind.name for h in found)
        raise MagicInputError(f"{name!r} names jobs of several kinds ({kinds_found}); add --kind to say which.")
    return NotebookJob.of(found[0])
