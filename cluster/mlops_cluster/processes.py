"""Child processes that never outlive the process that started them."""

from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import time
from pathlib import Path

_PR_SET_PDEATHSIG = 1


_LIBC = ctypes.CDLL("libc.so.6", use_errno=True)
"""Loaded once, here: loading a library between fork and exec takes the dynamic loader's
lock, which another thread of a busy parent (a test process, the pod runner) may hold at
the fork; the child would then never exec, and the parent's Popen would wait for it
for ever."""


def _die_with_parent() -> None:
    # Runs in the child between fork and exec. If the parent dies for any
    # reason (Ctrl-C, SIGKILL, a crashed test run), the kernel sends SIGKILL
    # to the child: no orphaned etcd or kube-apiserver is ever left behind.
    _LIBC.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


def start(
    name: str, argv: list[str], log_dir: Path, env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen:
    """Start ``argv`` with its output in ``log_dir/name.log``.

    The child gets a session of its own, so a Ctrl-C in the terminal reaches
    only the parent, which then stops the children in order. ``env`` replaces
    the inherited environment when given.
    """
    log_dir.mkdir(parents=True, exist_ok=True)
    log = open(log_dir / f"{name}.log", "ab")  # noqa: SIM115 - handed to the child
    try:
        return _popen(argv, log, env, cwd)
    finally:
        log.close()


def with_own_mounts(binds: dict[Path, Path], argv: list[str]) -> list[str]:
    """``argv`` run in a mount namespace of its own where each folder ``binds[target]``
    appears at ``target``: a program that reads fixed paths (a certificate folder) gets
    its own, so two clusters on one machine never share them. The targets must exist."""
    mounts = " && ".join(f'mount --bind "${i}" {target}' for i, target in enumerate(binds))
    return [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        f'{mounts} && shift {len(binds) - 1} && exec "$@"',
        *(str(source) for source in binds.values()),
        *argv,
    ]


def start_piped(argv: list[str], env: dict[str, str] | None = None, cwd: Path | None = None) -> subprocess.Popen:
    """Like ``start``, with stdout and stderr together on the pipe ``proc.stdout``
    for the caller to read (and write where it needs them)."""
    return _popen(argv, subprocess.PIPE, env, cwd)


def _popen(argv, stdout, env, cwd) -> subprocess.Popen:
    return subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.STDOUT,
        env=env,
        cwd=cwd,
        preexec_fn=_die_with_parent,
        start_new_session=True,
    )


def stop(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``timeout`` seconds."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _stat_fields(pid: int) -> list[str] | None:
    """Fields of /proc/<pid>/stat after the command name, or None if gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # The command name (2nd field) may hold spaces and parentheses: split after it.
    return stat.rsplit(")", 1)[1].split()


def descendants(pid: int) -> dict[int, str]:
    """Every living descendant of ``pid``: process id -> its start time.

    The start time tells a descendant from a later process that reuses its id.
    """
    children: dict[int, list[tuple[int, str]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat_fields(int(entry.name))):
            # fields[1] is the parent id, fields[19] the start time (see proc(5)).
            children.setdefault(int(fields[1]), []).append((int(entry.name), fields[19]))
    found: dict[int, str] = {}
    todo = [pid]
    while todo:
        for child, started in children.get(todo.pop(), []):
            found[child] = started
            todo.append(child)
    return found


def stop_tree(proc: subprocess.Popen, timeout: float = 10.0) -> None:
    """Stop ``proc`` and everything it started (kernels, shells, ...).

    SIGTERM to ``proc`` first, so it can shut its own children down; after
    ``timeout`` seconds SIGKILL to ``proc``; then SIGKILL to every descendant
    seen while it ran that is still alive, even one that left its process
    group or was re-parented when ``proc`` exited.
    """
    if proc.poll() is not None:
        return
    seen = descendants(proc.pid)
    proc.terminate()
    try:
        proc.wait(timeout)
    except subprocess.TimeoutExpired:
        seen.update(descendants(proc.pid))
        proc.kill()
        proc.wait()
    for pid, started in seen.items():
        fields = _stat_fields(pid)
        if fields and fields[19] == started:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def kill_pid(pid: int, timeout: float = 10.0) -> None:
    """Stop a process we did not start ourselves (e.g. from a stale state file)."""
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not pid_alive(pid):
            return
        time.sleep(0.1)
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def log_tail(log_dir: Path, name: str, lines: int = 25) -> str:
    path = log_dir / f"{name}.log"
    if not path.exists():
        return "(no log)"
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
