"""A pod of the local cluster run as a local process that sees what its container would see.

The pod runner (cluster/mlops_cluster/pod_runner.py) runs notebook pods, which
need no files of their own. The chart's hub and proxy pods do: the hub reads
the rendered ConfigMap and Secret under /usr/local/etc/jupyterhub/, its
service account's token under /var/run/secrets/kubernetes.io/serviceaccount/,
and it finds the proxy by its Service name. So ``MountedPod`` runs the main
container of a live Pod (created by the chart's Deployment, given its IP by
KWOK) in a mount namespace of its own (``unshare --mount``, we are root):

- each ``volumeMount`` at its ``mountPath``: ConfigMap and Secret volumes as the
  kubelet writes them (``items``, ``subPath``), PVCs and emptyDirs as folders
  under the scratch folder;
- the service account's token (a TokenRequest bound to the pod, as the
  kubelet asks for it), the cluster CA and the namespace file;
- ``/etc/hosts`` with the cluster's DNS names (``cluster_dns``), so ``hub``,
  ``proxy-api`` and ``hub.jhub.svc.cluster.local`` resolve to the pods behind
  those Services;
- the environment the kubelet gives: the container's ``env`` (``pod_command``),
  the Service links of its namespace and ``KUBERNETES_SERVICE_HOST/PORT`` (the
  local API server), with a Service's address and port translated to its
  pod's, as kube-proxy would route them (the cluster has no Service network).

A mount point that does not exist on this machine is created once, empty but
for a mark file, as the one trace outside the scratch folder; what is mounted
there (a tmpfs, then the volumes) is visible only to the pod's process.
"""

from __future__ import annotations

import base64
import os
import shlex
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from mlops_cluster import processes
from mlops_cluster.pod_command import bind_to_pod_ip, container_env, expand, main_container


def _env_name(service: str) -> str:
    return service.upper().replace("-", "_")


def selected_pod(pods: list[dict], selector: dict) -> dict | None:
    """The first running pod with an IP that ``selector`` matches."""
    for pod in pods:
        labels = pod["metadata"].get("labels") or {}
        if selector and all(labels.get(k) == v for k, v in selector.items()) and (pod.get("status") or {}).get("podIP"):
            return pod
    return None


def target_port(pod: dict, port: dict) -> int:
    """A Service port's targetPort as a number on ``pod`` (named ports resolved)."""
    target = port.get("targetPort", port["port"])
    if isinstance(target, int):
        return target
    for container in pod["spec"]["containers"]:
        for declared in container.get("ports") or []:
            if declared.get("name") == target:
                return declared["containerPort"]
    raise ValueError(f"pod {pod['metadata']['name']} declares no port named {target!r}")


def service_endpoints(services: list[dict], pods: list[dict]) -> dict[str, tuple[str, dict]]:
    """Service name -> (IP of the pod behind it, {port name or number: target port})."""
    out = {}
    for service in services:
        pod = selected_pod(pods, service["spec"].get("selector") or {})
        if pod is None:
            continue
        ports = {}
        for port in service["spec"].get("ports") or []:
            ports[port.get("name") or str(port["port"])] = target_port(pod, port)
        out[service["metadata"]["name"]] = (pod["status"]["podIP"], ports)
    return out


def service_links(endpoints: dict[str, tuple[str, dict]], api_host: str, api_port: int) -> dict:
    """The kubelet's Service environment variables, routed to the pods behind the Services."""
    env = {
        "KUBERNETES_SERVICE_HOST": api_host,
        "KUBERNETES_SERVICE_PORT": str(api_port),
        "KUBERNETES_SERVICE_PORT_HTTPS": str(api_port),
    }
    for name, (ip, ports) in endpoints.items():
        prefix = _env_name(name)
        env[f"{prefix}_SERVICE_HOST"] = ip
        for i, (port_name, port) in enumerate(ports.items()):
            if i == 0:
                env[f"{prefix}_SERVICE_PORT"] = str(port)
            if not port_name.isdigit():
                env[f"{prefix}_SERVICE_PORT_{_env_name(port_name)}"] = str(port)
    return env


