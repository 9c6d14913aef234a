"""Wiring of the jupyter-server extension: routes are registered here, once."""

from __future__ import annotations

import threading

import prometheus_client
from jupyter_server.utils import url_path_join

from .config import MlopsJobs
from .jobs.metrics import COLLECTOR
from .routes import ROUTES

API_PREFIX = "mlops/api/v1"


def _load_jupyter_server_extension(serverapp) -> None:
    settings = serverapp.web_app.settings
    base_url = settings["base_url"]
    # The jobs client is built on first use, so a server without Kubernetes
    # credentials still starts (and answers 503 with the reason).
    settings["mlops_jobs_config"] = MlopsJobs(parent=serverapp)
    settings["mlops_jobs_client"] = None
    settings["mlops_jobs_lock"] = threading.Lock()
    settings["server_root_dir"] = serverapp.root_dir
    if COLLECTOR.settings is None:
        prometheus_client.REGISTRY.register(COLLECTOR)
    COLLECTOR.settings = settings
    handlers = [(url_path_join(base_url, API_PREFIX, path), handler) for path, handler in ROUTES]
    serverapp.web_app.add_handlers(".*$", handlers)
    serverapp.log.info("jupyter_mlops: REST API at %s", url_path_join(base_url, API_PREFIX))
