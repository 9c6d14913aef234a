"""What the local pod runner runs for a pod: pure functions over pod dicts.

The local cluster has no container runtime. For a pod that opts in with the
annotation ``jupyterhub-mlops.local/run-locally: "true"`` (or lives in a
namespace labelled so: every pod there opts in, e.g. a job's pods), the pod runner
(``pod_runner``) runs the main container's command as a local process. This
module decides *what* that process is, the way a kubelet would: the command
and args with ``$(VAR)`` references expanded, the environment from ``env`` and
``envFrom`` (downward API fields, Secret and ConfigMap keys), and a bind
address translated to the pod's IP.

Where a container and a local process differ, the translation is:

- The image's ENTRYPOINT is unknown, but for the images the runner is told of
  (``entrypoints``: image -> the local program standing in for its ENTRYPOINT,
  e.g. Katib's suggestion service and metrics collector, built from Katib's
  module): the pod must give ``command`` or ``args`` naming a program of this
  machine (``args`` alone is run as the command, as KubeSpawner writes
  notebook pods).
- The image's environment is this machine's: ``PATH``, ``LANG``... come from
  the runner (``base_env``); the pod's own variables override them.
- ``HOME`` (and the working directory) is a folder per user under a base
  folder, standing in for the user's home volume; ``workingDir`` is honoured
  only inside one of the pod's own volumes (see ``pod_volumes``), whose mount
  paths in the command and the environment become that pod's folders.
- "Listen on every interface" means "listen on the pod's IP" inside a pod: a
  wildcard host (``0.0.0.0``, ``::``, ``*`` or empty) in ``--ip`` options and in
  ``JUPYTERHUB_SERVICE_URL`` (where jupyterhub-singleuser reads its bind
  address) becomes the pod's IP, so two users' servers never share a socket.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from . import pod_volumes

RUN_LOCALLY_ANNOTATION = "jupyterhub-mlops.local/run-locally"
DEFAULT_CONTAINER_ANNOTATION = "kubectl.kubernetes.io/default-container"
USER_LABELS = ("hub.jupyter.org/username", "jupyterhub-mlops/user")
WILDCARD_HOSTS = {"0.0.0.0", "::", "[::]", "*", ""}

# lookup(kind, namespace, name) -> the object's data (values decoded), or None if it does not exist.
Lookup = Callable[[str, str, str], "dict[str, str] | None"]


class PodNotRunnable(ValueError):
    """The pod cannot run as a local process; the message says why, as a
    kubelet's CreateContainerConfigError would."""


@dataclass(frozen=True)
class LocalCommand:
    argv: list[str]
    env: dict[str, str]
    home: Path
    """HOME of the process."""
    cwd: Path
    """Its working directory: ``workingDir`` inside a pod volume, else ``home``."""


def wants_local_run(pod: dict, namespace_labels: dict[str, str] | None = None) -> bool:
    """The pod carries the annotation, or its namespace the label of that name."""
    annotations = pod.get("metadata", {}).get("annotations") or {}
    return (
        annotations.get(RUN_LOCALLY_ANNOTATION) == "true"
        or (namespace_labels or {}).get(RUN_LOCALLY_ANNOTATION) == "true"
    )


def ready_to_run(pod: dict, namespace_labels: dict[str, str] | None = None) -> bool:
    """Opted in, given an IP by the (simulated) kubelet, and not on its way out."""
    status = pod.get("status") or {}
    return (
        wants_local_run(pod, namespace_labels)
        and bool(status.get("podIP"))
        and not pod["metadata"].get("deletionTimestamp")
        and status.get("phase") not in ("Succeeded", "Failed")
    )


def shares_process_namespace(pod: dict) -> bool:
    """``shareProcessNamespace: true``: every container runs, in one PID namespace
    (``shared_process_namespace``); otherwise only the main container runs."""
    return bool(pod["spec"].get("shareProcessNamespace")) and len(pod["spec"]["containers"]) > 1


def main_container(pod: dict) -> dict:
    containers = pod["spec"]["containers"]
    wanted = (pod["metadata"].get("annotations") or {}).get(DEFAULT_CONTAINER_ANNOTATION)
    for container in containers:
        if container["name"] == wanted:
            return container
    return containers[0]


