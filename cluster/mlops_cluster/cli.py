"""``mlops-cluster up | down | status``: the local control plane from a shell.

``up`` starts the cluster in a supervisor process of its own and returns once
it is ready (``--foreground`` keeps it attached until Ctrl-C). ``down`` stops
the supervisor, whose children die with it.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from .controlplane import ControlPlane, ControlPlaneError, read_state
from .fleet import DEFAULT_FLEET
from .paths import default_run_dir
from .processes import kill_pid, pid_alive


def _serve(run_dir: Path, fleet: Path) -> int:
    """Run the control plane until SIGTERM or SIGINT."""
    stopping = False

    def on_signal(signum, frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    cp = ControlPlane(run_dir, fleet_file=fleet)
    try:
        cp.start()
    except ControlPlaneError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    print(f"control plane ready in {cp.startup_seconds:.1f}s at {cp.server}", file=sys.stderr)
    try:
        while not stopping:
            for name, alive in cp.running().items():
                if not alive:
                    print(f"error: {name} exited; stopping the cluster (logs: {cp.log_dir})", file=sys.stderr)
                    return 1
            time.sleep(0.5)
    finally:
        cp.stop()
    return 0


def _print_state(state: dict) -> None:
    print(f"server:      {state['server']}")
    print(f"started in:  {state['startup_seconds']}s")
    print(f"logs:        {state['log_dir']}")
    for name, path in state["kubeconfigs"].items():
        print(f"kubeconfig:  {name:6} {path}")


def cmd_up(args) -> int:
    state = read_state(args.run_dir)
    if state and pid_alive(state["pid"]):
        print(f"already running (supervisor pid {state['pid']}):")
        _print_state(state)
        return 0
    if args.foreground:
        return _serve(args.run_dir, args.fleet)
    args.run_dir.mkdir(parents=True, exist_ok=True)
    log = open(args.run_dir / "supervisor.log", "ab")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlops_cluster.cli",
            "--run-dir",
            str(args.run_dir),
            "_serve",
            "--fleet",
            str(args.fleet),
        ],
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=log,
        start_new_session=True,
        env=dict(os.environ, PYTHONPATH=os.pathsep.join(sys.path)),
    )
    print("starting the local control plane (the first run builds Kubernetes: ~20 min)...", file=sys.stderr)
    while True:
        state = read_state(args.run_dir)
        if state and state.get("pid") == proc.pid:
            _print_state(state)
            return 0
        if proc.poll() is not None:
            print(f"error: the control plane did not start; see {args.run_dir / 'supervisor.log'}", file=sys.stderr)
            print((args.run_dir / "supervisor.log").read_text()[-3000:], file=sys.stderr)
            return 1
        time.sleep(0.5)


def cmd_down(args) -> int:
    state = read_state(args.run_dir)
    if not state or not pid_alive(state["pid"]):
        print("not running")
        (args.run_dir / "state.json").unlink(missing_ok=True)
        return 0
    kill_pid(state["pid"], timeout=30)
    print("stopped")
    return 0


def cmd_status(args) -> int:
    state = read_state(args.run_dir)
    if not state or not pid_alive(state["pid"]):
        print("not running")
        return 3
    if args.json:
        print(json.dumps(state, indent=2))
    else:
        _print_state(state)
        for name, pid in state["processes"].items():
            print(f"process:     {name:24} pid {pid:<8} {'running' if pid_alive(pid) else 'DEAD'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="mlops-cluster", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--run-dir", type=Path, default=default_run_dir(), help="state, logs and kubeconfigs (default: %(default)s)"
    )
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="start the control plane and the simulated GPU fleet")
    up.add_argument("--foreground", action="store_true", help="stay attached until Ctrl-C")
    up.add_argument("--fleet", type=Path, default=DEFAULT_FLEET, help="fleet description (YAML)")
    sub.add_parser("down", help="stop everything started by 'up'")
    status = sub.add_parser("status", help="show whether it runs, where, and its kubeconfigs")
    status.add_argument("--json", action="store_true")
    serve = sub.add_parser("_serve")  # the supervisor behind 'up'
    serve.add_argument("--fleet", type=Path, default=DEFAULT_FLEET)
    args = parser.parse_args(argv)
    if args.command == "_serve":
        return _serve(args.run_dir, args.fleet)
    return {"up": cmd_up, "down": cmd_down, "status": cmd_status}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
