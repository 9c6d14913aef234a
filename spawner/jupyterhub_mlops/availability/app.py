"""The availability service: a JupyterHub-managed process that owns the GPU
inventory and answers the spawner, the browser and the notebook side.

Run by JupyterHub (see ``configure_hub``) as

    python -m jupyterhub_mlops.availability --config=/etc/jupyterhub/jupyterhub_config.py

It reads ``GpuProfiles`` and ``AvailabilityService`` settings from that file
(the same file as the hub's, so profiles are configured once), listens where
``JUPYTERHUB_SERVICE_URL`` says and authenticates every request with
JupyterHub (``HubOAuth``).
"""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import sys
from urllib.parse import urlparse

import prometheus_client
from kubernetes_asyncio import client as k8s_client
from kubernetes_asyncio import config as k8s_config
from tornado import web
from traitlets import Bool, Float, List, Unicode
from traitlets.config import Application

from ..inventory.state import GpuInventory
from ..inventory.watch import InventoryWatcher
from ..jobs_metrics import JobsCollector, JobsWatcher
from ..profiles import GpuProfiles
from .groups import GroupDirectory
from .handlers import Changes, routes
from .queue_sync import QueueSync
from .state import Availability

SERVICE_NAME = "gpu-availability"
SPAWNER_SERVICE_NAME = "gpu-spawner"


class AvailabilityService(Application):
    name = "jupyterhub-mlops-availability"
    description = "GPU availability for JupyterHub: inventory, reservations, JSON and SSE API."
    aliases = {
        "config": "AvailabilityService.config_file",
        "kubeconfig": "AvailabilityService.kubeconfig",
    }
    classes = [GpuProfiles]

    config_file = Unicode(
        "",
        help="""
        A traitlets config file (typically jupyterhub_config.py) to read
        GpuProfiles and AvailabilityService settings from.""",
    ).tag(config=True)

    kubeconfig = Unicode(
        os.environ.get("KUBECONFIG", ""),
        help="""
        Kubeconfig file to reach the API server; empty inside a pod (uses the
        pod's service account). Needs list/watch on nodes and pods cluster-wide.
        """,
    ).tag(config=True)

    trusted_services = List(
        Unicode(),
        default_value=[SPAWNER_SERVICE_NAME],
        help="""
        JupyterHub services allowed to reserve and release GPUs and to read any
        user's view: the principal whose token GPUKubeSpawner uses.""",
    ).tag(config=True)

    reservation_ttl = Float(
        900,
        help="""
        Seconds after which a reservation whose pod never got bound is dropped
        (a spawner that died mid-spawn). Keep above the spawner's start_timeout.
        """,
    ).tag(config=True)

    ip = Unicode(
        "",
        help="""
        Address to listen on; empty: the host of the service URL JupyterHub
        gives ($JUPYTERHUB_SERVICE_URL). In Zero-to-JupyterHub that URL names
        the hub Service (http://hub:10101), which cannot be bound inside the hub
        pod: set 0.0.0.0 there.""",
    ).tag(config=True)

    export_job_metrics = Bool(
        True,
        help="""
        Also export jupyterhub_mlops_jobs{kind,state} on /metrics, from one
        list/watch per job kind (PyTorchJob, Experiment, Workflow) across
        namespaces. Kinds whose CRD is not installed are skipped.""",
    ).tag(config=True)

    request_timeout = Float(30, help="Timeout of each list request to the API server, seconds.").tag(config=True)

    group_members_ttl = Float(
        30,
        help="""
        Seconds the members of a group with a GPU quota (GpuProfiles.group_gpu_quotas)
        are cached for the spawn page and its live numbers. Reservations always
        read the members afresh from the Hub API.""",
    ).tag(config=True)

    def initialize(self, argv=None):
        super().initialize(argv)
        if self.config_file:
            self.load_config_file(self.config_file)
            self.update_config(self.cli_config)  # the command line wins over the file

    async def _api_client(self) -> k8s_client.ApiClient:
        if self.kubeconfig:
            return await k8s_config.new_client_from_config(config_file=self.kubeconfig)
        k8s_config.load_incluster_config()
        return k8s_client.ApiClient()

    def inventory(self) -> GpuInventory:
        """An empty inventory counting GPUs where GPU pods may go
        (``GpuProfiles.gpu_tolerations``, as the spawner's pods tolerate)."""
        return GpuInventory(tolerations=GpuProfiles(parent=self).gpu_tolerations)

    async def serve(self) -> None:
        api = await self._api_client()
        inventory = self.inventory()
        availability = Availability(inventory, GpuProfiles(parent=self), self.reservation_ttl)
        changes = Changes()
        watcher = InventoryWatcher(inventory, api, request_timeout=self.request_timeout)
        watcher.on_change.append(availability.settle)
        watcher.on_change.append(changes.notify)
        queue_sync = None
        profiles = availability.profiles
        if profiles.queue_with_kueue:
            sync = QueueSync(api, profiles, inventory, timeout=self.request_timeout)
            watcher.on_change.append(sync.on_change)
            queue_sync = asyncio.ensure_future(sync.run())
        watcher.start()
        url = urlparse(os.environ.get("JUPYTERHUB_SERVICE_URL", "http://127.0.0.1:10101"))
        prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX", f"/services/{SERVICE_NAME}/")
        app = web.Application(
            routes(prefix),
            availability=availability,
            changes=changes,
            trusted_services=set(self.trusted_services),
            # JupyterHub gives a managed service its API URL and token.
            groups=GroupDirectory(
                os.environ.get("JUPYTERHUB_API_URL", "http://127.0.0.1:8081/hub/api"),
                os.environ.get("JUPYTERHUB_API_TOKEN", ""),
                ttl=self.group_members_ttl,
            ),
            service_name=os.environ.get("JUPYTERHUB_SERVICE_NAME", SERVICE_NAME),
            cookie_secret=secrets.token_bytes(32),
        )
        jobs_watch = None
        if self.export_job_metrics:
            jobs = JobsWatcher(api)
            prometheus_client.REGISTRY.register(JobsCollector(jobs.table))
            jobs_watch = asyncio.ensure_future(jobs.run())
        server = app.listen(url.port, self.ip or url.hostname)  # type: ignore[arg-type]  # the hub names a port
        self.log.info("GPU availability service on %s%s", url.geturl(), prefix)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        server.stop()
        for task in (jobs_watch, queue_sync):
            if task is not None:
                task.cancel()
        await watcher.stop()
        await api.close()

    def start(self) -> None:
        asyncio.run(self.serve())


