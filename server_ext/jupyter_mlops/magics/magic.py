"""``MlopsMagics``: the ``%mlops`` / ``%%mlops`` magic, dispatching to its subcommands.

A user mistake (unknown subcommand or option, bad distribution syntax, no
such job, missing CRD, GPUs not free) surfaces as one ``UsageError`` line:
IPython prints it without a traceback and the cell counts as failed, so
"Run all" stops there.
"""

from __future__ import annotations

from textwrap import dedent, indent

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, magics_class
from IPython.utils.process import arg_split
from traitlets import Int, Unicode

from ..jobs import JobsClient, JobsError, default_client
from . import cluster, manage, sweeps, training, workflows  # noqa: F401 - they register
from .commands import CELL, NO_CELL, REGISTRY
from .parsing import MagicInputError, parse_variable

ORDER = (
    "pytorchjob",
    "sweep",
    "best",
    "workflow",
    "jobs",
    "status",
    "logs",
    "cancel",
    "delete",
    "resubmit",
    "gpus",
    "ssh",
)
"""How %mlops and %mlops? list the subcommands: submitting, then managing, then the cluster."""
HELP_WORDS = {"help", "-h", "--help"}
"""``%mlops help`` prints what ``%mlops?`` shows; ``%mlops logs --help`` one subcommand's help."""
OVERVIEW = """\
Run notebook cells on the cluster's GPUs: PyTorchJobs, Katib sweeps, Argo (Hera) workflows.

Everything runs as this server's own identity in your namespace. Subcommands:
"""


@magics_class
class MlopsMagics(Magics):
    ssh_host = Unicode(
        "",
        help=dedent("""
        Host name users give ssh to reach the hub's SSH gateway (shown by %mlops ssh).
        Default: MLOPS_SSH_HOST, else the host of JUPYTERHUB_PUBLIC_URL."""),
    ).tag(config=True)
    ssh_port = Int(
        0,
        help=dedent("""
        Port of the hub's SSH gateway (shown by %mlops ssh).
        Default (0): MLOPS_SSH_PORT, else 22."""),
    ).tag(config=True)

    background_followers = Int(
        8,
        help=dedent("""
        Most jobs submitted with --bg whose output keeps updating at once. Each
        holds a thread of this kernel and a stream from the notebook server
        (which serves every stream from one API-server watch per job kind);
        beyond this number a --bg job is shown once and the output says so."""),
    ).tag(config=True)

    @property
    def client(self) -> JobsClient:
        """The jobs API's client: this notebook's service account, built on first use."""
        return default_client()

    @line_cell_magic
    def mlops(self, line: str, cell: str | None = None):
        name, _, rest = line.strip().partition(" ")
        if not name:
            print(summary())
            return None
        if name in HELP_WORDS:
            print(help_text())
            return None
        command = REGISTRY.get(name)
        if command is None:
            raise UsageError(
                f"%mlops: unknown subcommand {name!r}; use one of "
                f"{', '.join(c.name for c in in_order())} (%mlops? explains each)."
            )
        marker = "%%" if cell is not None else "%"
        if cell is None and command.cell == CELL:
            raise UsageError(
                f"%%mlops {name} runs a cell: put %%mlops {name} ... on the first "
                "line of a cell, with the code below it."
            )
        if cell is not None and command.cell == NO_CELL:
            raise UsageError(f"%mlops {name} is a line magic: use %mlops {name} ... on its own (without a cell below).")
        if {"-h", "--help"} & set(rest.split()):  # not "help": it may be a job's name
            print(command.run.__doc__)
            return None
        try:
            # Split as a shell would (quotes group words and are removed), unlike
            # parse_argstring, which keeps the quotes of --objective "maximize accuracy".
            args = command.run.parser.parse_args(arg_split(rest, posix=True, strict=True))
        except (UsageError, ValueError) as exc:  # ValueError: unbalanced quotes
            raise UsageError(one_line(f"{marker}mlops {name}: {exc}")) from None
        try:
            if getattr(args, "output", None):  # before anything is submitted
                parse_variable(args.output)
            command.run(self, args, cell)
        except (JobsError, MagicInputError) as exc:
            raise UsageError(one_line(getattr(exc, "message", None) or str(exc))) from None
        return None


def in_order() -> list:
    return sorted(REGISTRY.values(), key=lambda c: ORDER.index(c.name))


def one_line(text: str) -> str:
    return " ".join(text.split())


def summary() -> str:
    """What bare ``%mlops`` prints: one line per subcommand, then an example of each."""
    lines = [OVERVIEW]
    lines += [f"  {c.name:<10} {purpose(c)}" for c in in_order()]
    lines += ["", "Examples:"] + [f"  {c.example}" for c in in_order()]
    lines.append("\n%mlops? shows every option.")
    return "\n".join(lines)


def purpose(command) -> str:
    """The first line of the subcommand's description."""
    return (command.run.parser.description or "").strip().splitlines()[0]


def help_text() -> str:
    """``%mlops?``: the overview, then each subcommand's options and an example."""
    sections = [OVERVIEW + "\n".join(f"  {c.name:<10} {purpose(c)}" for c in in_order()) + "\n"]
    for command in in_order():
        sections.append(
            f"{'=' * 70}\n{command.name} ({command.cell})\n\n"
            + indent(command.run.__doc__ or "", "  ")
            + f"\n  Example:\n    {command.example}\n"
        )
    return "\n".join(sections)


MlopsMagics.mlops.__doc__ = help_text()
