"""`make demo`: a second start in the same run folder (goal < 60 s), and Ctrl-C.

Runs ``python -m demo`` (what ``make demo`` runs once installed) twice in one
run folder, as a user starting the demo again would, and times each start
from the command to its banner ("Ctrl-C stops everything."). The comparison
is the first start, in a fresh folder. Each run is then stopped with SIGINT,
as Ctrl-C in the terminal sends it; the figures say how long the stop took
and how many of the stack's processes outlived it.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import sys
import time
from pathlib import Path

from mlops_cluster import processes
from mlops_cluster.ports import free_port

from .harness import BenchContext, Figure

BANNER_END = "Ctrl-C stops everything."
START_TIMEOUT_S = 300
ORPHAN_GRACE_S = 10


def _start(ctx: BenchContext, run_dir: Path, name: str):
    """Start the demo; return (process, seconds until its banner)."""
    began = time.monotonic()
    proc = processes.start(
        name,
        [
            sys.executable,
            "-m",
            "demo",
            "--no-browser",
            f"--port={free_port()}",
            f"--ssh-port={free_port()}",
            f"--run-dir={run_dir}",
            f"--password={secrets.token_urlsafe(12)}",
        ],
        ctx.artifacts,
        cwd=ctx.repo,
    )
    log = ctx.artifacts / f"{name}.log"
    while time.monotonic() - began < START_TIMEOUT_S:
        if proc.poll() is not None:
            raise RuntimeError(f"the demo exited with {proc.returncode}; see {log}")
        if BANNER_END in log.read_text(errors="replace"):
            return proc, time.monotonic() - began
        time.sleep(0.2)
    processes.stop_tree(proc)
    raise RuntimeError(f"the demo printed no banner in {START_TIMEOUT_S} s; see {log}")


def _ctrl_c(proc) -> tuple[float, int]:
    """SIGINT the demo; return (seconds until it exited, processes of its stack still alive)."""
    stack = processes.descendants(proc.pid)
    began = time.monotonic()
    os.kill(proc.pid, signal.SIGINT)
    proc.wait(120)
    stopped = time.monotonic() - began
    deadline = time.monotonic() + ORPHAN_GRACE_S
    while True:
        alive = [
            pid
            for pid, started in stack.items()
            if (fields := processes._stat_fields(pid)) and fields[0] != "Z" and fields[19] == started
        ]
        if not alive or time.monotonic() > deadline:
            return stopped, len(alive)
        time.sleep(0.2)


def run(ctx: BenchContext) -> list[Figure]:
    ctx.artifacts.mkdir(parents=True, exist_ok=True)
    run_dir = ctx.artifacts / "demo-run"
    shutil.rmtree(run_dir, ignore_errors=True)
    first, first_s = _start(ctx, run_dir, "demo-first")
    first_stop_s, first_left = _ctrl_c(first)
    second, second_s = _start(ctx, run_dir, "demo-second")
    second_stop_s, second_left = _ctrl_c(second)
    shutil.rmtree(run_dir, ignore_errors=True)
    return [
        Figure(
            "demo.second_start_s",
            second_s,
            "s",
            goal="< 60",
            comparison=first_s,
            comparison_label="first start, fresh run folder",
            note="python -m demo to its banner: cluster, pod runner, seeded pods, proxy, "
            "JupyterHub, availability service, SSH gateway; Go binaries cached",
        ),
        Figure(
            "demo.stop_s",
            max(first_stop_s, second_stop_s),
            "s",
            note="SIGINT (Ctrl-C) to exit, the slower of the two runs",
        ),
        Figure(
            "demo.processes_left_after_ctrl_c",
            first_left + second_left,
            "",
            goal="0",
            note=f"descendants of either run alive {ORPHAN_GRACE_S} s after it exited",
        ),
    ]
