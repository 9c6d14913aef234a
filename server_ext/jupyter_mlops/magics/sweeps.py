"""``%%mlops sweep`` (a Katib Experiment from the cell) and ``%mlops best``."""

from __future__ import annotations

import os
from html import escape

from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import display
from mlops_contract.sweep_algorithms import DEFAULT_ALGORITHM, SWEEP_ALGORITHMS

from ..jobs import Sweep
from . import render
from .cellscript import sweep_command, sweep_script, write_cell_script
from .commands import CELL, find_job, output_argument, store, subcommand
from .parsing import (
    MagicInputError,
    log_scale,
    parse_objective,
    parse_parameter,
    parse_settings,
)
from .submitting import present, resource_arguments, submit, workload


@subcommand(
    "sweep",
    cell=CELL,
    example="%%mlops sweep --param lr=loguniform(1e-4,1e-1) --param bs=choice(32,64) "
    '--objective "maximize accuracy" --trials 20 --parallel 4',
)
@magic_arguments("%mlops sweep")
@argument(
    "--param",
    action="append",
    required=True,
    metavar="NAME=DIST(ARGS)",
    help="a search dimension (repeatable): uniform(low,high[,step]), loguniform(low,high) "
    "(searched as its base-10 exponent; trials list the exponent), int(low,high[,step]) or "
    "choice(a,b,...)",
)
@argument(
    "--objective",
    required=True,
    metavar='"maximize|minimize METRIC"',
    help="the metric the cell reports and which way is better",
)
@argument("--trials", type=int, default=12, metavar="N", help="trials in all (default 12)")
@argument("--parallel", type=int, default=2, metavar="N", help="trials at once (default 2)")
@argument(
    "--algorithm",
    default=DEFAULT_ALGORITHM,
    metavar="ALGORITHM",
    help="Katib search algorithm: " + ", ".join(SWEEP_ALGORITHMS) + f" (default {DEFAULT_ALGORITHM})",
)
@argument(
    "--setting",
    action="append",
    default=[],
    metavar="NAME=VALUE",
    help="an algorithm setting (repeatable), e.g. --setting random_state=42; "
    + "; ".join(f"{a.name}: {', '.join(s.name for s in a.settings) or 'none'}" for a in SWEEP_ALGORITHMS.values()),
)
@argument("--max-failed", type=int, metavar="N", help="stop the sweep after N failed trials")
@output_argument()
@resource_arguments
def sweep(magics, args, cell):
    """Sweep the cell's hyperparameters with Katib; each trial runs the cell.

    Each --param becomes a variable of that name in the cell (lr, bs, ...).
    The cell reports its metric with one line, in Katib's StdOut format:

        print(f"accuracy={accuracy}")     # or: jupyter_mlops.report(accuracy=accuracy)
    """
    if not cell.strip():
        raise MagicInputError(
            "%%mlops sweep: the cell is empty; write the trial's code in it "
            'and print the metric, e.g. print(f"accuracy={acc}").'
        )
    parameters = [parse_parameter(text) for text in args.param]
    names = [p.name for p in parameters]
    if len(set(names)) != len(names):
        raise MagicInputError(f"--param: {sorted(n for n in names if names.count(n) > 1)[0]} is given twice")
    direction, metric = parse_objective(args.objective)
    settings = parse_settings(args.setting)
    log_scaled = frozenset(p.name for p in parameters if p.distribution == "loguniform")
    parameters = [log_scale(p) if p.name in log_scaled else p for p in parameters]
    workdir = os.getcwd()
    script = write_cell_script(workdir, sweep_script(cell, parameters, log_scaled))
    spec = Sweep(
        command=sweep_command(script, parameters, workers=args.workers, gpus_per_worker=args.gpus),
        parameters=parameters,
        objective_metric=metric,
        objective=direction,
        name=args.name,
        algorithm=args.algorithm,
        algorithm_settings=settings,
        parallel_trials=args.parallel,
        max_trials=args.trials,
        max_failed_trials=args.max_failed,
        trial_kind="pytorchjob" if args.workers > 1 else "pod",
        replicas=args.workers,
        **workload(magics, args, workdir, script),
    )
    present(magics, submit(magics, spec, args), args.bg)


class BestTrial:
    """The best trial of a sweep, as HTML and text."""

    def __init__(self, status: dict):
        self.status = status

    def _repr_html_(self) -> str:
        best = self.status.get("best_trial")
        if not best:
            return f"<p>{escape(render.best_trial_line(self.status))}</p>"
        rows = [[name, value] for name, value in {**best["parameters"], **best["metrics"]}.items()]
        return (
            f"<p class='mlops-best'><b>best trial</b> <code>{escape(best['name'])}</code> of "
            f"<code>{escape(self.status['name'])}</code></p>" + render.table_html(["", "value"], rows)
        )

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(render.best_trial_line(self.status))


@subcommand("best", example="%mlops best my-sweep -o params")
@magic_arguments("mlops best")
@argument("name", help="the sweep")
@argument(
    "-o",
    "--output",
    metavar="VAR",
    help="store the best trial's parameters (a dict of values) in this variable",
)
def best(magics, args, cell):
    """Show the best trial of a sweep so far: its parameters and metrics."""
    job = find_job(magics.client, args.name, "sweep")
    status = job.status()
    display(BestTrial(status))
    trial = status.get("best_trial")
    if args.output and trial:
        store(magics, args.output, {k: _value(v) for k, v in trial["parameters"].items()})


def _value(text: str):
    for convert in (int, float):
        try:
            return convert(text)
        except ValueError:
            continue
    return text
