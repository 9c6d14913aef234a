"""A pod's volumes for a local process: a folder per volume, mount paths rewritten.

A container sees its volumes at ``volumeMounts[].mountPath``; a local process
shares the machine's file system, where ``/mlops/code`` of one pod would be
that of every pod. So each volume of an opted-in pod becomes a folder of that
pod's own (``<pod folder>/<volume name>``), filled as the kubelet would fill it,
and every mount path named in the container's command, args, environment and
working directory is rewritten to that folder. Supported volume types:

- ``emptyDir``: an empty folder that lives as long as the pod (it survives
  container restarts, as on a node);
- ``configMap`` and ``secret``: one file per key (``items`` honoured), read
  through the API when the process starts.

Other volume types (persistent volume claims, host paths...) are not mounted:
paths under them are left as written.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# read(kind, namespace, name) -> {key: bytes}, or None if the object does not exist.
ReadFiles = Callable[[str, str, str], "dict[str, bytes] | None"]


class VolumeNotReady(ValueError):
    """A volume's source is missing (the kubelet would keep the pod in ContainerCreating)."""


@dataclass(frozen=True)
class Mount:
    path: str
    """Where the container sees it (``mountPath``)."""
    local: Path
    """The folder (or, with ``subPath``, the file or folder) standing in for it."""


def volume_folder(pod_folder: Path, volume_name: str) -> Path:
    return pod_folder / re.sub(r"[^A-Za-z0-9_.-]", "_", volume_name)


def mounts(pod: dict, container: dict, pod_folder: Path) -> list[Mount]:
    """The container's mounts of supported volumes, longest path first (so that
    ``/mlops/code`` is rewritten before a mount at ``/mlops``)."""
    supported = {v["name"] for v in pod["spec"].get("volumes") or [] if {"emptyDir", "configMap", "secret"} & set(v)}
    found = []
    for mount in container.get("volumeMounts") or []:
        if mount["name"] not in supported:
            continue
        local = volume_folder(pod_folder, mount["name"])
        if mount.get("subPath"):
            local = local / mount["subPath"]
        found.append(Mount(mount["mountPath"].rstrip("/") or "/", local))
    return sorted(found, key=lambda m: len(m.path), reverse=True)


def rewrite(text: str, found: list[Mount]) -> str:
    """``text`` with every mount path (as a whole path component) made local."""
    for mount in found:
        pattern = re.compile(r"(?<![\w./-])" + re.escape(mount.path) + r"(?=$|[/\s;:'\"&|)])")
        text = pattern.sub(str(mount.local).replace("\\", "\\\\"), text)
    return text


def materialize(pod: dict, pod_folder: Path, read_files: ReadFiles) -> None:
    """Create the folders of the pod's supported volumes and fill ConfigMaps and Secrets."""
    namespace = pod["metadata"]["namespace"]
    for volume in pod["spec"].get("volumes") or []:
        folder = volume_folder(pod_folder, volume["name"])
        if "emptyDir" in volume:
            folder.mkdir(parents=True, exist_ok=True)
            continue
        if "configMap" in volume:
            kind, source, name_key = "ConfigMap", volume["configMap"], "name"
        elif "secret" in volume:
            kind, source, name_key = "Secret", volume["secret"], "secretName"
        else:
            continue
        files = read_files(kind, namespace, source[name_key])
        if files is None:
            if source.get("optional"):
                files = {}
            else:
                raise VolumeNotReady(f"{kind} {namespace}/{source[name_key]} not found (volume {volume['name']!r})")
        wanted = {item["key"]: item["path"] for item in source.get("items") or []}
        folder.mkdir(parents=True, exist_ok=True)
        for key, data in files.items():
            if wanted and key not in wanted:
                continue
            target = folder / wanted.get(key, key)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
