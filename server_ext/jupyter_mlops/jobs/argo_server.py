"""Submitting a Workflow through the Argo Server with Hera's ``WorkflowsService``.

Used instead of the Kubernetes API when an Argo Server is configured. The
user's service-account token authenticates, as ``argo --token`` does; an
Argo Server in ``--auth-mode=client`` creates the Workflow with that same
token, so the API server's RBAC decides exactly as it does for a direct
create. Reading, listing and deleting stay on the Kubernetes API.
"""

from __future__ import annotations

from typing import Any

import requests

from .errors import (
    AlreadyExists,
    ClusterUnreachable,
    InvalidSpec,
    JobsError,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    UpstreamError,
)


class _BoundedSession(requests.Session):
    """A session whose every request has a timeout (Hera's service sets none) and checks the
    server's certificate against ``verify``: a CA bundle or True for the system's (Hera's
    ``verify_ssl`` takes only a bool, and passes it with every request)."""

    def __init__(self, timeout: float, verify: bool | str):
        super().__init__()
        self.timeout = timeout
        self.verify = verify

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        kwargs["verify"] = self.verify
        return super().request(*args, **kwargs)


def create_workflow(
    url: str,
    token: str,
    namespace: str,
    manifest: dict,
    *,
    verify: bool | str = True,
    timeout: float = 10.0,
) -> dict:
    """Create ``manifest`` through the Argo Server at ``url``; return the created Workflow.

    ``verify``: a CA bundle for an https URL, or True for the system's.
    Raises ``ClusterUnreachable`` (503) when the server does not answer
    within ``timeout`` seconds, or the ``JobsError`` its answer maps to.
    """
    from hera import exceptions as hera_errors
    from hera.workflows.models import Workflow, WorkflowCreateRequest
    from hera.workflows.service import WorkflowsService

    request = WorkflowCreateRequest(workflow=Workflow.model_validate(manifest))
    with WorkflowsService(
        host=url,
        token=f"Bearer {token}",
        namespace=namespace,
        session=_BoundedSession(timeout, verify),
    ) as service:
        try:
            created = service.create_workflow(request, namespace=namespace)
        except requests.exceptions.ConnectionError as exc:  # connect timeouts included
            raise ClusterUnreachable(
                f"The Argo Server at {url} did not answer ({type(exc).__name__}); "
                "your workflow was not submitted. Try again in a moment; if it "
                "persists, tell your operator (MlopsJobs.argo_server_url)."
            ) from exc
        except requests.exceptions.RequestException as exc:
            # The request reached the server, which may have created the workflow.
            raise ClusterUnreachable(
                f"The Argo Server at {url} took the request but did not answer within "
                f"{timeout:g}s ({type(exc).__name__}); list your jobs to see whether the "
                "workflow was created before you submit it again."
            ) from exc
        except hera_errors.HeraException as exc:
            raise _mapped(exc, namespace) from exc
    return created.model_dump(by_alias=True, exclude_none=True, mode="json")


def _mapped(exc, namespace: str) -> JobsError:
    from hera import exceptions as hera_errors

    text = str(exc)
    if isinstance(exc, hera_errors.Unauthorized):
        return Unauthenticated("The Argo Server did not accept your token.")
    if isinstance(exc, hera_errors.Forbidden):
        return PermissionDenied("create", "workflows.argoproj.io", namespace, text)
    if isinstance(exc, hera_errors.BadRequest):
        return InvalidSpec("manifest", text)
    if isinstance(exc, hera_errors.AlreadyExists):
        return AlreadyExists(f"The workflow already exists: {text}")
    if isinstance(exc, hera_errors.NotFound):
        return NotFound(f"The Argo Server answered 404: {text}")
    return UpstreamError(f"The Argo Server answered an error: {text}")
