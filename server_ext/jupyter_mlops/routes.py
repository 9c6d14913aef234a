"""HTTP handlers of the REST API. Every verb is authenticated."""

from __future__ import annotations

import json
import platform
from datetime import datetime, timezone

import tornado.web

from ._version import __version__
from .handlers import ROUTES as JOBS_ROUTES
from .handlers import AllowHeaderHandler
from .sidebar.handlers import ROUTES as SIDEBAR_ROUTES


class InfoHandler(AllowHeaderHandler):
    """``GET /mlops/api/v1/info``: who is asking and what is serving them.

    The sidebar calls it first, to show that it reached the server extension.
    """

    @tornado.web.authenticated
    def get(self) -> None:
        user = self.current_user
        self.finish(
            json.dumps(
                {
                    "name": "jupyter_mlops",
                    "version": __version__,
                    "user": getattr(user, "username", None) or getattr(user, "name", None) or str(user),
                    "server_time": datetime.now(timezone.utc).isoformat(),
                    "python": platform.python_version(),
                }
            )
        )


ROUTES = [
    (r"/info", InfoHandler),
    *JOBS_ROUTES,
    *SIDEBAR_ROUTES,
]
