"""A real IPython kernel and what its cells output: started by a real jupyter-server with this
suite's extension, as in a notebook pod (``start_notebook_kernel``), or by jupyter_client alone
(``Kernel``: no notebook server behind it)."""

from __future__ import annotations

import contextlib
import os
import queue
import secrets
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from jupyter_client import BlockingKernelClient, KernelManager
from mlops_cluster import processes
from mlops_cluster.ports import free_port

from tests.jobs_support import IMAGE

HUB_HOST = "hub.example.org"
OUTPUT_TYPES = ("stream", "display_data", "update_display_data", "execute_result", "error")


@dataclass
class Result:
    """The iopub messages one execution produced, and its execute_reply."""

    outputs: list[dict] = field(default_factory=list)
    """``{"type": msg_type, **content}`` in arrival order."""
    reply: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.reply.get("status") == "ok"

    def stream(self, name: str) -> str:
        return "".join(o["text"] for o in self.outputs if o["type"] == "stream" and o["name"] == name)

    @property
    def stdout(self) -> str:
        return self.stream("stdout")

    @property
    def stderr(self) -> str:
        return self.stream("stderr")

    def data(self, mime: str, types=("display_data", "update_display_data", "execute_result")):
        return [o["data"][mime] for o in self.outputs if o["type"] in types and mime in o["data"]]

    @property
    def html(self) -> str:
        return "\n".join(self.data("text/html"))

    @property
    def text(self) -> str:
        return "\n".join(self.data("text/plain"))

    @property
    def errors(self) -> list[dict]:
        return [o for o in self.outputs if o["type"] == "error"]

    def displays(self) -> list[tuple[str, str, dict]]:
        """(msg type, display_id, data) of every display and update, in order."""
        return [
            (o["type"], (o.get("transient") or {}).get("display_id"), o["data"])
            for o in self.outputs
            if o["type"] in ("display_data", "update_display_data")
        ]


class Kernel:
    """A kernel that jupyter_client started by itself: no notebook server launched it."""

    def __init__(self, cwd: str, env: dict[str, str]):
        self.manager = KernelManager(kernel_name="python3")
        self.manager.start_kernel(cwd=cwd, env=env)
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def start(self, code: str) -> str:
        """Send ``code`` for execution; return the message id to ``collect``."""
        return self.client.execute(code, allow_stdin=False, stop_on_error=False)

    def collect(self, msg_id: str, timeout: float = 120, *, result: Result | None = None, until=None) -> Result:
        """Outputs of ``msg_id`` until the kernel is idle again, then its reply.

        With ``until`` (a predicate on the ``Result`` so far) return as soon as
        it holds, without the reply; call again with ``result`` to go on.
        """
        result = result or Result()
        deadline = time.monotonic() + timeout
        while True:
            msg = self._next(self.client.get_iopub_msg, deadline)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            kind = msg["msg_type"]
            if kind == "status" and msg["content"]["execution_state"] == "idle":
                break
            if kind in OUTPUT_TYPES:
                result.outputs.append({"type": kind, **msg["content"]})
                if until is not None and until(result):
                    return result
        while True:
            msg = self._next(self.client.get_shell_msg, deadline)
            if msg["parent_header"].get("msg_id") == msg_id:
                result.reply = msg["content"]
                return result

    def display_updates(self, display_id: str, until, timeout: float = 60) -> list[dict]:
        """``update_display_data`` messages for ``display_id`` as they arrive, until ``until``
        (a predicate on the list so far) holds; each is ``{"data", "parent_msg_id"}``.

        For updates sent while no cell runs (a background thread's): other
        iopub messages read meanwhile are dropped, so call it between cells.
        """
        updates: list[dict] = []
        deadline = time.monotonic() + timeout
        while not until(updates):
            msg = self._next(self.client.get_iopub_msg, deadline)
            content = msg["content"]
            if (
                msg["msg_type"] == "update_display_data"
                and (content.get("transient") or {}).get("display_id") == display_id
            ):
                updates.append({"data": content["data"], "parent_msg_id": msg["parent_header"].get("msg_id")})
        return updates

    def interrupt(self) -> None:
        """What the notebook's stop button does: SIGINT to the kernel."""
        self.manager.interrupt_kernel()

    def run(self, code: str, timeout: float = 120) -> Result:
        return self.collect(self.start(code), timeout)

    def value(self, expression: str, timeout: float = 120):
        """Evaluate ``expression`` in the kernel; its ``repr`` read back with ``eval``."""
        result = self.run(f"print(repr(({expression})))", timeout)
        assert result.ok, result.outputs
        return eval(result.stdout)  # noqa: S307 - our own test kernel's repr of plain data

    @staticmethod
    def _next(get, deadline: float) -> dict:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError("the kernel did not finish in time")
        try:
            return get(timeout=remaining)
        except queue.Empty:
            raise TimeoutError("the kernel did not finish in time") from None

    def shutdown(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


class NotebookServer:
    """A real jupyter-server with this suite's extension, run as a notebook pod's is: in the
    user's environment (their credentials), serving ``root``. Its files (config, runtime,
    log) live in a folder of their own, outside ``root``, so no job ships them."""

    def __init__(self, root: str, env: dict[str, str]):
        self.dir = Path(tempfile.mkdtemp(prefix="notebook-server-"))
        self.runtime = self.dir / "runtime"
        port, self.token = free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{port}/"
        argv = [
            sys.executable,
            "-m",
            "jupyter_server",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            "--ServerApp.open_browser=False",
            "--ServerApp.allow_root=True",
            f"--ServerApp.root_dir={root}",
            "--ServerApp.jpserver_extensions=jupyter_mlops=True",
        ]
        env = {
            **env,
            "JUPYTER_CONFIG_DIR": str(self.dir / "config"),
            "JUPYTER_DATA_DIR": str(self.dir / "data"),
            "JUPYTER_RUNTIME_DIR": str(self.runtime),
        }
        self.proc = processes.start("jupyter-server", argv, self.dir, env=env)
        deadline = time.monotonic() + 60
        while not self._serving():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"jupyter-server did not start:\n{self.log()}")
            time.sleep(0.3)

    def _serving(self) -> bool:
        try:
            return self.request("GET", "api/status").status_code == 200
        except httpx.TransportError:
            return False

    def request(self, method: str, path: str, body: dict | None = None) -> httpx.Response:
        return httpx.request(
            method, self.url + path, json=body, timeout=30, headers={"Authorization": f"token {self.token}"}
        )

    def log(self) -> str:
        return (self.dir / "jupyter-server.log").read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        processes.stop_tree(self.proc)
        shutil.rmtree(self.dir, ignore_errors=True)


