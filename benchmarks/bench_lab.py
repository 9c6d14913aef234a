"""The notebook server once its streams are gone: ``lab.idle_cpu_pct_after_streams``.

A real ``jupyter lab`` with the server extension, a namespace of PyTorchJobs,
then 50 streams opened and closed each way:

- headless Chromium: the sidebar's My jobs view mounted and unmounted 50
  times (each mount opens ``jobs/watch``, each unmount aborts it), then 50
  job watches (``jobs/pytorchjobs/<name>/watch``) fetched from the page and
  aborted after their first event; then the browser is closed;
- curl: 50 watches of every kind and of one job, each killed once its first event is in.

Then the server's CPU time (utime + stime of its process, from /proc, in
clock ticks: 0.03 % of a core over 30 s) over the measuring window, and its
threads (``lab.server_threads_after_streams``). Side by side, the same against the server extension
of ``COMPARISON_COMMIT`` (a thread per stream and per kind, each stream with
its own API-server watches), unpacked with ``git archive``.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .bench_sidebar import IMAGE, _create_jobs
from .harness import BenchContext, Figure

STREAMS = 50
JOBS = 20
COMPARISON_COMMIT = "f5f5cc1"
"""The last revision whose notebook server drove a blocking client from a thread per stream."""

_FETCH_FIRST_EVENT = """async (url) => {
  // A job watch as the job detail opens it, aborted once its first event is in.
  const abort = new AbortController();
  const response = await fetch(url, {signal: abort.signal});
  const reader = response.body.getReader();
  let text = '';
  while (!text.includes('event: job')) {
    const {value, done} = await reader.read();
    if (done) break;
    text += new TextDecoder().decode(value);
  }
  abort.abort();
  return response.status;
}"""


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime


def _threads(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/task"))


def _old_server_ext(repo: Path, into: Path) -> Path | None:
    """``server_ext`` of ``COMPARISON_COMMIT``, unpacked under ``into``; None without git history."""
    archive = subprocess.run(["git", "-C", str(repo), "archive", COMPARISON_COMMIT, "server_ext"], capture_output=True)
    if archive.returncode != 0:
        return None
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    return into / "server_ext"


def _open_and_close_streams(support, lab, names: list[str], tmp_dir: Path) -> None:
    api = f"{lab.url}mlops/api/v1"
    with support.chromium(tmp_dir / "profile") as browser:
        page, sidebar = support.open_sidebar(browser, lab)
        rows = '[data-testid="mlops-jobs"] [data-testid="mlops-job"]'
        page.wait_for_selector(rows)
        for _ in range(STREAMS):
            sidebar.get_by_role("tab", name="SSH").click()
            page.wait_for_selector(rows, state="detached")
            sidebar.get_by_role("tab", name="GPUs & jobs").click()
            page.wait_for_selector(rows)
        for i in range(STREAMS):
            url = f"{api}/jobs/pytorchjobs/{names[i % len(names)]}/watch?timeout=300"
            assert page.evaluate(_FETCH_FIRST_EVENT, url) == 200
        page.close()

    def curl(i: int) -> None:
        # Each curl leaves (killed) once the stream's first event is in.
        url = f"{api}/jobs/watch" if i % 2 else f"{api}/jobs/pytorchjobs/{names[0]}/watch"
        proc = subprocess.Popen(["curl", "-sN", "-H", f"Authorization: token {lab.token}", url], stdout=subprocess.PIPE)
        seen = b""
        try:
            while b"event: job" not in seen:
                chunk = proc.stdout.read1(4096)
                if not chunk:
                    break
                seen += chunk
        finally:
            proc.kill()
            proc.wait()
        assert b"event: job" in seen, (url, seen)

    with ThreadPoolExecutor(10) as pool:
        list(pool.map(curl, range(STREAMS)))


def _idle_cpu_after_streams(
    support, env: dict, names: list[str], tmp_dir: Path, window: float, server_ext: Path | None = None
) -> tuple[float, int, int]:
    """(CPU % of one core over ``window`` seconds, server threads before, after the streams)."""
    kwargs = {} if server_ext is None else {"server_ext": server_ext}
    with support.start_lab(tmp_dir / "lab", env, **kwargs) as lab:
        status, body = lab.api("jobs")
        assert status == 200 and len(body["jobs"]) == len(names), (status, body)
        threads_before = _threads(lab.pid)
        _open_and_close_streams(support, lab, names, tmp_dir)
        time.sleep(2)  # let the last closes land before the window opens
        cpu, wall = _cpu_seconds(lab.pid), time.monotonic()
        time.sleep(window)
        busy = (_cpu_seconds(lab.pid) - cpu) / (time.monotonic() - wall) * 100
        return busy, threads_before, _threads(lab.pid)


def run(ctx: BenchContext) -> list[Figure]:
    from tests import sidebar_support as support

    control_plane = ctx.control_plane()
    window = 10.0 if ctx.quick else 30.0
    with (
        tempfile.TemporaryDirectory() as tmp,
        support.provisioned_researcher(control_plane, "benchlab", Path(tmp)) as env,
    ):
        tmp_dir = Path(tmp)
        env = {**env, "JUPYTER_IMAGE_SPEC": IMAGE}
        names = _create_jobs(control_plane, env["MLOPS_NAMESPACE"], JOBS)
        ours, before, after = _idle_cpu_after_streams(support, env, names, tmp_dir / "ours", window)
        old_ext = _old_server_ext(ctx.repo, tmp_dir / "old")
        old = old_before = old_after = None
        if old_ext is not None:
            old, old_before, old_after = _idle_cpu_after_streams(
                support, env, names, tmp_dir / "old-run", window, server_ext=old_ext
            )
    note = (
        f"{STREAMS} sidebar mounts + {STREAMS} job watches in headless Chromium, "
        f"{STREAMS} curl watches; {JOBS} PyTorchJobs; CPU over {window:.0f}s"
    )
    label = f"thread per stream ({COMPARISON_COMMIT})"
    if old is None:
        note += f"; no comparison ({COMPARISON_COMMIT} not in this clone's history)"
    return [
        Figure(
            "lab.idle_cpu_pct_after_streams", ours, "%", goal="<= 1", comparison=old, comparison_label=label, note=note
        ),
        Figure(
            "lab.server_threads_after_streams",
            after,
            "threads",
            comparison=old_after,
            comparison_label=label,
            note=f"threads of the server process after the same streams; before them: "
            f"{before} (comparison {old_before})",
        ),
    ]
