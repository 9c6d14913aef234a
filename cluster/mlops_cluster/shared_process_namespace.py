"""Development only: a pod's containers as local processes in one PID namespace.

A pod with ``shareProcessNamespace: true`` runs its containers in one PID
namespace whose process 1 is the pause container; each container's first
process has a parent outside the namespace, so inside it reads parent pid 0.
Katib's metrics collector sidecar relies on exactly this: it lists ``/proc``,
takes every process with parent 0 (but pid 1 and itself) for a container's,
waits for the training container's to end, and reads the ``completed`` marker
that process wrote under its own pid.

The pod runner runs such a pod as this program:

    python -m mlops_cluster.shared_process_namespace SPEC.json

``SPEC.json``: ``{"containers": [{"name", "argv", "env", "cwd", "log"}, ...]}``, the
main container first: its output is this program's (the pod runner's log of the
main container), every other container's goes to its own ``log`` file in CRI
format, served as that container's log. It makes the namespace with a pause process
(``unshare --pid --fork --mount-proc``, so ``/proc`` shows the namespace),
enters it with ``nsenter`` once per container, the next container only once
the one before has a process there (a kubelet starts them in order), and exits with the first non-zero exit
code of a container, or 0, once all have ended: the pod's phase, as a kubelet
would report it for ``restartPolicy: Never``.

The main container's process exists from the start but waits at a gate until
every other container has printed its first line (at most ``GATE_SECONDS``):
a sidecar that watches the main process (Katib's collector looks for it once,
as it starts) must find it, and a command as quick as ``echo loss=0.3`` would
otherwise be over before the sidecar looked. The gate is the same process,
which then ``exec``s the container's command: its pid, and its command line
(which names the command), are the container's from the start.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

from mlops_cluster import container_logs

GATE_SECONDS = 5.0
PAUSE = ["unshare", "--pid", "--fork", "--mount-proc", "--kill-child", "--", "sleep", "infinity"]


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except FileNotFoundError:
        return []
    return [int(word) for word in text.split()]


def first_child(pid: int, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = children(pid)
        if found:
            return found[0]
        time.sleep(0.005)
    raise RuntimeError(f"process {pid} started no child in {timeout:.0f}s")


def copy_output(proc: subprocess.Popen, log: str | None, first_line: threading.Event) -> threading.Thread:
    """The container's output to ``log`` (CRI format), or to ours when it has none."""
    pipe = proc.stdout
    assert pipe is not None  # started with stdout=PIPE

    def copy() -> None:
        target = open(log, "ab") if log else None  # noqa: SIM115 - closed below
        try:
            for line in iter(pipe.readline, b""):
                first_line.set()
                if target is None:
                    sys.stdout.buffer.write(line)
                    sys.stdout.buffer.flush()
                else:
                    target.write(container_logs.cri_line(line))
                    target.flush()
        finally:
            if target is not None:
                target.close()
            first_line.set()

    thread = threading.Thread(target=copy, daemon=True)
    thread.start()
    return thread


def gated(argv: list[str]) -> list[str]:
    """``argv``, once a line can be read from standard input (see the module docstring),
    which it then gets empty, as a container's."""
    return ["sh", "-c", 'read -r _; exec "$@" </dev/null', "container-gate", *argv]


def run(containers: list[dict]) -> int:
    pause = subprocess.Popen(PAUSE, stdin=subprocess.DEVNULL)
    gate_read, gate_write = os.pipe()
    try:
        namespace_init = first_child(pause.pid)
        started, first_lines = [], []
        for index, container in enumerate(containers):
            argv = gated(container["argv"]) if index == 0 else container["argv"]
            proc = subprocess.Popen(
                ["nsenter", f"--target={namespace_init}", "--pid", "--mount", f"--wd={container['cwd']}", "--", *argv],
                env=container["env"],
                stdin=gate_read if index == 0 else subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            )
            first_lines.append(threading.Event())
            started.append((proc, copy_output(proc, container.get("log"), first_lines[-1])))
            try:
                first_child(proc.pid, timeout=10)  # its process is in the namespace
            except RuntimeError:
                pass  # it ended already (or failed to enter): its exit code says which
        os.close(gate_read)
        deadline = time.monotonic() + GATE_SECONDS
        for event in first_lines[1:]:
            event.wait(max(0.0, deadline - time.monotonic()))
        time.sleep(0.2)  # from its first line to its first look at the processes
        os.write(gate_write, b"go\n")
        code = 0
        for proc, copier in started:
            proc.wait()
            copier.join(5)
            if code == 0 and proc.returncode != 0:
                code = proc.returncode
        return code
    finally:
        os.close(gate_write)
        # unshare waits out SIGTERM for its child; SIGKILL ends it, and --kill-child
        # then ends the pause process, and with it whatever is left in the namespace.
        pause.kill()
        pause.wait(10)


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text())
    sys.exit(run(spec["containers"]))


if __name__ == "__main__":
    main()