def main(argv=None) -> None:
    app = AvailabilityService.instance()
    app.initialize(argv)
    app.start()


def configure_hub(
    c,
    *,
    port: int,
    spawner_token: str,
    config_file: str,
    kubeconfig: str = "",
    python: str = sys.executable,
) -> None:
    """Wire the service into a JupyterHub config ``c`` in one call.

    Registers the managed service ``gpu-availability`` (run with this Python,
    reading ``config_file``), the token-only service ``gpu-spawner`` whose
    token GPUKubeSpawner uses, and roles letting that service and every user
    read the availability API, and the availability service read group
    members (for group GPU quotas). ``spawner_token`` is a secret: pass it from the
    environment, never write it in the file.
    """
    environment = {"KUBECONFIG": kubeconfig} if kubeconfig else {}
    # An unset list in a traitlets Config is a LazyConfigValue, not a list.
    services = list(c.JupyterHub.services) if "services" in c.JupyterHub else []
    services += [
        {
            "name": SERVICE_NAME,
            "url": f"http://127.0.0.1:{port}",
            "oauth_no_confirm": True,
            "command": [python, "-m", "jupyterhub_mlops.availability", f"--config={config_file}"],
            "environment": environment,
        },
        {"name": SPAWNER_SERVICE_NAME, "api_token": spawner_token},
    ]
    c.JupyterHub.services = services
    roles = list(c.JupyterHub.load_roles) if "load_roles" in c.JupyterHub else []
    roles += [
        {
            "name": "gpu-spawner",
            "scopes": [f"access:services!service={SERVICE_NAME}"],
            "services": [SPAWNER_SERVICE_NAME],
        },
        {"name": "user", "scopes": ["self", f"access:services!service={SERVICE_NAME}"]},
        {"name": SERVICE_NAME, "scopes": ["read:groups"], "services": [SERVICE_NAME]},
    ]
    # Notebook servers ask the service with their own token ($JUPYTERHUB_API_TOKEN,
    # whose scopes come from the `server` role): the sidebar, %mlops gpus and the
    # fit check of the jobs API.
    server = next((r for r in roles if r["name"] == "server"), None)
    if server is None:
        server = {"name": "server", "scopes": ["users:activity!user", "access:servers!server"]}
        roles.append(server)
    server["scopes"].append(f"access:services!service={SERVICE_NAME}")
    c.JupyterHub.load_roles = roles
    c.GPUKubeSpawner.availability_url = f"http://127.0.0.1:{port}/services/{SERVICE_NAME}/"
    c.GPUKubeSpawner.availability_token = spawner_token
