"""The jobs Python API: PyTorchJobs, Katib sweeps and Argo (Hera) workflows from the notebook.

::

    from jupyter_mlops.jobs import PyTorchJob, Sweep, Parameter, submit_workflow, list_jobs, get_job

    handle = PyTorchJob(command="python train.py", replicas=2, gpus=1).submit()
    handle.wait(timeout=3600)
    for line in handle.logs("master-0"):
        print(line)

Every call acts as the notebook pod's service account in the user's
namespace (see ``credentials`` for the overrides used outside a pod). Errors
are ``JobsError`` subclasses whose message says what to do.
"""

from __future__ import annotations

from . import pytorchjob, sweep
from .client import JobsClient, default_client, set_default_client
from .errors import (
    AlreadyExists,
    ClusterUnreachable,
    ComponentMissing,
    GpusUnavailable,
    InvalidSpec,
    JobsError,
    NotFound,
    OverGpuCap,
    PermissionDenied,
    SnapshotTooLarge,
    TokenRefused,
    Unauthenticated,
    UpstreamError,
)
from .handle import JobHandle
from .kind import FINISHED, STATES
from .snapshot import Snapshot
from .sweep import Parameter
from .workflow import ArgoWorkflow


class _SubmitsItself:
    """``spec.submit()`` for the notebook: the specs themselves are pure (``validate``,
    ``to_manifest``) and know no client; submitting is ``JobsClient.submit``."""

    def submit(self, client: JobsClient | None = None, *, if_not_fits: str = "refuse") -> JobHandle:
        """Create the job as your service account; return its ``JobHandle``.

        ``if_not_fits``: ``"refuse"`` raises ``GpusUnavailable`` when the GPUs
        are not free now; ``"queue"`` submits anyway (it waits in the queue).
        Either way ``OverGpuCap`` refuses a job over the hub's per-user GPU cap.
        """
        return (client or default_client()).submit(self, if_not_fits=if_not_fits)


class PyTorchJob(_SubmitsItself, pytorchjob.PyTorchJob):
    __doc__ = pytorchjob.PyTorchJob.__doc__


class Sweep(_SubmitsItself, sweep.Sweep):
    __doc__ = sweep.Sweep.__doc__


def submit_workflow(
    workflow,
    *,
    snapshot: Snapshot | None = None,
    client: JobsClient | None = None,
    if_not_fits: str = "refuse",
) -> JobHandle:
    """Submit a Hera ``Workflow`` (or a Workflow manifest dict) unchanged; return its handle."""
    spec = ArgoWorkflow(workflow if isinstance(workflow, dict) else workflow.to_dict(), snapshot)
    return (client or default_client()).submit(spec, if_not_fits=if_not_fits)


def list_jobs(kind: str | None = None, *, client: JobsClient | None = None) -> list[dict]:
    """Summaries of my jobs, newest first (``kind``: pytorchjob, sweep, workflow; None: all)."""
    return (client or default_client()).list(kind)


def get_job(kind: str, name: str, *, client: JobsClient | None = None) -> JobHandle:
    """The handle of an existing job."""
    return (client or default_client()).get(kind, name)


__all__ = [
    "AlreadyExists",
    "ArgoWorkflow",
    "ClusterUnreachable",
    "ComponentMissing",
    "FINISHED",
    "GpusUnavailable",
    "InvalidSpec",
    "JobHandle",
    "JobsClient",
    "JobsError",
    "NotFound",
    "OverGpuCap",
    "Parameter",
    "PermissionDenied",
    "PyTorchJob",
    "STATES",
    "Snapshot",
    "SnapshotTooLarge",
    "TokenRefused",
    "Sweep",
    "Unauthenticated",
    "UpstreamError",
    "default_client",
    "get_job",
    "list_jobs",
    "set_default_client",
    "submit_workflow",
]
