"""``AsyncKubeClient``: the Kubernetes reads the notebook server makes on its event loop.

The REST API's long-lived requests (the informers' list/watch, log
following) and the reads a stream starts with run here, on the server's
own loop, so an open stream costs a coroutine and a socket, never a thread.
Credentials, TLS, the error mapping and the watch protocol are ``kube``'s:
both clients answer the same failure with the same ``JobsError``.

The kernel's Python API keeps the blocking ``KubeClient``: a notebook cell
waits for one job at a time, and a private event loop there would buy
nothing but a thread.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import httpx

from .credentials import KubeCredentials
from .kube import (
    BUSY_STATUSES,
    READ_RETRIES,
    api_error,
    auth_headers,
    retry_delay,
    stream_request,
    tls_verify,
    unreachable,
)
from .resources import Resource


class AsyncKubeClient:
    """One per credentials, used from one event loop. ``timeout`` bounds connect and each read."""

    def __init__(self, credentials: KubeCredentials, timeout: float = 10.0):
        self.credentials = credentials
        self.namespace = credentials.namespace
        self.timeout = timeout
        self._http = httpx.AsyncClient(
            base_url=credentials.server,
            verify=tls_verify(credentials),
            limits=httpx.Limits(max_connections=64),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def get(self, resource: Resource, name: str, namespace: str | None = None) -> dict:
        ns = namespace or self.namespace
        return await self._read("get", resource, ns, name, resource.path(ns, name))

    async def list(self, resource: Resource, namespace: str | None = None) -> dict:
        ns = namespace or self.namespace
        return await self._read("list", resource, ns, None, resource.path(ns))

    @contextlib.asynccontextmanager
    async def stream_lines(
        self,
        verb: str,
        resource: Resource,
        name: str | None,
        *,
        subresource: str | None = None,
        params: dict | None = None,
        namespace: str | None = None,
        read_timeout: float | None = None,
    ) -> AsyncIterator[AsyncIterator[str]]:
        """A long-lived GET (a watch, logs with ``follow``) as lines; closed on leaving.

        Connecting is bounded by ``timeout``; each read by ``read_timeout``
        (None: unbounded, for a job that may print nothing for an hour). An
        error status raises its ``JobsError`` before anything is yielded.
        """
        ns = namespace or self.namespace
        path = resource.path(ns, name, subresource)
        request = stream_request(self._http, self.credentials, path, params, self.timeout, read_timeout)
        try:
            response = await self._http.send(request, stream=True)
        except httpx.TransportError as exc:
            raise unreachable(self.credentials, exc) from exc
        try:
            if response.status_code >= 400:
                await response.aread()
                raise api_error(response, verb, resource, ns, name)
            yield self._lines(response)
        finally:
            await response.aclose()

    async def _lines(self, response: httpx.Response) -> AsyncIterator[str]:
        try:
            async for line in response.aiter_lines():
                yield line
        except (httpx.TransportError, httpx.StreamError) as exc:
            raise unreachable(self.credentials, exc) from exc

    async def _read(self, verb: str, resource: Resource, namespace: str, name: str | None, path: str) -> dict:
        """A GET, retried with backoff while the server is away or overloaded (as ``KubeClient``)."""
        for attempt in range(READ_RETRIES):
            last = attempt + 1 == READ_RETRIES
            try:
                response = await self._http.get(path, timeout=self.timeout, headers=auth_headers(self.credentials))
            except httpx.TransportError as exc:
                if last:
                    raise unreachable(self.credentials, exc) from exc
                await asyncio.sleep(retry_delay(attempt))
                continue
            if response.status_code in BUSY_STATUSES and not last:
                await asyncio.sleep(retry_delay(attempt))
                continue
            if response.status_code >= 400:
                raise api_error(response, verb, resource, namespace, name)
            return response.json()
        raise AssertionError("unreachable: the loop returns or raises")
