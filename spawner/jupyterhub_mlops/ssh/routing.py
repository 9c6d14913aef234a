"""Finding a user's running notebook pod through the Kubernetes API."""

from __future__ import annotations

from mlops_contract.labels import KUBESPAWNER_SERVER_LABEL, KUBESPAWNER_USER_LABEL, label_value

from .names import Target
from .policy import PodAddress


class ServerNotRunning(Exception):
    """The user's server has no running pod; the message is one line for the user."""


def pod_selector(target: Target) -> str:
    """The label selector KubeSpawner's labels give a user's server pod (pure)."""
    return ",".join(
        [
            "component=singleuser-server",
            f"{KUBESPAWNER_USER_LABEL}={label_value(target.user)}",
            f"{KUBESPAWNER_SERVER_LABEL}={label_value(target.server)}",
        ]
    )


def is_pod_of(pod, target: Target) -> bool:
    """Whether ``pod`` (a V1Pod) is ``target``'s running server pod.

    Labels are escaped slugs; the annotations KubeSpawner writes carry the
    exact names, so they settle any doubt. A pod that is terminating or has no
    IP yet does not count.
    """
    annotations = pod.metadata.annotations or {}
    # KubeSpawner writes the same keys as annotations, with the names unescaped.
    return (
        annotations.get(KUBESPAWNER_USER_LABEL) == target.user
        and annotations.get(KUBESPAWNER_SERVER_LABEL, "") == target.server
        and pod.metadata.deletion_timestamp is None
        and pod.status is not None
        and pod.status.phase == "Running"
        and bool(pod.status.pod_ip)
    )


class PodLocator:
    """Looks a server's pod up on each new connection (no cache: pods come and go)."""

    def __init__(self, core_v1, namespace: str = "", timeout: float = 10, hub_url: str = ""):
        self.core_v1 = core_v1
        self.namespace = namespace
        self.timeout = timeout
        self.hub_url = hub_url

    async def locate(self, target: Target) -> PodAddress:
        selector = pod_selector(target)
        if self.namespace:
            pods = await self.core_v1.list_namespaced_pod(
                self.namespace, label_selector=selector, _request_timeout=self.timeout
            )
        else:
            pods = await self.core_v1.list_pod_for_all_namespaces(
                label_selector=selector, _request_timeout=self.timeout
            )
        running = [p for p in pods.items if is_pod_of(p, target)]
        if not running:
            where = f" at {self.hub_url}" if self.hub_url else " from the JupyterHub home page"
            raise ServerNotRunning(f"Your server {target.display} is not running: start it{where}, then connect again.")
        pod = running[0]
        return PodAddress(ip=pod.status.pod_ip, name=pod.metadata.name, namespace=pod.metadata.namespace)
