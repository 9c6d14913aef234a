"""Cluster DNS for local processes: Service names in a pod's environment become pod IPs.

In a pod, ``MASTER_ADDR=<job>-master-0`` (what the Training Operator sets for
torch.distributed's ``env://``) resolves through cluster DNS to the master
pod's IP. A local process resolves names through this machine's resolver,
which knows no Service. So when the pod runner starts a process, every
environment value that names a Service of the pod's namespace (``svc``,
``svc.ns``, ``svc.ns.svc``, ``svc.ns.svc.cluster.local``) is replaced by the IP
of a running pod the Service selects, as the headless Service's DNS record
would answer.

The rendezvous variables (``ADDRESS_VARIABLES``) must resolve: until their
Service exists and selects a pod with an IP, the process is not started, as
the Training Operator's ``init-pytorch`` init container waits with
``nslookup $MASTER_ADDR`` on a real cluster. Other values that resolve to
nothing are left as written.
"""

from __future__ import annotations

import re

ADDRESS_VARIABLES = ("MASTER_ADDR", "PET_MASTER_ADDR")
DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")


class AddressNotResolvable(ValueError):
    """A rendezvous address names no Service with a running pod yet."""


def service_name(value: str, namespace: str) -> str | None:
    """The Service a DNS name in ``namespace`` refers to, or None if it is not one."""
    first, _, rest = value.partition(".")
    if not DNS_LABEL.match(first) or first == "localhost":
        return None
    if rest in ("", namespace, f"{namespace}.svc", f"{namespace}.svc.cluster.local"):
        return first
    return None


def selected_ips(service: dict, pods: list[dict]) -> list[str]:
    """IPs of the running pods ``service`` selects, by pod name (a stable answer)."""
    selector = (service.get("spec") or {}).get("selector") or {}
    if not selector:
        return []
    ips = []
    for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
        labels = pod["metadata"].get("labels") or {}
        status = pod.get("status") or {}
        if (
            all(labels.get(k) == v for k, v in selector.items())
            and status.get("podIP")
            and status.get("phase") == "Running"
            and not pod["metadata"].get("deletionTimestamp")
        ):
            ips.append(status["podIP"])
    return ips


def resolve(env: dict[str, str], namespace: str, services: dict[str, dict], pods: list[dict]) -> dict[str, str]:
    """``env`` with Service names replaced by pod IPs (see the module docstring).

    ``services``: the namespace's Services by name; ``pods``: its pods.
    Raises ``AddressNotResolvable`` for a rendezvous variable that does not resolve yet.
    """
    resolved = dict(env)
    for key, value in env.items():
        name = service_name(value, namespace)
        if name is None:
            continue
        ips = selected_ips(services[name], pods) if name in services else []
        if ips:
            resolved[key] = ips[0]
        elif key in ADDRESS_VARIABLES:
            why = "selects no running pod yet" if name in services else "does not exist yet"
            raise AddressNotResolvable(f"{key}={value}: Service {namespace}/{name} {why}")
    return resolved
