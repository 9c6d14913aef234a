"""Submitting a Workflow through the Argo Server with Hera's ``WorkflowsService``.

Used instead of the Kubernetes API when an Argo Server is configured (its
SSO/RBAC then applies); the user's service-account token authenticates, as
``argo --token`` does.
"""

from __future__ import annotations

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


def create_workflow(
    url: str, token: str, namespace: str, manifest: dict, *, verify: bool | str = True
) -> dict:
    """Create ``manifest`` through the Argo Server at ``url``; return the created Workflow."""
    from hera import exceptions as hera_errors
    from hera.workflows.models import Workflow, WorkflowCreateRequest
    from hera.workflows.service import WorkflowsService

    service = WorkflowsService(
        host=url, token=f"Bearer {token}", namespace=namespace, verify_ssl=verify
    )
    request = WorkflowCreateRequest(workflow=Workflow.model_validate(manifest))
    try:
        created = service.create_workflow(request, namespace=namespace)
    except requests.exceptions.RequestException as exc:
        raise ClusterUnreachable(
            f"The Argo Server at {url} did not answer ({type(exc).__name__})."
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
