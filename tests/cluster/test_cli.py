"""``mlops-cluster up | status | down`` and the no-orphan guarantee.

Each test runs its own cluster in a temporary run directory through the real
CLI (a supervisor process in the background, as `make demo` users get it).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from mlops_cluster.processes import pid_alive

from tests.mlops_testing import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

CLI = Path(__file__).resolve().parents[2] / "cluster" / "mlops-cluster"


def cli(run_dir: Path, *args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHON=sys.executable)
    return subprocess.run(
        [str(CLI), f"--run-dir={run_dir}", *args], env=env, capture_output=True, text=True, timeout=300
    )


@pytest.fixture
def cluster_up(tmp_path):
    up = cli(tmp_path, "up")
    assert up.returncode == 0, up.stderr
    state = json.loads(cli(tmp_path, "status", "--json").stdout)
    yield tmp_path, up, state
    cli(tmp_path, "down")


def test_up_status_down(cluster_up):
    run_dir, up, state = cluster_up
    assert "server:      https://127.0.0.1:" in up.stdout
    assert set(state["processes"]) == {"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kwok"}
    assert all(pid_alive(pid) for pid in state["processes"].values())
    for identity in ("admin", "hub", "alice", "bob"):
        assert Path(state["kubeconfigs"][identity]).exists()
    # A second `up` finds the running cluster instead of starting another.
    again = cli(run_dir, "up")
    assert again.returncode == 0 and "already running" in again.stdout

    down = cli(run_dir, "down")
    assert down.returncode == 0 and "stopped" in down.stdout
    wait_for(
        lambda: not any(pid_alive(pid) for pid in state["processes"].values()),
        timeout=30,
        what="every component to exit",
    )
    status = cli(run_dir, "status")
    assert status.returncode == 3 and "not running" in status.stdout


def test_killing_the_owner_leaves_no_orphan(cluster_up):
    """Even SIGKILL of the supervisor (nothing can clean up) takes every child along."""
    _, _, state = cluster_up
    os.kill(state["pid"], signal.SIGKILL)
    wait_for(
        lambda: not any(pid_alive(pid) for pid in state["processes"].values()),
        timeout=30,
        what="the components to die with their owner",
    )
