"""``%mlops jobs``, ``status``, ``logs``, ``cancel``, ``delete``, ``resubmit``: my jobs by name."""

from __future__ import annotations

from IPython.core.magic_arguments import argument, magic_arguments
from IPython.display import display

from . import render
from .commands import find_job, kind_argument, output_argument, store, subcommand
from .display import follow, show
from .parsing import MagicInputError
from .submitting import present

PART_OPTIONS = {"replica": "pytorchjob", "trial": "sweep", "step": "workflow"}


class JobList:
    """My jobs as a table (HTML and text)."""

    def __init__(self, summaries: list[dict]):
        self.summaries = summaries

    def _repr_html_(self) -> str:
        return render.jobs_html(self.summaries)

    def _repr_pretty_(self, printer, cycle) -> None:
        printer.text(render.jobs_text(self.summaries))


@subcommand("jobs", example="%mlops jobs --kind sweep")
@magic_arguments("mlops jobs")
@argument("--kind", choices=sorted(PART_OPTIONS.values()), help="only jobs of this kind")
def jobs(magics, args, cell):
    """List my jobs (PyTorchJobs, sweeps, workflows), newest first."""
    display(JobList(magics.client.list(args.kind)))


@subcommand("status", example="%mlops status mnist-ddp -o job")
@magic_arguments("mlops status")
@argument("name", help="the job")
@argument("--watch", action="store_true", help="follow it in place until it finishes")
@kind_argument()
@output_argument()
def status(magics, args, cell):
    """Show a job's state and its replicas, trials (with the plot) or steps."""
    job = find_job(magics.client, args.name, args.kind)
    store(magics, args.output, job)
    if args.watch:
        follow(job)
    else:
        show(job)


@subcommand("logs", example="%mlops logs mnist-ddp --replica worker-1 -f")
@magic_arguments("mlops logs")
@argument("name", help="the job")
@argument("-f", "--follow", action="store_true", help="keep printing new lines (interrupt to stop)")
@argument("--replica", help="PyTorchJob replica, e.g. master-0, worker-1 (default: the master)")
@argument("--trial", help="sweep trial name (see %%mlops status)")
@argument("--step", help="workflow step name")
@argument("--container", help="container of the pod (default: the training container)")
@argument("--tail", type=int, metavar="N", help="only the last N lines")
@kind_argument()
def logs(magics, args, cell):
    """Print the logs of a replica, trial or step."""
    chosen = {option: getattr(args, option) for option in PART_OPTIONS if getattr(args, option)}
    if len(chosen) > 1:
        raise MagicInputError("%mlops logs: give one of --replica, --trial, --step.")
    job = find_job(magics.client, args.name, args.kind)
    part = None
    if chosen:
        option, part = next(iter(chosen.items()))
        if PART_OPTIONS[option] != job.kind.name:
            raise MagicInputError(
                f"--{option} is for {PART_OPTIONS[option]}s; {args.name} is a "
                f"{job.kind.name} (use --{job.kind.part_noun})."
            )
    try:
        for line in job.logs(part, container=args.container, follow=args.follow, tail_lines=args.tail):
            print(line, flush=args.follow)
    except KeyboardInterrupt:
        print("(stopped following)")


@subcommand("cancel", example="%mlops cancel my-sweep")
@magic_arguments("mlops cancel")
@argument("name", help="the job")
@kind_argument()
def cancel(magics, args, cell):
    """Stop a job but keep it, with its status and logs, to look at."""
    job = find_job(magics.client, args.name, args.kind)
    summary = job.cancel()
    print(f"{job.kind.name} {job.name}: {summary['state']}")


@subcommand("delete", example="%mlops delete mnist-ddp")
@magic_arguments("mlops delete")
@argument("name", help="the job")
@kind_argument()
def delete(magics, args, cell):
    """Delete a job; its pods and code snapshot go with it."""
    job = find_job(magics.client, args.name, args.kind)
    job.delete()
    print(f"Deleted {job.kind.name} {job.name}.")


@subcommand("resubmit", example="%mlops resubmit mnist-ddp --bg -o again")
@magic_arguments("mlops resubmit")
@argument("name", help="the job to run again, with the same code and settings")
@argument(
    "--bg",
    action="store_true",
    help="return at once; the output keeps updating in place while the new job runs",
)
@kind_argument()
@output_argument()
def resubmit(magics, args, cell):
    """Run a job again under a new name, with the same code snapshot."""
    again = find_job(magics.client, args.name, args.kind).resubmit()
    store(magics, args.output, again)
    present(magics, again, args.bg)
