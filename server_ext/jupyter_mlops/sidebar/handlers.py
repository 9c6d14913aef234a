"""REST routes the sidebar adds to the jobs API (same client, errors and authentication).

- ``GET /sidebar/jobs/{kind}/{name}``: ``gpus``, ``gpu_type``, ``conditions`` and, for a
  sweep, ``objective`` (metric, goal, search space).
- ``POST /sidebar/workflows/from-file``: ``{"path", "if_not_fits"}``, submits the Hera
  workflow a .py file defines (see ``hera_file``); answers like ``POST /jobs/workflows``.
- ``GET /ssh``: how to connect to this server over SSH.
- ``GET|POST /ssh/keys``, ``DELETE /ssh/keys/{fingerprint}``: the SSH gateway's key API,
  called with this server's JupyterHub token.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import quote

import httpx
import tornado.web
from mlops_contract.ssh import connection_help

from ..handlers import KIND_RE, NAME_RE, JobsHandler, maps_errors, spec_from_json
from ..jobs.errors import ClusterUnreachable, InvalidSpec, JobsError, UpstreamError
from .hera_file import inside_root, workflow_manifest
from .jobinfo import conditions, sweep_objective
from .ssh import MlopsSsh

GATEWAY_TIMEOUT_SECONDS = 5.0


class SshNotConfigured(JobsError):
    """The operator has not told this server where the SSH gateway is."""

    http_status = 503
    code = "ssh-not-configured"


class GatewayAnswer(JobsError):
    """The key API refused; its status (5xx as 502) and message are passed on."""

    code = "ssh-gateway"

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.http_status = status


class SidebarJobHandler(JobsHandler):
    @tornado.web.authenticated
    @maps_errors
    async def get(self, collection: str, name: str) -> None:
        handle = self.job(collection, name)  # 404 for an unknown kind, 400 for a bad name
        obj = await self.call(handle.get)
        self.send({**handle.kind.requested_gpus(obj), "conditions": conditions(obj), "objective": sweep_objective(obj)})


class WorkflowFromFileHandler(JobsHandler):
    @tornado.web.authenticated
    @maps_errors
    async def post(self) -> None:
        body = self.body()
        if_not_fits = body.get("if_not_fits", "refuse")  # checked by submit, before anything is made
        root = self.settings["server_root_dir"]
        file = inside_root(root, body.get("path"))
        manifest = await self.call(workflow_manifest, file)
        folder = str(file.parent.relative_to(Path(root).resolve()))
        spec = spec_from_json("workflow", json.dumps({"manifest": manifest, "snapshot": {"path": folder}}), root)
        handle = await self.call(self.jobs.submit, spec, if_not_fits=if_not_fits)
        self.send(
            {"kind": "workflow", "name": handle.name, "namespace": handle.namespace, "warnings": handle.warnings},
            status=201,
        )


class SshHandler(JobsHandler):
    """Shared by the SSH routes: this server's SSH settings."""

    @property
    def ssh(self) -> dict:
        # Built per request: cheap, and it reads the environment the server runs with.
        return MlopsSsh(parent=self.settings["serverapp"]).resolved()


class SshInfoHandler(SshHandler):
    @tornado.web.authenticated
    @maps_errors
    async def get(self) -> None:
        ssh = self.ssh
        user = os.environ.get("JUPYTERHUB_USER") or getattr(self.current_user, "username", None) or ""
        server = os.environ.get("JUPYTERHUB_SERVER_NAME", "")
        body = {"configured": bool(ssh["host"]), "keys_api": bool(ssh["keys_url"]), "user": user, "server": server}
        if ssh["host"]:
            body.update(connection_help(user, server, ssh["host"], ssh["port"], ssh["alias"]))
        self.send(body)


class SshGatewayHandler(SshHandler):
    """Calls the SSH gateway's key API with this server's JupyterHub token."""

    async def gateway(self, method: str, path: str, payload: dict | None = None):
        ssh = self.ssh
        if not ssh["keys_url"]:
            raise SshNotConfigured(
                "This server does not know the SSH gateway's key API "
                "(MlopsSsh.keys_url / MLOPS_SSH_KEYS_URL); ask your operator to "
                "set it, or register keys on the hub."
            )
        headers = {"Authorization": f"token {ssh['token']}"} if ssh["token"] else {}
        url = ssh["keys_url"].rstrip("/") + path
        try:
            async with httpx.AsyncClient(timeout=GATEWAY_TIMEOUT_SECONDS) as client:
                response = await client.request(method, url, headers=headers, json=payload)
        except httpx.TransportError as exc:
            raise ClusterUnreachable(
                f"The SSH gateway's key API at {url} did not answer ({type(exc).__name__}); try again later."
            ) from exc
        if response.status_code == 204:
            return None
        try:
            data = response.json()
        except json.JSONDecodeError:
            raise UpstreamError(f"The SSH gateway's key API answered {response.status_code} without JSON.") from None
        if response.status_code >= 400:
            raise GatewayAnswer(
                response.status_code if response.status_code < 500 else 502,
                f"The SSH gateway refused: {data.get('message') or response.reason_phrase}",
            )
        return data


class SshKeysHandler(SshGatewayHandler):
    """``GET|POST /ssh/keys``: my registered keys; add one."""

    @tornado.web.authenticated
    @maps_errors
    async def get(self) -> None:
        self.send(await self.gateway("GET", ""))

    @tornado.web.authenticated
    @maps_errors
    async def post(self) -> None:
        body = self.body()
        if not isinstance(body.get("key"), str) or not body["key"].strip():
            raise InvalidSpec("key", "paste one public key line, e.g. 'ssh-ed25519 AAAA... you@laptop'")
        self.send(await self.gateway("POST", "", {"key": body["key"].strip()}), status=201)


class SshKeyHandler(SshGatewayHandler):
    """``DELETE /ssh/keys/{fingerprint}``: remove one key (the route's only method)."""

    @tornado.web.authenticated
    @maps_errors
    async def delete(self, fingerprint: str) -> None:
        await self.gateway("DELETE", "/" + quote(fingerprint, safe=""))
        self.set_status(204)
        self.finish()


ROUTES = [
    (rf"/sidebar/jobs/{KIND_RE}/{NAME_RE}", SidebarJobHandler),
    (r"/sidebar/workflows/from-file", WorkflowFromFileHandler),
    (r"/ssh", SshInfoHandler),
    (r"/ssh/keys", SshKeysHandler),
    (r"/ssh/keys/([^/]+)", SshKeyHandler),
]
