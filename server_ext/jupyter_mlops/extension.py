"""Wiring of the jupyter-server extension: routes are registered here, once."""

from __future__ import annotations

from jupyter_server.utils import url_path_join

from .routes import ROUTES

API_PREFIX = "mlops/api/v1"


def _load_jupyter_server_extension(serverapp) -> None:
    base_url = serverapp.web_app.settings["base_url"]
    handlers = [(url_path_join(base_url, API_PREFIX, path), handler) for path, handler in ROUTES]
    serverapp.web_app.add_handlers(".*$", handlers)
    serverapp.log.info("jupyter_mlops: REST API at %s", url_path_join(base_url, API_PREFIX))
