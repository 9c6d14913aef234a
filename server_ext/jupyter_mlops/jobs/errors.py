"""Every failure a user can act on, one class each, mapped once to an HTTP status.

The REST handlers turn any ``JobsError`` into ``{"error": code, "message": ...,
**details}`` with ``http_status``; the Python API raises them unchanged, so a
notebook user sees the same sentence the sidebar shows.
"""

from __future__ import annotations


class JobsError(Exception):
    """Base class: ``message`` is a sentence the user can act on."""

    http_status = 500
    code = "internal"

    def __init__(self, message: str, **details):
        super().__init__(message)
        self.message = message
        self.details = details

    def to_json(self) -> dict:
        return {"error": self.code, "message": self.message, **self.details}


class InvalidSpec(JobsError):
    """The job description is wrong; ``field`` names the offending field."""

    http_status = 400
    code = "invalid-spec"

    def __init__(self, field: str, reason: str):
        super().__init__(f"Invalid job spec: {field}: {reason}", field=field, reason=reason)


class PermissionDenied(JobsError):
    """The Kubernetes API server's RBAC refused the call; ``permission`` names what is missing."""

    http_status = 403
    code = "forbidden"

    def __init__(self, verb: str, resource: str, namespace: str | None, server_message: str = ""):
        where = f" in namespace {namespace!r}" if namespace else ""
        permission = f"{verb} {resource}{where}"
        super().__init__(
            f"Permission denied: your service account may not {permission}. "
            "Ask your JupyterHub operator for this permission if you need it.",
            permission=permission,
            server_message=server_message,
        )


class TokenRefused(JobsError):
    """The hub refused this server's JupyterHub token ($JUPYTERHUB_API_TOKEN); says why."""

    http_status = 403
    code = "forbidden"


class NotFound(JobsError):
    http_status = 404
    code = "not-found"


class AlreadyExists(JobsError):
    http_status = 409
    code = "already-exists"


class GpusUnavailable(JobsError):
    """The job cannot fit on the cluster's free GPUs now and the user asked not to queue it."""

    http_status = 409
    code = "gpus-unavailable"


class OverGpuCap(JobsError):
    """The job would take the user over their GPU cap, or one of their groups over its
    quota (the hub's ``GpuProfiles`` limits); the message says which.

    Queueing does not help: the job would hold GPUs the user may not hold.
    ``details``: ``held_gpus``, ``requested_gpus``, ``cap`` (of the user, or of the group).
    """

    http_status = 409
    code = "over-gpu-cap"


class SnapshotTooLarge(JobsError):
    """The working-directory snapshot is over the ConfigMap limit and no shared volume is set up."""

    http_status = 413
    code = "snapshot-too-large"


class ComponentMissing(JobsError):
    """A CRD (and so its controller) is not installed: the message names the component."""

    http_status = 501
    code = "component-missing"

    def __init__(self, component: str, resource: str):
        super().__init__(
            f"{component} is not installed in this cluster (the API server does not serve "
            f"{resource}). Ask your cluster operator to install it.",
            component=component,
            resource=resource,
        )


class ClusterUnreachable(JobsError):
    """The Kubernetes API server (or the hub, or the Argo Server) did not answer."""

    http_status = 503
    code = "unreachable"


class UpstreamError(JobsError):
    """A server we call answered with an error we cannot map to anything more specific."""

    http_status = 502
    code = "upstream-error"


class Unauthenticated(JobsError):
    """The API server did not accept the service-account token (expired or revoked)."""

    http_status = 401
    code = "unauthenticated"
