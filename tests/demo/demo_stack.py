"""The stack of `python -m demo`, started for a test on a free port."""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
from mlops_cluster import processes
from mlops_cluster.ports import free_port

from tests.mlops_testing import wait_for

REPO = Path(__file__).resolve().parents[2]
BANNER_END = "Ctrl-C stops everything."


@dataclass
class RunningDemo:
    url: str
    """The proxy's public URL, ending with a slash."""
    password: str
    run_dir: Path
    process: subprocess.Popen
    ssh_port: int


@contextlib.contextmanager
def running_demo(tmp_path: Path, name: str = "demo"):
    """The demo, up once its banner is printed; Ctrl-C'd at the end if still running.

    It runs in ``tmp_path/demo``, as ``make demo`` runs in ``.demo``: a second
    call with the same ``tmp_path`` is a second run in the same folder. Its
    output goes to ``tmp_path/<name>.log``."""
    port, ssh_port = free_port(), free_port()
    password, run_dir = secrets.token_urlsafe(12), tmp_path / "demo"
    proc = processes.start(
        name,
        [
            sys.executable,
            "-m",
            "demo",
            "--no-browser",
            f"--port={port}",
            f"--ssh-port={ssh_port}",
            f"--run-dir={run_dir}",
            f"--password={password}",
        ],
        tmp_path,
        cwd=REPO,
    )
    output = tmp_path / f"{name}.log"

    def banner_printed():
        if proc.poll() is not None:
            pytest.fail(f"the demo exited with {proc.returncode}:\n{output.read_text()[-3000:]}")
        return BANNER_END in output.read_text()

    try:
        wait_for(banner_printed, timeout=240, interval=1, what="the demo's banner")
        yield RunningDemo(f"http://127.0.0.1:{port}/", password, run_dir, proc, ssh_port)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGINT)
            try:
                proc.wait(120)
            except subprocess.TimeoutExpired:
                processes.stop_tree(proc, timeout=1)
                raise
