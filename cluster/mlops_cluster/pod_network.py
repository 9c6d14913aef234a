"""A network namespace of its own for a pod whose program binds a fixed port on every address.

Pod IPs of the local cluster are loopback addresses of one host, so two pods
share a network namespace, and a program that listens on ``0.0.0.0:<port>``
whatever it is told (Katib's suggestion services listen on ``0.0.0.0:6789``)
could run once per machine: a second experiment's suggestion would fail to
bind. A real pod has a network namespace of its own; the pod runner gives one
to the pods that need it (``wants_own_network``): the process starts under
``unshare --net`` with its loopback up, and nothing else in it.

Whoever must reach such a pod (the Service proxy, ``service_proxy``) finds the
namespace through a registry folder: one file per pod IP holding the pid of a
process inside it. ``connect`` opens a TCP connection from inside that
namespace: ``setns`` on a short-lived thread, whose socket stays in the
namespace it was made in.
"""

from __future__ import annotations

import ctypes
import os
import socket
import threading
from pathlib import Path

CLONE_NEWNET = 0x40000000
OWN_NETWORK_LABELS = ("katib.kubeflow.org/suggestion",)
"""Pods with one of these labels get a network namespace of their own: Katib's
suggestion Deployments, whose programs bind ``0.0.0.0:6789``."""


def wants_own_network(pod: dict) -> bool:
    labels = pod.get("metadata", {}).get("labels") or {}
    return any(key in labels for key in OWN_NETWORK_LABELS)


def isolated(argv: list[str]) -> list[str]:
    """``argv`` run in a new network namespace whose loopback is up."""
    return ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "pod-network", *argv]


def register(registry: Path, pod_ip: str, pid: int) -> None:
    registry.mkdir(parents=True, exist_ok=True)
    (registry / pod_ip).write_text(f"{pid}\n")


def unregister(registry: Path, pod_ip: str) -> None:
    (registry / pod_ip).unlink(missing_ok=True)


def namespace_pid(registry: Path, pod_ip: str) -> int | None:
    """The pid of a process in the pod's own namespace, or None if it has none."""
    try:
        return int((registry / pod_ip).read_text())
    except (FileNotFoundError, ValueError):
        return None


def connect(pid: int, port: int, timeout: float = 10.0) -> socket.socket:
    """A TCP connection to ``127.0.0.1:port`` inside the network namespace of ``pid``."""
    result: dict[str, object] = {}

    def inside() -> None:
        # setns changes the calling thread only: this one, which ends right after.
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        try:
            with open(f"/proc/{pid}/ns/net", "rb") as ns:
                if libc.setns(ns.fileno(), CLONE_NEWNET) != 0:
                    raise OSError(ctypes.get_errno(), os.strerror(ctypes.get_errno()))
            result["socket"] = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        except OSError as error:
            result["error"] = error

    thread = threading.Thread(target=inside, name=f"netns-{pid}")
    thread.start()
    thread.join()
    if "error" in result:
        raise result["error"]  # type: ignore[misc]
    return result["socket"]  # type: ignore[return-value]
