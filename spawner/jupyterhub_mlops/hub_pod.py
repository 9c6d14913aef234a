"""What the suite's parts need from the Zero-to-JupyterHub hub pod they run in.

Called from ``hub.extraConfig`` (helm-values/values.yaml), inside the chart's
jupyterhub_config.py.

**Managed services get a filtered environment.** JupyterHub starts a managed
service with only what the service's ``environment`` names and its own
``JUPYTERHUB_*`` variables. The suite's services load the chart's
jupyterhub_config.py too (for the GPU profiles and caps), and that file reads
the Service links (``PROXY_API_SERVICE_PORT``, ``HUB_SERVICE_PORT``) and the
pod's namespace; their Kubernetes clients need the in-cluster API server
address (``KUBERNETES_SERVICE_HOST/PORT``). ``give_services_the_pod_environment``
hands those to the named services, and never a secret (the proxy's token stays
with the hub).

**The services call the Hub API inside the pod**, on the hub's own listening
address, not through the hub Service: the chart's hub NetworkPolicy admits
only pods labelled for hub access, and the hub pod itself is not one of them.

**The notebook side finds the hub's services through the public URL**
(``notebook_environment``): the availability API (the fit check, ``%mlops
gpus``, the sidebar's GPU panel), the SSH gateway's host and port and its key
API (the sidebar's SSH panel).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from urllib.parse import urlsplit

from .availability.app import SERVICE_NAME as AVAILABILITY_SERVICE

POD_VARIABLES = (
    "KUBERNETES_SERVICE_HOST",
    "KUBERNETES_SERVICE_PORT",
    "POD_NAMESPACE",
    "HELM_RELEASE_NAME",
    "PYTHONUNBUFFERED",
)
"""Variables of the hub container (the chart's and the kubelet's) a service needs."""
SERVICE_LINK = re.compile(r"[A-Z][A-Z0-9_]*_SERVICE_(HOST|PORT)(_[A-Z0-9_]+)?")
"""The kubelet's Service link variables (``HUB_SERVICE_PORT``, ``PROXY_API_SERVICE_HOST``...)."""
SSH_SERVICE = "ssh"


def hub_api_url(hub_bind_url: str, base_url: str = "/") -> str:
    """The Hub API where the hub listens, as a process of the hub pod reaches it.

    ``http://:8081`` (every interface, the chart's bind URL) is reached on loopback."""
    parts = urlsplit(hub_bind_url)
    host = parts.hostname or "127.0.0.1"
    if host in ("0.0.0.0", "::"):
        host = "127.0.0.1"
    host = f"[{host}]" if ":" in host else host
    base = "/" + base_url.strip("/") + "/" if base_url.strip("/") else "/"
    return f"{parts.scheme or 'http'}://{host}:{parts.port or 8081}{base}hub/api"


def service_environment(environ: Mapping[str, str], api_url: str) -> dict[str, str]:
    """What a managed service gets from the hub pod (see the module docstring)."""
    env = {key: environ[key] for key in POD_VARIABLES if key in environ}
    env.update({key: value for key, value in environ.items() if SERVICE_LINK.fullmatch(key)})
    env["JUPYTERHUB_API_URL"] = api_url
    return env


def give_services_the_pod_environment(c, names: Iterable[str], environ: Mapping[str, str] = os.environ) -> None:
    """Add ``service_environment`` to the named entries of ``c.JupyterHub.services``
    (the service's own ``environment`` wins where both set a variable)."""
    api_url = hub_api_url(c.JupyterHub.get("hub_bind_url", "http://:8081"), c.JupyterHub.get("base_url", "/"))
    wanted = set(names)
    for service in c.JupyterHub.services:
        if service["name"] in wanted:
            service["environment"] = {**service_environment(environ, api_url), **(service.get("environment") or {})}
            wanted.discard(service["name"])
    if wanted:
        raise ValueError(f"no hub service named {', '.join(sorted(wanted))} in hub.services")


def notebook_environment(public_url: str, ssh_host: str, ssh_port: int) -> dict[str, str]:
    """The notebook side's settings for the hub's services, reached at ``public_url``
    (``https://hub.example.org/``) and the SSH gateway at ``ssh_host:ssh_port``."""
    base = public_url.rstrip("/")
    return {
        "MLOPS_AVAILABILITY_URL": f"{base}/services/{AVAILABILITY_SERVICE}/api/v1/snapshot",
        "MLOPS_SSH_HOST": ssh_host,
        "MLOPS_SSH_PORT": str(ssh_port),
        "MLOPS_SSH_KEYS_URL": f"{base}/services/{SSH_SERVICE}/api/keys",
    }