def cluster_dns(endpoints: dict[str, tuple[str, dict]], namespace: str, extra: dict[str, str] | None = None) -> str:
    """/etc/hosts lines standing in for the cluster DNS: each Service's short and full
    names (and ``extra`` names, e.g. the public host at the load balancer) -> pod IP."""
    lines = ["127.0.0.1 localhost", "::1 localhost"]
    for name, (ip, _) in endpoints.items():
        lines.append(f"{ip} {name} {name}.{namespace} {name}.{namespace}.svc {name}.{namespace}.svc.cluster.local")
    lines += [f"{ip} {host}" for host, ip in (extra or {}).items()]
    return "\n".join(lines) + "\n"


def _write_volume(folder: Path, data: dict[str, bytes], items: list[dict] | None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    chosen = [(i["key"], i["path"]) for i in items] if items else [(k, k) for k in data]
    for key, path in chosen:
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data[key])


MOUNT_POINT_MARK = ".mounted-pod-mount-point"
"""Left in each mount point this module creates on the machine, so a later pod (or a
``MountedPod.run``) mounts its tmpfs there again instead of writing into the folder."""


def _ours_or_missing(path: Path) -> bool:
    return not path.exists() or (path / MOUNT_POINT_MARK).exists()


def mount_anchors(binds: list[tuple[Path, str]], free=_ours_or_missing) -> list[str]:
    """Where a tmpfs goes so that every target can be made inside the mount namespace:
    the top-most folder above each target (the target itself when a folder is mounted
    there) that is missing or a mount point of ours, none inside another."""
    anchors: set[str] = set()
    for source, target in binds:
        folder = Path(target) if source.is_dir() else Path(target).parent
        path = Path("/")
        for part in folder.parts[1:]:
            path = path / part
            if free(path):
                anchors.add(str(path))
                break
    return sorted(a for a in anchors if not any(a != b and a.startswith(b + "/") for b in anchors))


def mount_script(binds: list[tuple[Path, str]]) -> str:
    """Shell lines that mount each (source, target) in a fresh mount namespace.

    Creates each anchor on this machine, empty but for a mark (the one trace),
    before the script runs."""
    lines = ["set -e", "mount --make-rprivate /"]
    for anchor in mount_anchors(binds):
        os.makedirs(anchor, exist_ok=True)
        (Path(anchor) / MOUNT_POINT_MARK).touch()
        lines.append(f"mount -t tmpfs tmpfs {shlex.quote(anchor)}")
    for source, target in sorted(binds, key=lambda b: len(Path(b[1]).parts)):
        q = shlex.quote(target)
        if source.is_dir():
            lines.append(f"mkdir -p {q}")
        else:
            lines.append(f"mkdir -p {shlex.quote(str(Path(target).parent))} && {{ [ -e {q} ] || touch {q}; }}")
        lines.append(f"mount --bind {shlex.quote(str(source))} {q}")
    return "\n".join(lines)


def in_mount_namespace(argv: list[str], binds: list[tuple[Path, str]], workdir: str | None = None) -> list[str]:
    """``argv`` run in a mount namespace of its own with ``binds`` mounted."""
    script = mount_script(binds)
    if workdir:
        script += f"\ncd {shlex.quote(workdir)}"
    return ["unshare", "--mount", "sh", "-c", script + '\nexec "$@"', "mounted-pod", *argv]


