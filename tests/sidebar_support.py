"""What the sidebar's browser tests and benchmark share: a real JupyterLab running
this worktree's server extension and labextension as a researcher's notebook
server would (jobs API credentials of the user's service account), researchers
provisioned for one test and removed after it, the Galata specs of ui-tests/ run
against it (``run_galata``), and headless Chromium driven from Python (the benchmark).

GPU availability comes from the hub's real availability service:
tests/hub_availability.py (``hub_availability`` fixture, or
``running_hub_availability`` outside pytest).
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import kubernetes
from mlops_cluster.ports import free_port

REPO = Path(__file__).resolve().parents[1]
LABEXTENSION_BUILD = REPO / "server_ext" / "jupyter_mlops" / "labextension"
ARTIFACTS = REPO / "test-artifacts"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SIDEBAR_ID = "jupyter-mlops-sidebar"


@dataclass
class Lab:
    url: str
    token: str
    root: Path
    log_file: Path
    pid: int = 0
    """The jupyter-server process (a benchmark reads its CPU time from /proc)."""

    def api(self, path: str, method: str = "GET", body: dict | None = None) -> tuple[int, object]:
        """Call ``mlops/api/v1/<path>`` with the token; (status, JSON or text)."""
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            f"{self.url}mlops/api/v1/{path}",
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}"} if self.token else {},
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                text = response.read()
                return response.status, json.loads(text) if text else None
        except urllib.error.HTTPError as error:
            text = error.read().decode(errors="replace")
            try:
                return error.code, json.loads(text)
            except ValueError:
                return error.code, text


UI_TESTS = REPO / "ui-tests"


def run_galata(
    lab: Lab, project: str, environment: dict[str, str], timeout: float = 800
) -> subprocess.CompletedProcess:
    """``npx playwright test --project <project>`` (ui-tests/) against ``lab``, a ``start_lab(galata=True)``.

    ``environment`` reaches the specs (ui-tests/tests/cluster.ts reads KUBECTL,
    ADMIN_KUBECONFIG and MLOPS_TEST_NAMESPACE). Screenshots go to
    ARTIFACTS; what Playwright keeps of a failed test (its page as text, a
    screenshot) to ARTIFACTS/galata-<project>/.
    """
    if not (UI_TESTS / "node_modules" / "@jupyterlab" / "galata").is_dir():
        raise RuntimeError(
            "ui-tests/node_modules is missing: run `make install` "
            "(PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci in ui-tests)"
        )
    ARTIFACTS.mkdir(exist_ok=True)
    return subprocess.run(
        [shutil.which("npx") or "npx", "playwright", "test", "--project", project],
        cwd=UI_TESTS,
        timeout=timeout,
        capture_output=True,
        text=True,
        env={
            **os.environ,
            **environment,
            "TARGET_URL": lab.url.rstrip("/"),
            "ARTIFACTS_DIR": str(ARTIFACTS),
            "GALATA_OUTPUT_DIR": str(ARTIFACTS / f"galata-{project}"),
            "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1",
        },
    )


def cluster_environment(control_plane, namespace: str) -> dict[str, str]:
    """What the specs need to act as admin (ui-tests/tests/cluster.ts)."""
    return {
        "KUBECTL": str(control_plane.bins.kubectl),
        "ADMIN_KUBECONFIG": str(control_plane.kubeconfig("admin")),
        "MLOPS_TEST_NAMESPACE": namespace,
    }


def _die_with_parent() -> None:
    # Between fork and exec: if the test run dies, the kernel kills jupyter lab too.
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # 1 = PR_SET_PDEATHSIG


@contextlib.contextmanager
def start_lab(
    work_dir: Path,
    environment: dict[str, str],
    galata: bool = False,
    server_ext: Path = REPO / "server_ext",
    labextension: Path = LABEXTENSION_BUILD,
):
    """``jupyter lab`` with this worktree's server extension and labextension; yields a ``Lab``.

    ``galata=True`` configures the server with ``jupyterlab.galata.configure_jupyter_server``
    (its test helpers, no token: Galata's fixtures expect that) for the Galata tests.

    Config, data, runtime, settings and workspaces are fresh folders, so nothing
    from ~/.jupyter changes what the browser sees. JUPYTER_PATH puts this
    worktree's labextension build ahead of the one installed in the virtualenv.
    ``server_ext`` is where the server extension is imported from, ``labextension``
    the built labextension the page loads (a benchmark puts an earlier revision's
    there, side by side).
    """
    if not (labextension / "package.json").exists():
        raise RuntimeError(f"{labextension} is missing: build the labextension (cd labextension && npm run build)")
    dirs = {name: work_dir / name for name in ("root", "config", "data", "runtime", "settings", "workspaces", "path")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    (dirs["path"] / "labextensions").mkdir()
    (dirs["path"] / "labextensions" / "jupyter-mlops").symlink_to(labextension)
    news = dirs["settings"] / "@jupyterlab" / "apputils-extension"
    news.mkdir(parents=True)
    (news / "notification.jupyterlab-settings").write_text('{"fetchNews": "false"}')
    port, token = free_port(), "" if galata else secrets.token_hex(16)
    if galata:
        (dirs["config"] / "jupyter_server_config.py").write_text(
            "from jupyterlab.galata import configure_jupyter_server\nconfigure_jupyter_server(c)\n"
        )
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
        f"--LabApp.expose_app_in_browser={galata}",
        f"--LabApp.user_settings_dir={dirs['settings']}",
        f"--LabApp.workspaces_dir={dirs['workspaces']}",
    ]
    python_path = os.pathsep.join([str(server_ext), str(REPO / "spawner"), os.environ.get("PYTHONPATH", "")])
    env = {
        **os.environ,
        **environment,
        "PYTHONPATH": python_path,
        "JUPYTER_CONFIG_DIR": str(dirs["config"]),
        "JUPYTER_DATA_DIR": str(dirs["data"]),
        "JUPYTER_RUNTIME_DIR": str(dirs["runtime"]),
        "JUPYTER_PATH": str(dirs["path"]),
    }
    log_file = work_dir / "jupyter-lab.log"
    with open(log_file, "wb") as log:
        proc = subprocess.Popen(
            argv, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_parent
        )
    lab = Lab(f"http://127.0.0.1:{port}/", token, dirs["root"], log_file, proc.pid)
    try:
        _wait_until_serving(lab, proc)
        yield lab
    finally:
        with contextlib.suppress(ProcessLookupError):  # it may have exited (and said why) already
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def _wait_until_serving(lab: Lab, proc, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited with {proc.returncode}:\n{lab.log_file.read_text()[-3000:]}")
        with contextlib.suppress(OSError):
            if lab.api("info")[0] == 200:
                return
        time.sleep(0.3)
    raise RuntimeError(f"jupyter lab did not serve in {timeout:.0f}s:\n{lab.log_file.read_text()[-3000:]}")


@contextlib.contextmanager
def chromium(profile_dir: Path):
    """A Playwright BrowserContext of Debian's /usr/bin/chromium (no downloaded browsers)."""
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: run `make install` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile_dir),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1400, "height": 1000},
        )
        # The machine is shared and JupyterLab's first load is heavy: generous waits.
        context.set_default_timeout(120_000)
        try:
            yield context
        finally:
            context.close()


