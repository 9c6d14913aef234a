"""A small Kubernetes API client: JSON in, JSON out, every call bounded.

Built on httpx rather than the generated ``kubernetes`` models because the
jobs API hands raw manifests around anyway, and decoding 1,000 custom objects
into model classes costs more than the listing itself. Every call has a
timeout; reads are retried with backoff when the server is briefly away, and a
create whose answer was lost is tried once more (under a name chosen beforehand);
every error status becomes one of ``errors`` (404 on a type the server does not
serve means the CRD is missing, which is not the same as a missing object).
"""

from __future__ import annotations

import builtins
import json
import secrets
import ssl
import time
from collections.abc import Iterator

import httpx

from .credentials import KubeCredentials
from .errors import (
    AlreadyExists,
    ClusterUnreachable,
    ComponentMissing,
    InvalidSpec,
    JobsError,
    NotFound,
    PermissionDenied,
    Unauthenticated,
    UpstreamError,
)
from .resources import Resource

PatchBody = dict | list
"""A merge or strategic-merge patch (an object) or a JSON patch (a list of operations);
named out here, where ``list`` is not ``KubeClient.list``."""
READ_RETRIES = 3
"""Attempts for idempotent reads when the server is unreachable or overloaded."""
BUSY_STATUSES = (429, 503)
"""Answers after which a read is tried again (the server sheds load or is starting)."""
CREATE_ATTEMPTS = 2
"""Attempts for a create whose answer was lost (the object has a name of its own by then,
so a second attempt cannot make a second object)."""
NAME_SUFFIX_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the API server's own, for generateName


METADATA_LIST = "application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io,application/json"
"""Asks a list for metadata only; a server without that answers the full list (``list_metadata``
reads ``metadata`` either way)."""


