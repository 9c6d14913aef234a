"""What the submitting subcommands share: common options, GPU checks, show or follow."""

from __future__ import annotations

from IPython.core.magic_arguments import argument

from ..jobs import GpusUnavailable, JobsError, SnapshotTooLarge
from .cellscript import CellSnapshot
from .commands import store
from .display import NotebookJob, follow, follow_in_background
from .parsing import match_gpu_type, parse_env


def resource_arguments(func):
    """--gpus, --gpu-type, --workers, --image, --env, --exclude, --name, --queue, --bg."""
    decorators = [
        argument("--gpus", type=int, default=0, metavar="N", help="GPUs per worker pod"),
        argument(
            "--gpu-type",
            metavar="PRODUCT",
            help="GPU product label (nvidia.com/gpu.product), e.g. NVIDIA-A100-SXM4-80GB, "
            "or a unique part of one, e.g. A100; %%mlops gpus lists them",
        ),
        argument(
            "--workers",
            type=int,
            default=1,
            metavar="N",
            help="pods, one per node: the first is the master (default 1)",
        ),
        argument("--image", help="container image (default: this notebook's image)"),
        argument("--env", action="append", metavar="K=V", help="environment variable (repeatable)"),
        argument(
            "--exclude",
            action="append",
            metavar="PATTERN",
            help="gitignore-style pattern of files not to ship, e.g. 'data/' (repeatable)",
        ),
        argument("--name", help="job name (default: generated)"),
        argument(
            "--queue",
            action="store_true",
            help="submit even when the GPUs are not free now (the job waits for them)",
        ),
        argument(
            "--bg",
            action="store_true",
            help="return at once; the output keeps updating in place while the job runs",
        ),
    ]
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def gpu_type(magics, name: str | None) -> str | None:
    """``--gpu-type``: the full product label for a short name (``A100``), from the
    hub's availability document; unchanged when the document cannot be read
    (the submission's own GPU check then says why)."""
    availability = magics.client.availability
    if not name or availability is None:
        return name
    try:
        types = availability.snapshot().get("gpu_types") or {}
    except JobsError:
        return name
    return match_gpu_type(name, types)


def workload(magics, args, workdir: str, script: str) -> dict:
    """The workload fields of a cell's job from its ``resource_arguments`` (the cell's
    script shipped with a snapshot of ``workdir``), as keyword arguments of any job kind."""
    return {
        "gpus": args.gpus,
        "gpu_type": gpu_type(magics, args.gpu_type),
        "image": args.image,
        "env": parse_env(args.env),
        "snapshot": CellSnapshot(path=workdir, exclude=args.exclude or [], script=script),
    }


def submit(magics, spec, args) -> NotebookJob:
    """Submit ``spec`` with the client; say how to queue or trim the code in the magic's terms."""
    try:
        handle = magics.client.submit(spec, if_not_fits="queue" if args.queue else "refuse")
    except GpusUnavailable as exc:
        reason = exc.details.get("reason") or exc.message
        raise GpusUnavailable(
            f"Not enough free GPUs now: {reason}. Add --queue to submit it anyway (it waits until they are free).",
            reason=reason,
        ) from None
    except SnapshotTooLarge as exc:
        raise SnapshotTooLarge(
            f"{exc.message} Here: add --exclude PATTERN (e.g. --exclude data/) to leave files out.",
            **exc.details,
        ) from None
    job = NotebookJob.of(handle)
    store(magics, args.output, job)
    return job


def present(magics, job: NotebookJob, background: bool) -> None:
    """Follow the job in place until it finishes; ``--bg``: return at once, the display
    still updating in place from the background while the job runs."""
    if background:
        follow_in_background(job, magics.background_followers)
    else:
        follow(job)