def open_sidebar(context, lab: Lab):
    """Load JupyterLab, open the MLOps sidebar; (page, sidebar locator)."""
    page = context.new_page()
    # Shown by pytest when a test fails: what the page itself complained about.
    page.on("pageerror", lambda error: print(f"page error: {error}"))
    page.on("console", lambda message: message.type == "error" and print(f"console: {message.text}"))
    page.goto(f"{lab.url}lab?token={lab.token}")
    page.wait_for_selector("#jupyterlab-splash", state="detached")
    page.locator(f'.jp-SideBar .lm-TabBar-tab[data-id="{SIDEBAR_ID}"]').click()
    sidebar = page.locator(f"#{SIDEBAR_ID}")
    sidebar.wait_for(state="visible")
    return page, sidebar


def remove_namespace(core: kubernetes.client.CoreV1Api, namespace: str, timeout: float = 120) -> None:
    """Delete a researcher's namespace and wait until its pods are gone.

    Pods being deleted still hold their GPUs in the hub's count, so the next
    test would see fewer free: waiting for them keeps tests apart.
    """
    try:
        core.delete_namespace(namespace, grace_period_seconds=0, _request_timeout=30)
    except kubernetes.client.ApiException as exc:
        if exc.status != 404:
            raise
        return
    deadline = time.monotonic() + timeout
    while core.list_namespaced_pod(namespace, _request_timeout=30).items:
        if time.monotonic() > deadline:
            raise TimeoutError(f"pods of namespace {namespace} still there after {timeout:.0f}s")
        time.sleep(0.3)


@contextlib.contextmanager
def provisioned_researcher(control_plane, username: str, token_dir: Path):
    """A user namespace and service account as the hub provisions them, removed afterwards;
    yields the jobs API's environment.

    For the benchmark, which runs outside pytest (the tests use jobs_support.make_user
    and ``remove_namespace``).
    """
    import asyncio

    from jupyterhub_mlops.provisioning import ensure_user_namespace
    from kubernetes_asyncio import config as async_config

    async def provision():
        api = await async_config.new_client_from_config(config_file=str(control_plane.kubeconfig("hub")))
        async with api:
            return await ensure_user_namespace(api, username, prefix=f"mlops-{secrets.token_hex(2)}-")

    provisioned = asyncio.run(provision())
    core = kubernetes.client.CoreV1Api(control_plane.api_client("admin"))
    try:
        request = kubernetes.client.AuthenticationV1TokenRequest(
            spec=kubernetes.client.V1TokenRequestSpec(audiences=[], expiration_seconds=3600)
        )
        token = core.create_namespaced_service_account_token(
            provisioned.service_account, provisioned.namespace, request
        ).status.token
        token_file = token_dir / f"{username}.token"
        token_file.write_text(token)
        yield {
            "MLOPS_KUBE_SERVER": control_plane.server,
            "MLOPS_KUBE_TOKEN_FILE": str(token_file),
            "MLOPS_KUBE_CA_FILE": str(control_plane.ca_file),
            "MLOPS_NAMESPACE": provisioned.namespace,
        }
    finally:
        remove_namespace(core, provisioned.namespace)
