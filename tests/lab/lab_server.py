"""A real ``jupyter lab`` as a child process, for the browser tests.

``start_jupyter_lab`` runs the JupyterLab of this environment (jupyter-server
with the server extensions and prebuilt labextensions installed in
``sys.prefix``) as a child process that dies with the test run. Its config,
data, runtime, settings and workspace folders are fresh, so nothing from the
developer's ~/.jupyter (a saved layout, another extension's setting) changes
what the browser sees.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from mlops_cluster import processes
from mlops_cluster.ports import free_port


@dataclass
class JupyterLab:
    url: str
    """Base URL, ending with a slash."""
    token: str
    log_file: Path

    def get_json(self, path: str) -> tuple[int, dict | str]:
        """GET ``path`` (relative to the base URL) with the token; (status, body)."""
        request = urllib.request.Request(self.url + path, headers={"Authorization": f"token {self.token}"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode(errors="replace")


@contextlib.contextmanager
def start_jupyter_lab(work_dir: Path, extra_args: list[str] = ()):
    """Run ``jupyter lab`` until the block ends; yields a ``JupyterLab``."""
    port = free_port()
    token = secrets.token_hex(16)
    dirs = {name: work_dir / name for name in ("root", "config", "data", "runtime", "settings", "workspaces", "logs")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    # Without an answer to "fetch Jupyter news?", JupyterLab puts a toast over the page.
    notification = dirs["settings"] / "@jupyterlab" / "apputils-extension"
    notification.mkdir(parents=True)
    (notification / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    argv = [
        sys.executable,
        "-m",
        "jupyterlab",
        "--no-browser",
        "--allow-root",
        "--ServerApp.ip=127.0.0.1",
        f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0",
        f"--IdentityProvider.token={token}",
        f"--ServerApp.root_dir={dirs['root']}",
        f"--LabApp.user_settings_dir={dirs['settings']}",
        f"--LabApp.workspaces_dir={dirs['workspaces']}",
        *extra_args,
    ]
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(dirs["config"]),
        "JUPYTER_DATA_DIR": str(dirs["data"]),
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
    }
    proc = processes.start("jupyter-lab", argv, dirs["logs"], env=env)
    lab = JupyterLab(f"http://127.0.0.1:{port}/", token, dirs["logs"] / "jupyter-lab.log")
    try:
        _wait_until_serving(lab, proc)
        yield lab
    finally:
        processes.stop(proc)


def _wait_until_serving(lab: JupyterLab, proc, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {proc.returncode}:\n{_tail(lab.log_file)}")
        try:
            if lab.get_json("api/status")[0] == 200:
                return
        except (urllib.error.URLError, ConnectionError, OSError):
            pass
        time.sleep(0.3)
    raise RuntimeError(f"jupyter lab did not serve in {timeout:.0f}s:\n{_tail(lab.log_file)}")


def _tail(path: Path, lines: int = 30) -> str:
    if not path.exists():
        return ""
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