@dataclass
class MountedPod:
    """The main container of ``pod`` (a live Pod dict) as a local process."""

    pod: dict
    core_v1: object
    """A kubernetes.client.CoreV1Api with the admin identity (reads Secrets, mints tokens)."""
    scratch: Path
    hosts: Path
    """The /etc/hosts file the process sees (``cluster_dns``)."""
    links: dict[str, str]
    base_env: dict[str, str]
    ca_file: Path
    workdir: str | None = None
    argv_override: list[str] | None = None
    proc: subprocess.Popen | None = field(default=None, init=False)

    @property
    def name(self) -> str:
        return self.pod["metadata"]["name"]

    @property
    def ip(self) -> str:
        return self.pod["status"]["podIP"]

    def _lookup(self, kind: str, namespace: str, name: str) -> dict[str, str] | None:
        data = self._data(kind, namespace, name)
        return None if data is None else {k: v.decode() for k, v in data.items()}

    def _data(self, kind: str, namespace: str, name: str) -> dict[str, bytes] | None:
        import kubernetes

        try:
            if kind == "Secret":
                secret = self.core_v1.read_namespaced_secret(name, namespace)
                return {k: base64.b64decode(v) for k, v in (secret.data or {}).items()}
            config_map = self.core_v1.read_namespaced_config_map(name, namespace)
            return {k: v.encode() for k, v in (config_map.data or {}).items()}
        except kubernetes.client.ApiException as exc:
            if exc.status == 404:
                return None
            raise

    def _service_account(self, folder: Path) -> None:
        meta, spec = self.pod["metadata"], self.pod["spec"]
        token = self.core_v1.create_namespaced_service_account_token(
            spec.get("serviceAccountName") or "default",
            meta["namespace"],
            {
                "spec": {
                    "expirationSeconds": 3600,
                    "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": meta["uid"]},
                }
            },
        ).status.token
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "token").write_text(token)
        (folder / "ca.crt").write_bytes(self.ca_file.read_bytes())
        (folder / "namespace").write_text(meta["namespace"])

    def binds(self) -> list[tuple[Path, str]]:
        """(source on this machine, path in the container) for every mount."""
        namespace = self.pod["metadata"]["namespace"]
        volumes = {v["name"]: v for v in self.pod["spec"].get("volumes") or []}
        container = main_container(self.pod)
        out: list[tuple[Path, str]] = [(self.hosts, "/etc/hosts")]
        for mount in container.get("volumeMounts") or []:
            volume = volumes[mount["name"]]
            folder = self.scratch / "volumes" / mount["name"]
            if "configMap" in volume or "secret" in volume:
                kind, ref = (
                    ("ConfigMap", volume["configMap"]) if "configMap" in volume else ("Secret", volume["secret"])
                )
                data = self._data(kind, namespace, ref.get("name") or ref.get("secretName"))
                if data is None:
                    raise RuntimeError(f"{kind} of volume {mount['name']} not found")
                _write_volume(folder, data, ref.get("items"))
            elif "persistentVolumeClaim" in volume or "emptyDir" in volume:
                folder.mkdir(parents=True, exist_ok=True)
            elif any("serviceAccountToken" in s for s in volume.get("projected", {}).get("sources", [])):
                # The API server's ServiceAccount admission added the token volume
                # (kube-api-access-*): token, CA and namespace, as the kubelet writes them.
                self._service_account(folder)
            else:
                raise RuntimeError(f"volume {mount['name']}: kind not supported here: {volume}")
            source = folder / mount["subPath"] if mount.get("subPath") else folder
            out.append((source, mount["mountPath"]))
        return out

    def command(self) -> tuple[list[str], dict[str, str]]:
        container = main_container(self.pod)
        env = {**self.links, **container_env(self.pod, container, self._lookup)}
        words = self.argv_override or [*(container.get("command") or []), *(container.get("args") or [])]
        argv, env = bind_to_pod_ip([expand(w, env) for w in words], env, self.ip)
        return argv, {**self.base_env, **env}

    def start(self, log_dir: Path) -> MountedPod:
        argv, env = self.command()
        self.proc = processes.start(self.name, in_mount_namespace(argv, self.binds(), self.workdir), log_dir, env=env)
        return self

    def run(self, argv: list[str], timeout: float = 120) -> subprocess.CompletedProcess:
        """``argv`` run once in this pod's mounts and environment (as ``kubectl exec`` would)."""
        _, env = self.command()
        return subprocess.run(
            in_mount_namespace(argv, self.binds(), self.workdir),
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )

    def stop(self) -> None:
        if self.proc is not None:
            processes.stop_tree(self.proc)