class ServedKernel(Kernel):
    """A kernel started by a ``NotebookServer`` (``POST /api/kernels``), reached through the
    connection file the server wrote; interrupted and shut down through the server."""

    def __init__(self, cwd: str, env: dict[str, str]):
        self.server = NotebookServer(cwd, env)
        try:
            # path "": the kernel runs in the server's root, as a notebook there would.
            started = self.server.request("POST", "api/kernels", {"name": "python3", "path": ""})
            assert started.status_code == 201, (started.status_code, started.text)
            self.kernel_id = started.json()["id"]
            self.client = BlockingKernelClient(
                connection_file=str(self.server.runtime / f"kernel-{self.kernel_id}.json")
            )
            self.client.load_connection_file()
            self.client.start_channels(hb=False)
            self._wait_until_answering()
        except BaseException:
            self.server.stop()
            raise

    def _wait_until_answering(self, timeout: float = 60) -> None:
        """Until the kernel answers kernel_info on shell and its status reaches us on iopub.

        Not jupyter_client's ``wait_for_ready``: without a KernelManager of its own that
        takes a heartbeat missed for a second (a busy machine) for a dead kernel.
        """
        deadline = time.monotonic() + timeout
        while True:
            if time.monotonic() > deadline or self.server.proc.poll() is not None:
                raise RuntimeError(f"the kernel did not answer:\n{self.server.log()}")
            self.client.kernel_info()
            try:
                if self.client.get_shell_msg(timeout=1)["msg_type"] != "kernel_info_reply":
                    continue
                self.client.get_iopub_msg(timeout=1)  # iopub is connected: nothing gets lost
            except queue.Empty:
                continue
            break
        with contextlib.suppress(queue.Empty):  # what the requests left on iopub
            while True:
                self.client.get_iopub_msg(timeout=0.2)

    def interrupt(self) -> None:
        """What the notebook's stop button does: the server interrupts its kernel."""
        interrupted = self.server.request("POST", f"api/kernels/{self.kernel_id}/interrupt")
        assert interrupted.status_code == 204, (interrupted.status_code, interrupted.text)

    def shutdown(self) -> None:
        self.client.stop_channels()
        self.server.request("DELETE", f"api/kernels/{self.kernel_id}")
        self.server.stop()


def notebook_environment(user, hub) -> dict[str, str]:
    """What a notebook pod's kernel of ``user`` has: credentials, image, hub names, and
    the hub's availability URL with ``user``'s own JupyterHub token (``hub``: a
    ``hub_availability.HubAvailability``)."""
    return {
        **os.environ,
        **user.environment(),
        **hub.environment(user.name),
        "JUPYTER_IMAGE_SPEC": IMAGE,
        "MLOPS_SSH_HOST": HUB_HOST,
    }


def start_notebook_kernel(user, workdir, hub) -> ServedKernel:
    """``user``'s kernel in ``workdir``, started by ``user``'s notebook server, with
    ``%load_ext jupyter_mlops`` done."""
    kernel = ServedKernel(str(workdir), notebook_environment(user, hub))
    loaded = kernel.run("%load_ext jupyter_mlops")
    assert loaded.ok, loaded.outputs
    return kernel