class KubeClient:
    """Thread-safe; one per credentials. ``timeout`` bounds connect and each read."""

    def __init__(self, credentials: KubeCredentials, timeout: float = 10.0):
        self.credentials = credentials
        self.namespace = credentials.namespace
        self.timeout = timeout
        self._http = httpx.Client(
            base_url=credentials.server, verify=tls_verify(credentials), limits=httpx.Limits(max_connections=32)
        )

    def close(self) -> None:
        self._http.close()

    # ------------------------------------------------------------ verbs
    def get(self, resource: Resource, name: str, namespace: str | None = None) -> dict:
        ns = namespace or self.namespace
        return self._call("GET", "get", resource, ns, name, resource.path(ns, name))

    def list(
        self,
        resource: Resource,
        namespace: str | None = None,
        *,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> dict:
        ns = namespace or self.namespace
        params = {k: v for k, v in (("labelSelector", label_selector), ("fieldSelector", field_selector)) if v}
        return self._call("GET", "list", resource, ns, None, resource.path(ns), params=params)

    def list_metadata(
        self, resource: Resource, namespace: str | None = None, *, label_selector: str | None = None
    ) -> builtins.list[dict]:
        """The objects' ``metadata`` only (a ``PartialObjectMetadataList``): where a caller
        needs names or labels, the API server then encodes a fraction of each object."""
        ns = namespace or self.namespace
        params = {"labelSelector": label_selector} if label_selector else {}
        answer = self._call("GET", "list", resource, ns, None, resource.path(ns), params=params, accept=METADATA_LIST)
        return [item["metadata"] for item in answer["items"]]

    def create(self, resource: Resource, body: dict, namespace: str | None = None) -> dict:
        """Create ``body``; a ``generateName`` is turned into a name here, as the API
        server would, so that a create whose answer was lost (the connection dropped)
        can be tried again: a 409 then means the lost attempt made it."""
        ns = namespace or self.namespace
        body = with_own_name(body)
        name = body["metadata"]["name"]
        for attempt in range(CREATE_ATTEMPTS):
            try:
                return self._call("POST", "create", resource, ns, name, resource.path(ns), body=body)
            except ClusterUnreachable:
                if attempt + 1 == CREATE_ATTEMPTS:
                    raise
                time.sleep(0.2)
            except AlreadyExists:
                if attempt == 0:
                    raise
                return self.get(resource, name, ns)
        raise AssertionError("unreachable: the loop returns or raises")

    def patch(
        self,
        resource: Resource,
        name: str,
        patch: PatchBody,
        *,
        namespace: str | None = None,
        subresource: str | None = None,
        patch_type: str = "merge",
    ) -> dict:
        ns = namespace or self.namespace
        content_type = {
            "merge": "application/merge-patch+json",
            "strategic": "application/strategic-merge-patch+json",
            "json": "application/json-patch+json",
        }[patch_type]
        return self._call(
            "PATCH",
            "patch",
            resource,
            ns,
            name,
            resource.path(ns, name, subresource),
            body=patch,
            content_type=content_type,
        )

    def delete(
        self,
        resource: Resource,
        name: str,
        namespace: str | None = None,
        propagation: str = "Background",
    ) -> dict:
        ns = namespace or self.namespace
        return self._call(
            "DELETE",
            "delete",
            resource,
            ns,
            name,
            resource.path(ns, name),
            body={"propagationPolicy": propagation},
        )

    def open_stream(
        self,
        verb: str,
        resource: Resource,
        name: str | None,
        *,
        subresource: str | None = None,
        params: dict | None = None,
        namespace: str | None = None,
    ) -> Stream:
        """Open a long-lived GET (a watch, or logs with ``follow``); iterate it for lines.

        Connecting is bounded by ``timeout``; reading is not (a quiet job may
        print nothing for an hour). ``close()`` ends it, from any thread.
        """
        ns = namespace or self.namespace
        request = stream_request(
            self._http, self.credentials, resource.path(ns, name, subresource), params, self.timeout
        )
        try:
            response = self._http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise unreachable(self.credentials, exc) from exc
        if response.status_code >= 400:
            response.read()
            response.close()
            raise api_error(response, verb, resource, ns, name)
        return Stream(response, self)

    # ------------------------------------------------------------ internals
    def _call(
        self,
        method: str,
        verb: str,
        resource: Resource,
        namespace: str | None,
        name: str | None,
        path: str,
        *,
        params: dict | None = None,
        body=None,
        content_type: str = "application/json",
        accept: str = "application/json",
    ) -> dict:
        attempts = READ_RETRIES if method == "GET" else 1
        content = None if body is None else json.dumps(body)
        for attempt in range(attempts):
            try:
                response = self._http.request(
                    method,
                    path,
                    params=params,
                    content=content,
                    timeout=self.timeout,
                    headers={
                        **auth_headers(self.credentials, content_type if content else None),
                        "Accept": accept,
                    },
                )
            except httpx.TransportError as exc:
                if attempt + 1 < attempts:
                    time.sleep(retry_delay(attempt))
                    continue
                raise unreachable(self.credentials, exc) from exc
            if response.status_code in BUSY_STATUSES and attempt + 1 < attempts:
                time.sleep(retry_delay(attempt))
                continue
            if response.status_code >= 400:
                raise api_error(response, verb, resource, namespace, name)
            return response.json()
        raise AssertionError("unreachable: the loop returns or raises")


class Stream:
    """Lines of a streaming response; closing it (from any thread) ends the iteration."""

    def __init__(self, response: httpx.Response, client: KubeClient):
        self._response = response
        self._client = client
        self.closed = False

    def __iter__(self) -> Iterator[str]:
        try:
            yield from self._response.iter_lines()
        except (httpx.TransportError, httpx.StreamError) as exc:
            if not self.closed:
                raise unreachable(self._client.credentials, exc) from exc
        finally:
            self.close()

    def close(self) -> None:
        self.closed = True
        self._response.close()

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def with_own_name(body: dict) -> dict:
    """``body`` with a name: its own, or ``generateName`` plus five random characters
    (what the API server would pick; ``generateName`` stays on the object)."""
    meta = body.get("metadata") or {}
    if meta.get("name") or not meta.get("generateName"):
        return body
    suffix = "".join(secrets.choice(NAME_SUFFIX_ALPHABET) for _ in range(5))
    return {**body, "metadata": {**meta, "name": meta["generateName"][:58] + suffix}}


# ------------------------------------------- shared with the async client (aiokube)
def retry_delay(attempt: int) -> float:
    """Seconds before attempt ``attempt + 1`` of a read: 0.2, 0.4, 0.8, ..."""
    return 0.2 * 2**attempt


def auth_headers(credentials: KubeCredentials, content_type: str | None = None) -> dict:
    headers = {
        "Authorization": f"Bearer {credentials.bearer_token()}",
        "Accept": "application/json",
    }
    if content_type:
        headers["Content-Type"] = content_type
    return headers


def stream_request(
    http: httpx.Client | httpx.AsyncClient,
    credentials: KubeCredentials,
    path: str,
    params: dict | None,
    timeout: float,
    read_timeout: float | None = None,
) -> httpx.Request:
    """A long-lived GET: connecting bounded by ``timeout``, each read by ``read_timeout``."""
    return http.build_request(
        "GET",
        path,
        params=params,
        headers=auth_headers(credentials),
        timeout=httpx.Timeout(timeout, read=read_timeout),
    )


def tls_verify(credentials: KubeCredentials) -> ssl.SSLContext | bool:
    """What httpx verifies the API server's certificate against."""
    if credentials.ca_file:
        return ssl.create_default_context(cafile=credentials.ca_file)
    return True


def watch_params(resource_version: str | None, timeout_seconds: int, name: str | None = None) -> dict:
    """Query of a watch from ``resource_version`` (of one object when ``name`` is given)."""
    params = {"watch": "true", "timeoutSeconds": str(timeout_seconds)}
    if name:
        params["fieldSelector"] = f"metadata.name={name}"
    if resource_version:
        params["resourceVersion"] = resource_version
    return params


def watch_event(line: str) -> tuple[str, dict] | None:
    """(type, object) of one watch line; ``RESYNC`` for 410 Gone (relist); None to skip."""
    if not line:
        return None
    event = json.loads(line)
    if event["type"] == "ERROR":
        if event["object"].get("code") == 410:
            return "RESYNC", event["object"]
        return None
    return event["type"], event["object"]


def unreachable(credentials: KubeCredentials, exc: Exception) -> ClusterUnreachable:
    return ClusterUnreachable(
        f"The Kubernetes API server at {credentials.server} did not answer "
        f"({type(exc).__name__}). Try again in a moment; if it persists, tell your operator."
    )


def api_error(
    response: httpx.Response,
    verb: str,
    resource: Resource,
    namespace: str | None,
    name: str | None,
) -> JobsError:
    try:
        status = response.json()
    except ValueError:
        status = None
    if not isinstance(status, dict) or status.get("kind") != "Status":
        status = None
    message = (status or {}).get("message") or response.text.strip()
    code = response.status_code
    what = f"{resource.kind} {name!r}" if name else resource.qualified
    if code == 401:
        return Unauthenticated(
            "The Kubernetes API server did not accept your service-account "
            "token; restart your notebook server to get a fresh one."
        )
    if code == 403:
        return PermissionDenied(verb, resource.qualified, namespace, message)
    if code == 404:
        # A missing object is answered with a Status; a type the server
        # does not serve at all (no CRD) with a bare "404 page not found".
        if status is None:
            return ComponentMissing(resource.component, resource.qualified)
        return NotFound(f"{what} not found in namespace {namespace!r}.")
    if code == 409:
        return AlreadyExists(
            f"{what} already exists in namespace {namespace!r}; choose another name or delete the old one."
        )
    if code in (400, 422):
        causes = ((status or {}).get("details") or {}).get("causes") or []
        if causes:
            return InvalidSpec(causes[0].get("field") or "spec", causes[0].get("message") or message)
        return InvalidSpec("spec", message)
    if code in (429, 503, 504):
        return ClusterUnreachable(
            f"The Kubernetes API server is overloaded or unavailable ({code}: {message}). Try again in a moment."
        )
    return UpstreamError(f"The Kubernetes API server answered {code} to {verb} {what}: {message}")
