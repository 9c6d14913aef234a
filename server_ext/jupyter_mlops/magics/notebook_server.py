"""The notebook server that started this kernel, and its job streams: what live displays read.

A live display follows its job through the notebook server's ``watch`` route
(``GET {base_url}/mlops/api/v1/jobs/{kind}/{name}/watch``, the one the
sidebar reads), which the server answers from its one informer per kind
(``jobs/informer.py``): a display costs the server a subscriber's queue, not
an API-server watch or a thread, and the kernel opens no watch of its own.

The kernel finds its server the way Jupyter's own tools do: jupyter_client
gives every kernel its launcher's pid (``JPY_PARENT_PID``), and a running
jupyter-server describes itself (URL, token) in ``jpserver-<pid>.json`` of
the Jupyter runtime directory, readable only by its own user. The kernel
authenticates with that token; in a JupyterHub single-user server it is the
server's own JupyterHub token (``JUPYTERHUB_API_TOKEN``), which the hub always
lets into its own server.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

import httpx
from jupyter_core.paths import jupyter_runtime_dir

from ..extension import API_PREFIX
from ..handlers import HEARTBEAT_SECONDS
from ..jobs import ClusterUnreachable, JobsError, NotFound, TokenRefused, UpstreamError
from ..jobs.kind import JobKind

CONNECT_SECONDS = 10.0
READ_SECONDS = 4 * HEARTBEAT_SECONDS
"""A quiet stream still gets a keep-alive every HEARTBEAT_SECONDS; this long silent, the
server is gone."""


@dataclass(frozen=True)
class NotebookServer:
    url: str
    """Base URL, ending with a slash (``http://127.0.0.1:8888/user/alice/``)."""
    token: str
    socket: str | None = None
    """The server's Unix socket when it listens on one (then ``url`` is ``http://localhost/...``)."""

    @classmethod
    def of_this_kernel(cls, environ: Mapping[str, str] = os.environ) -> NotebookServer | None:
        """The jupyter-server that launched this kernel; None when no server did (a terminal
        IPython, a kernel started by hand)."""
        pid = environ.get("JPY_PARENT_PID", "")
        if not pid.isdigit():
            return None
        runtime = environ.get("JUPYTER_RUNTIME_DIR") or jupyter_runtime_dir()
        try:
            info = json.loads((Path(runtime) / f"jpserver-{pid}.json").read_text())
        except (OSError, ValueError):
            return None  # launched by something other than a jupyter-server (jupyter_client itself)
        token = info.get("token") or ""
        if info.get("sock"):
            return cls(f"http://localhost{info.get('base_url') or '/'}", token, info["sock"])
        return cls(info["url"].rstrip("/") + "/", token)

    def job_events(self, kind: JobKind, name: str) -> Iterator[dict]:
        """``{"type", "job"}`` for the job now (``ADDED``), then for each change, up to and
        including ``DELETED``; ``job`` is the job's summary.

        Ends only after ``DELETED`` (or when the caller stops); a server that
        cannot be reached, refuses, or ends the stream otherwise raises a
        ``JobsError`` saying so.
        """
        url = f"{self.url}{API_PREFIX}/jobs/{kind.collection}/{name}/watch"
        transport = httpx.HTTPTransport(uds=self.socket) if self.socket else None
        timeout = httpx.Timeout(CONNECT_SECONDS, read=READ_SECONDS)
        headers = {"Authorization": f"token {self.token}"}
        try:
            with httpx.Client(transport=transport, timeout=timeout, headers=headers) as http:
                with http.stream("GET", url) as response:
                    if response.status_code != 200:
                        raise refused(response.status_code, response.read(), self.url)
                    for line in response.iter_lines():
                        if not line.startswith("data: "):
                            continue  # the event's name, a keep-alive comment, a blank line
                        event = json.loads(line[len("data: ") :])
                        yield event
                        if event["type"] == "DELETED":
                            return
        except httpx.HTTPError as exc:
            raise ClusterUnreachable(
                f"The notebook server at {self.url} stopped answering ({exc}); "
                "restart the kernel if the server was restarted."
            ) from exc
        raise ClusterUnreachable(
            f"The notebook server at {self.url} ended the stream of {kind.name} {name}; "
            "restart the kernel if the server was restarted."
        )


def refused(status: int, body: bytes, url: str) -> JobsError:
    """The server's error answer as the ``JobsError`` a user acts on, with its sentence."""
    try:
        message = json.loads(body)["message"]
    except (ValueError, KeyError, TypeError):
        message = f"The notebook server at {url} answered {status}."
    if status == 404:
        return NotFound(message)
    if status == 503:
        return ClusterUnreachable(message)
    if status in (401, 403):
        return TokenRefused(
            f"The notebook server at {url} refused this kernel's token ({message}); restart the kernel."
        )
    return UpstreamError(message)
