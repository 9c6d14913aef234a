"""A local process's output as a container log: what ``kubectl logs`` returns.

A kubelet's container runtime writes each line a container prints to a file in
CRI log format (``<RFC3339Nano> stdout F <line>``); ``pods/log`` reads that
file. KWOK's kubelet server does the same with the file a ``Logs`` object
(kwok.x-k8s.io) names. The pod runner copies each process's output, line by
line as it comes, into such a file (one per container start, so a restarted
container's previous log stays readable with ``--previous``) and into the plain
``<namespace>_<pod>.log`` that people read.
"""

from __future__ import annotations

import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import BinaryIO


def cri_line(text: bytes, stream: str = "stdout") -> bytes:
    stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return f"{stamp} {stream} F ".encode() + text.rstrip(b"\n") + b"\n"


COPIER_THREAD_PREFIX = "log "
"""Names an ``OutputCopier``'s thread: one per process the pod runner starts, so a test
that counts its own threads in the runner's process can tell these apart."""


class OutputCopier:
    """Copies a pipe into ``plain`` (appended, as printed) and ``cri`` (CRI format)
    on a thread of its own until the pipe closes."""

    def __init__(self, pipe: BinaryIO, plain: Path, cri: Path):
        self._pipe, self.plain, self.cri = pipe, plain, cri
        self.closed_at: float | None = None
        """``time.monotonic()`` when the pipe closed, i.e. when the process exited."""
        self._thread = threading.Thread(target=self._copy, name=f"{COPIER_THREAD_PREFIX}{cri.name}", daemon=True)
        cri.parent.mkdir(parents=True, exist_ok=True)
        cri.touch()
        self._thread.start()

    def _copy(self) -> None:
        with self._pipe, open(self.plain, "ab") as plain, open(self.cri, "ab") as cri:
            for line in iter(self._pipe.readline, b""):
                plain.write(line)
                plain.flush()
                cri.write(cri_line(line))
                cri.flush()
        self.closed_at = time.monotonic()

    def join(self, timeout: float = 5.0) -> None:
        """Wait until everything the process printed is written (it has exited)."""
        self._thread.join(timeout)


def logs_object(
    namespace: str,
    pod: str,
    container: str,
    current: Path,
    previous: Path | None,
    others: dict[str, Path] | None = None,
) -> dict:
    """The KWOK ``Logs`` object that makes ``pods/log`` serve ``current`` for ``container``
    (and each of ``others``' files for the container it is named after)."""
    entry = {"containers": [container], "logsFile": str(current), "follow": True}
    if previous is not None:
        entry["previousLogsFile"] = str(previous)
    entries = [
        entry,
        *({"containers": [name], "logsFile": str(path), "follow": True} for name, path in (others or {}).items()),
    ]
    return {
        "apiVersion": "kwok.x-k8s.io/v1alpha1",
        "kind": "Logs",
        "metadata": {"name": pod, "namespace": namespace},
        "spec": {"logs": entries},
    }
