"""Content-addressed snapshots of the working directory: the user's code, shipped without an image.

A snapshot is a deterministic ``tar.gz`` (sorted names, zeroed times and
owners) of the files under a directory that ``.gitignore`` files and the
explicit ``exclude`` patterns do not drop (``include`` patterns win over
both). Identical trees give identical bytes, so the archive's SHA-256 names
it: two jobs from the same code share one ConfigMap.

It travels in an immutable ConfigMap (``binaryData``) when it fits under the
API server's 1 MiB limit, or as a file on a shared ReadWriteMany volume when
one is configured (``SharedVolume``); otherwise ``SnapshotTooLarge`` says what
to do.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import os
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

import pathspec

from .errors import InvalidSpec, SnapshotTooLarge

CONFIGMAP_LIMIT = 1024 * 1024 - 16 * 1024
"""Largest archive put in a ConfigMap: the API server's 1 MiB, less room for metadata."""
ARCHIVE_KEY = "snapshot.tar.gz"
ALWAYS_EXCLUDED = [".git/", ".ipynb_checkpoints/", "__pycache__/", "*.pyc", ".mlops/"]
"""Never shipped: VCS data, Jupyter checkpoints, bytecode, our own snapshot store."""
LABEL = "jupyterhub-mlops/snapshot"


@dataclass(frozen=True)
class Archive:
    data: bytes
    digest: str
    """SHA-256 of ``data``, hex."""
    files: int
    source_bytes: int

    @property
    def configmap_name(self) -> str:
        return f"mlops-snapshot-{self.digest[:20]}"


@dataclass
class Snapshot:
    """Which part of the working directory a job takes with it."""

    path: str | os.PathLike = "."
    include: list[str] = field(default_factory=list)
    """gitignore-style patterns shipped even when ignored (e.g. ``data/small.csv``)."""
    exclude: list[str] = field(default_factory=list)
    """gitignore-style patterns never shipped (e.g. ``*.ckpt``, ``data/``)."""
    gitignore: bool = True
    """Honour the ``.gitignore`` files found under ``path``."""

    def files(self) -> list[str]:
        """Relative POSIX paths of the files the snapshot holds, sorted."""
        root = Path(self.path)
        if not root.is_dir():
            raise InvalidSpec("snapshot.path", f"{str(root)!r} is not a directory")
        ignored = pathspec.GitIgnoreSpec.from_lines(
            ALWAYS_EXCLUDED + (self._gitignore_lines(root) if self.gitignore else []) + self.exclude
        )
        included = pathspec.GitIgnoreSpec.from_lines(self.include) if self.include else None
        chosen = []
        for dirpath, dirnames, filenames in os.walk(root):
            rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
            prefix = "" if rel_dir == "." else rel_dir + "/"
            # Prune ignored directories unless an include pattern may reach into them.
            dirnames[:] = sorted(
                d for d in dirnames if included is not None or not ignored.match_file(prefix + d + "/")
            )
            for name in filenames:
                rel = prefix + name
                if not os.path.isfile(os.path.join(dirpath, name)):
                    continue  # sockets, dangling links
                if (included is not None and included.match_file(rel)) or not ignored.match_file(rel):
                    chosen.append(rel)
        return sorted(chosen)

    def build(self) -> Archive:
        root = Path(self.path)
        files = self.files()
        buffer = io.BytesIO()
        total = 0
        with (
            gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, compresslevel=6) as gz,
            tarfile.open(fileobj=gz, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            for rel in files:
                full = root / rel
                stat = full.stat()
                info = tarfile.TarInfo(rel)
                info.size = stat.st_size
                info.mode = 0o755 if stat.st_mode & 0o111 else 0o644
                info.mtime = 0
                with open(full, "rb") as handle:
                    tar.addfile(info, handle)
                total += stat.st_size
        data = buffer.getvalue()
        return Archive(data=data, digest=hashlib.sha256(data).hexdigest(), files=len(files), source_bytes=total)

    @staticmethod
    def _gitignore_lines(root: Path) -> list[str]:
        """Patterns of every ``.gitignore`` under ``root``, rewritten relative to ``root``."""
        lines: list[str] = []
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = [d for d in dirnames if d not in (".git", ".ipynb_checkpoints")]
            if ".gitignore" not in filenames:
                continue
            rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
            text = Path(dirpath, ".gitignore").read_text(errors="replace")
            for raw in text.splitlines():
                line = raw.rstrip()
                if not line or line.startswith("#"):
                    continue
                if rel_dir == ".":
                    lines.append(line)
                    continue
                negate = line.startswith("!")
                body = line[1:] if negate else line
                anchored = "/" in body.rstrip("/")
                body = body.lstrip("/")
                scoped = f"{rel_dir}/{body}" if anchored else f"{rel_dir}/**/{body}"
                lines.append(("!" if negate else "") + scoped)
        return lines


@dataclass(frozen=True)
class SharedVolume:
    """A ReadWriteMany volume mounted both in the notebook and in jobs (usually the home volume)."""

    claim: str
    """PersistentVolumeClaim name in the user's namespace."""
    notebook_path: str
    """Where the notebook server has it mounted, e.g. ``/home/jovyan``."""

    def store(self, archive: Archive) -> str:
        """Write the archive under ``.mlops/snapshots/`` on the volume; return that path."""
        rel = f".mlops/snapshots/{archive.digest}.tar.gz"
        target = Path(self.notebook_path) / rel
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_suffix(".partial")
            partial.write_bytes(archive.data)
            partial.replace(target)
        return rel


@dataclass(frozen=True)
class SnapshotRef:
    """How a job finds its snapshot: a ConfigMap, or a file on a shared volume."""

    configmap: str | None = None
    claim: str | None = None
    volume_path: str | None = None
    digest: str = ""


def configmap_manifest(archive: Archive, namespace: str) -> dict:
    """The immutable ConfigMap holding ``archive``; owners are added once the job exists."""
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": archive.configmap_name,
            "namespace": namespace,
            "labels": {LABEL: archive.digest[:63]},
            "annotations": {"jupyterhub-mlops/files": str(archive.files)},
        },
        "immutable": True,
        "binaryData": {ARCHIVE_KEY: base64.b64encode(archive.data).decode()},
    }


def too_large(archive: Archive) -> SnapshotTooLarge:
    mib = archive.data.__len__() / 2**20
    return SnapshotTooLarge(
        f"The code snapshot is {mib:.1f} MiB compressed ({archive.files} files), over the "
        f"{CONFIGMAP_LIMIT / 2**20:.2f} MiB a ConfigMap can hold. Exclude data and checkpoints "
        "(add them to .gitignore or pass exclude=[...]), or ask your operator to configure a "
        "ReadWriteMany home volume for snapshots (MlopsJobs.shared_volume_claim).",
        bytes=len(archive.data),
        files=archive.files,
        limit=CONFIGMAP_LIMIT,
    )