def expand(text: str, env: dict[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion: defined names are replaced, ``$$``
    escapes a ``$``, anything else is left as written."""

    def replace(match: re.Match) -> str:
        if match.group(0) == "$$":
            return "$"
        name = match.group(1)
        return env[name] if name in env else match.group(0)

    return re.sub(r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_.-]*)\)", replace, text)


def field_value(pod: dict, path: str) -> str:
    """The downward API: the value of ``fieldRef.fieldPath`` for this pod."""
    meta, spec, status = pod["metadata"], pod.get("spec") or {}, pod.get("status") or {}
    simple = {
        "metadata.name": meta.get("name"),
        "metadata.namespace": meta.get("namespace"),
        "metadata.uid": meta.get("uid"),
        "spec.nodeName": spec.get("nodeName"),
        "spec.serviceAccountName": spec.get("serviceAccountName"),
        "status.hostIP": status.get("hostIP"),
        "status.podIP": status.get("podIP"),
        "status.podIPs": ",".join(ip["ip"] for ip in status.get("podIPs") or []),
    }
    if path in simple:
        return simple[path] or ""
    keyed = re.fullmatch(r"metadata\.(labels|annotations)\['([^']+)'\]", path)
    if keyed:
        return (meta.get(keyed.group(1)) or {}).get(keyed.group(2), "")
    raise PodNotRunnable(f"fieldRef {path!r} is not supported by the local pod runner")


def _key_ref(ref: dict, kind: str, namespace: str, lookup: Lookup) -> str | None:
    data = lookup(kind, namespace, ref["name"])
    if data is not None and ref["key"] in data:
        return data[ref["key"]]
    if ref.get("optional"):
        return None
    missing = f"{kind} {namespace}/{ref['name']}"
    raise PodNotRunnable(f"{missing} not found" if data is None else f"key {ref['key']!r} not found in {missing}")


def container_env(pod: dict, container: dict, lookup: Lookup) -> dict[str, str]:
    """The container's environment as the kubelet computes it: ``envFrom``
    first, then ``env`` in order, each value expanded against those before it."""
    namespace = pod["metadata"]["namespace"]
    env: dict[str, str] = {}
    for source in container.get("envFrom") or []:
        kind, ref = ("Secret", source["secretRef"]) if "secretRef" in source else ("ConfigMap", source["configMapRef"])
        data = lookup(kind, namespace, ref["name"])
        if data is None:
            if ref.get("optional"):
                continue
            raise PodNotRunnable(f"{kind} {namespace}/{ref['name']} not found (envFrom)")
        for key, text in data.items():
            env[source.get("prefix", "") + key] = text
    for var in container.get("env") or []:
        value_from = var.get("valueFrom")
        if value_from is None:
            env[var["name"]] = expand(var.get("value", ""), env)
        elif "fieldRef" in value_from:
            env[var["name"]] = field_value(pod, value_from["fieldRef"]["fieldPath"])
        elif "secretKeyRef" in value_from:
            value = _key_ref(value_from["secretKeyRef"], "Secret", namespace, lookup)
            if value is not None:
                env[var["name"]] = value
        elif "configMapKeyRef" in value_from:
            value = _key_ref(value_from["configMapKeyRef"], "ConfigMap", namespace, lookup)
            if value is not None:
                env[var["name"]] = value
        else:
            raise PodNotRunnable(f"env {var['name']}: {', '.join(value_from)} is not supported by the local pod runner")
    return env


def bind_to_pod_ip(argv: list[str], env: dict[str, str], pod_ip: str) -> tuple[list[str], dict[str, str]]:
    """Wildcard bind addresses become the pod's IP (see the module docstring)."""
    rewritten = list(argv)
    for i, arg in enumerate(rewritten):
        # --ip, --api-ip (configurable-http-proxy), --ServerApp.ip
        option = re.fullmatch(r"(--(?:[\w-]+[.-])*ip)=(.*)", arg)
        if option and option.group(2) in WILDCARD_HOSTS:
            rewritten[i] = f"{option.group(1)}={pod_ip}"
        elif (
            re.fullmatch(r"--(?:[\w-]+[.-])*ip", arg) and i + 1 < len(rewritten) and rewritten[i + 1] in WILDCARD_HOSTS
        ):
            rewritten[i + 1] = pod_ip
    env = dict(env)
    url = env.get("JUPYTERHUB_SERVICE_URL")
    if url:
        parts = urlsplit(url)
        if (parts.hostname or "") in WILDCARD_HOSTS | {"::"}:
            netloc = f"{pod_ip}:{parts.port}" if parts.port else pod_ip
            env["JUPYTERHUB_SERVICE_URL"] = urlunsplit(parts._replace(netloc=netloc))
    return rewritten, env


def home_folder(pod: dict, base: Path) -> Path:
    """``base/<user>``: the user from KubeSpawner's or the suite's label, else
    ``<namespace>-<pod name>``. Stable across restarts, like a home volume."""
    meta = pod["metadata"]
    labels = meta.get("labels") or {}
    owner = next((labels[key] for key in USER_LABELS if labels.get(key)), None)
    name = owner or f"{meta['namespace']}-{meta['name']}"
    return Path(base) / re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def local_command(
    pod: dict,
    lookup: Lookup,
    home_base: Path,
    base_env: dict[str, str],
    pod_folder: Path | None = None,
    container: dict | None = None,
    entrypoints: dict[str, list[str]] | None = None,
) -> LocalCommand:
    """The process that stands in for ``container`` (the pod's main container by default).

    ``pod_folder``: where the pod's volumes live (``pod_volumes``); without it
    mount paths are left as written. ``entrypoints``: see the module docstring.
    """
    container = container or main_container(pod)
    env = container_env(pod, container, lookup)
    words = list(container.get("command") or [])
    if not words and container.get("image") in (entrypoints or {}):
        words = list((entrypoints or {})[container["image"]])
    words += list(container.get("args") or [])
    if not words:
        raise PodNotRunnable(
            f"container {container['name']!r} has neither command nor args: the local pod "
            f"runner cannot run the ENTRYPOINT of image {container.get('image')!r}"
        )
    argv = [expand(word, env) for word in words]
    argv, env = bind_to_pod_ip(argv, env, pod["status"]["podIP"])
    home = home_folder(pod, home_base)
    cwd = home
    if pod_folder is not None:
        found = pod_volumes.mounts(pod, container, pod_folder)
        # The program itself is one of this machine (see above): never a mount.
        argv = argv[:1] + [pod_volumes.rewrite(word, found) for word in argv[1:]]
        env = {key: pod_volumes.rewrite(value, found) for key, value in env.items()}
        working_dir = pod_volumes.rewrite(container.get("workingDir") or "", found)
        if working_dir and any(Path(working_dir).is_relative_to(m.local) for m in found):
            cwd = Path(working_dir)
    return LocalCommand(argv=argv, env={**base_env, **env, "HOME": str(home)}, home=home, cwd=cwd)
