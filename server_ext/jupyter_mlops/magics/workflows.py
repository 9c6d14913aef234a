"""``%mlops workflow submit path.py`` and ``%%mlops workflow``: submit a Hera Workflow unchanged."""

from __future__ import annotations

import os

from IPython.core.magic_arguments import argument, magic_arguments

from ..jobs import ArgoWorkflow, InvalidSpec, Snapshot
from ..jobs.hera_file import run_file, workflows_in
from .commands import EITHER, output_argument, subcommand
from .parsing import MagicInputError
from .submitting import present, submit


@subcommand(
    "workflow",
    cell=EITHER,
    example="%mlops workflow submit pipeline.py   |   %%mlops workflow --code",
)
@magic_arguments("mlops workflow")
@argument("action", nargs="?", help="submit (line form)")
@argument("path", nargs="?", help="Python file that builds a hera.workflows.Workflow")
@argument("--var", metavar="NAME", help="which Workflow variable to submit when several are defined")
@argument(
    "--code",
    action="store_true",
    help="ship a snapshot of the working directory to every step with a command",
)
@argument(
    "--exclude",
    action="append",
    metavar="PATTERN",
    help="with --code: gitignore-style pattern of files not to ship (repeatable)",
)
@argument(
    "--queue",
    action="store_true",
    help="submit even when the GPUs are not free now (the job waits for them)",
)
@argument(
    "--bg",
    action="store_true",
    help="return at once; the output keeps updating in place while the workflow runs",
)
@output_argument()
def workflow(magics, args, cell):
    """Submit the Hera Workflow built by a file (line form) or by the cell (cell form).

    The code runs here, in the notebook (the cell form sees your variables);
    the Workflow it builds is submitted unchanged, as you.
    """
    if cell is None:
        if args.action != "submit" or not args.path:
            raise MagicInputError(
                "%mlops workflow: write %mlops workflow submit PATH.py, or use "
                "%%mlops workflow with the Workflow in the cell."
            )
        if not os.path.isfile(args.path):
            raise MagicInputError(f"%mlops workflow submit: no file {args.path!r} (in {os.getcwd()}).")
        namespace = run_file(args.path)
        where = args.path
    else:
        if args.action or args.path:
            raise MagicInputError(f"%%mlops workflow takes its Workflow from the cell; drop {args.action!r}.")
        # The cell sees the notebook's variables; only Workflows it makes itself count.
        before = {id(v) for v in magics.shell.user_ns.values()}
        namespace = dict(magics.shell.user_ns)
        exec(compile(cell, "<%%mlops workflow>", "exec"), namespace)
        namespace = {k: v for k, v in namespace.items() if id(v) not in before}
        where = "the cell"
    workflow = _pick_workflow(namespace, args.var, where)
    snapshot = Snapshot(os.getcwd(), exclude=args.exclude or []) if args.code else None
    spec = ArgoWorkflow.from_hera(workflow, snapshot)
    present(magics, submit(magics, spec, args), args.bg)


def _pick_workflow(namespace: dict, variable: str | None, where: str):
    try:
        found = workflows_in(namespace)
    except InvalidSpec as exc:
        raise MagicInputError(exc.details["reason"]) from None
    if variable:
        if variable not in found:
            raise MagicInputError(
                f"--var {variable}: {where} defines no Workflow by that name "
                f"(found: {', '.join(sorted(found)) or 'none'})."
            )
        return found[variable]
    if not found:
        raise MagicInputError(
            f"{where} defines no hera.workflows.Workflow; build one, e.g. "
            "with Workflow(name='w', entrypoint='main') as w: ..."
        )
    if len(found) > 1:
        raise MagicInputError(
            f"{where} defines {len(found)} Workflows ({', '.join(sorted(found))}); choose one with --var NAME."
        )
    return next(iter(found.values()))
