"""``python -m demo`` (what ``make demo`` runs): start the stack, print where
to click, run until Ctrl-C, stop everything."""

from __future__ import annotations

import argparse
import signal
import sys
import threading
import webbrowser
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "cluster"))  # mlops_cluster, also when run without `make`

from mlops_cluster import ControlPlaneError  # noqa: E402

from demo.stack import DemoError, DemoSettings, DemoStack  # noqa: E402


def banner(stack: DemoStack) -> str:
    s = stack.settings
    cluster = stack.cluster
    return "\n".join(
        [
            "",
            "  jupyterhub-mlops demo is running",
            f"  Open      {s.url}",
            f"  Log in    any user name (e.g. alice), password: {s.password}",
            f"  SSH       after starting a server: ssh -p {s.ssh_port} <user>@{s.ip} "
            "(password: an API token from the hub's Token page, or register a key)",
            f"  Cluster   kubectl --kubeconfig {cluster.kubeconfig('admin')} get pods -A",
            f"  Logs      {stack.log_dir} (hub, proxy, pod runner), {stack.run_dir / 'pods'} (notebook servers)",
            "  Ctrl-C stops everything.",
            "",
        ]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    parser.add_argument("--ip", default="127.0.0.1", help="address JupyterHub listens on")
    parser.add_argument("--port", type=int, default=8000, help="port JupyterHub listens on")
    parser.add_argument("--ssh-port", type=int, default=2222, help="port of the SSH gateway")
    parser.add_argument(
        "--run-dir",
        type=Path,
        default=REPO / ".demo",
        help="state and logs of this run (wiped cluster state on each start)",
    )
    parser.add_argument("--password", help="the demo password (default: a new random one)")
    parser.add_argument("--no-browser", action="store_true", help="do not open a browser")
    args = parser.parse_args(argv)

    settings = DemoSettings(run_dir=args.run_dir, ip=args.ip, port=args.port, ssh_port=args.ssh_port)
    if args.password:
        settings.password = args.password
    if len(settings.password) < 8:
        parser.error("--password must be at least 8 characters (JupyterHub's rule)")

    def interrupt(signum, frame):
        raise KeyboardInterrupt

    # While starting, Ctrl-C (or SIGTERM, or closing the terminal) interrupts at
    # once; afterwards it ends the wait below. Either way `stop` runs.
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)
    stopping = threading.Event()
    stack = DemoStack(settings)
    try:
        stack.start()
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, lambda *_: stopping.set())
        print(banner(stack), flush=True)
        if not args.no_browser:
            webbrowser.open(settings.url)
        while not stopping.wait(1.0):
            stack.check_alive()
        return 0
    except (DemoError, ControlPlaneError) as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        stack.stop()


if __name__ == "__main__":
    sys.exit(main())
