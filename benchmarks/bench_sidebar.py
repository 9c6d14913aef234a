"""The sidebar in headless Chromium against a namespace of 500 PyTorchJobs.

- ``sidebar.first_render_500_ms``: from switching to the jobs view (which
  mounts My jobs) until its 500 rows are in the page; side by side with
  ``kubectl get -o json`` of the same 500 objects (the note gives the REST
  list call alone).
- ``sidebar.update_p50_ms``: from a change the user makes to a job in the API
  server (cancelling it, with the patch the Cancel button sends, then taking
  its annotation back) to the badge change on the page, measured with a
  MutationObserver's wall clock; side by side with the arrival of the same
  change on the REST watch stream read by a plain HTTP client.

No controller writes these jobs' status: the shared control plane runs no
Training Operator (``harness.BenchContext``), and the jobs are created
suspended, so that one started with it would create no pods for them either.
"""

from __future__ import annotations

import json
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import kubernetes

from .harness import BenchContext, Figure, Stopwatch, median, percentile

JOBS = 500
IMAGE = "quay.io/jupyter/pytorch-notebook:cuda12-python-3.12"


def _harness(repo: Path):
    # The browser harness is shared with the sidebar's browser test (tests/sidebar_support.py),
    # and so is the hub's real availability service (tests/hub_availability.py).
    from tests import hub_availability, sidebar_support

    return sidebar_support, hub_availability


def _create_jobs(control_plane, namespace: str, count: int) -> list[str]:
    from jupyter_mlops.jobs.pytorchjob import PyTorchJob

    custom = kubernetes.client.CustomObjectsApi(control_plane.api_client("admin"))
    names = [f"bench-{i:04d}" for i in range(count)]

    def create(name: str) -> None:
        body = PyTorchJob(
            command="python train.py", name=name, replicas=2, gpus=1, image=IMAGE, snapshot=None
        ).to_manifest(namespace)
        body["spec"]["runPolicy"]["suspend"] = True
        custom.create_namespaced_custom_object(
            "kubeflow.org", "v1", namespace, "pytorchjobs", body, _request_timeout=30
        )

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, names))
    return names


def _watch_arrivals(lab, name: str, arrivals: list, stop: threading.Event) -> None:
    """Record (wall-clock ms, state) of every watch event of job ``name`` on the REST stream."""
    import httpx

    url = f"{lab.url}mlops/api/v1/jobs/pytorchjobs/{name}/watch?timeout=600"
    try:
        with httpx.stream("GET", url, headers={"Authorization": f"token {lab.token}"}, timeout=None) as response:
            for line in response.iter_lines():
                if stop.is_set():
                    return
                if line.startswith("data: "):
                    arrivals.append((time.time() * 1000, json.loads(line[6:])["job"]["state"]))
    except httpx.HTTPError:
        if not stop.is_set():
            raise  # the measurement loop then times out naming what it waited for


_OBSERVE = """([name, want]) => {
  // Records (in window.__mlopsSeen) the wall-clock time the job's badge first shows `want`.
  window.__mlopsSeen = null;
  const check = () => {
    const b = document.querySelector(
      `[data-testid="mlops-job"][data-job="pytorchjob/${name}"] [data-testid="mlops-state"]`);
    if (b && b.textContent === want) { observer.disconnect(); window.__mlopsSeen = Date.now(); }
  };
  const observer = new MutationObserver(check);
  observer.observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def _wait(predicate, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise RuntimeError(f"waited {timeout:.0f}s for {what}")
        time.sleep(0.005)


def _arrival(arrivals: list, start: int, state: str) -> float:
    """Wall-clock ms at which the watch stream first reported ``state`` after index ``start``."""

    def found():
        return next((t for t, s in arrivals[start:] if s == state), None)

    _wait(lambda: found() is not None, f"the REST watch stream to report {state}")
    return found()


def run(ctx: BenchContext) -> list[Figure]:
    from jupyter_mlops.jobs.kind import CANCELLED
    from jupyter_mlops.jobs.pytorchjob import PyTorchJobKind

    support, hub_availability = _harness(ctx.repo)
    control_plane = ctx.control_plane()
    count = 50 if ctx.quick else JOBS
    rounds = 3 if ctx.quick else 5
    updates = 5 if ctx.quick else 20
    with (
        tempfile.TemporaryDirectory() as tmp,
        support.provisioned_researcher(control_plane, "benchsidebar", Path(tmp)) as env,
    ):
        tmp_dir = Path(tmp)
        namespace = env["MLOPS_NAMESPACE"]
        names = _create_jobs(control_plane, namespace, count)
        custom = kubernetes.client.CustomObjectsApi(control_plane.api_client("admin"))

        kubectl_ms = []
        for _ in range(rounds):
            with Stopwatch() as sw:
                out = control_plane.kubectl("get", "pytorchjobs", "-n", namespace, "-o", "json").stdout
            assert len(json.loads(out)["items"]) == count
            kubectl_ms.append(sw.ms)

        with (
            hub_availability.running_hub_availability(control_plane, tmp_dir / "hub") as hub,
            support.start_lab(
                tmp_dir / "lab", {**env, **hub.environment("benchsidebar"), "JUPYTER_IMAGE_SPEC": IMAGE}
            ) as lab,
            support.chromium(tmp_dir / "profile") as browser,
        ):
            rest_ms = []
            for _ in range(rounds):
                with Stopwatch() as sw:
                    status, body = lab.api("jobs")
                assert status == 200 and len(body["jobs"]) == count, status
                rest_ms.append(sw.ms)

            page, sidebar = support.open_sidebar(browser, lab)
            rows = '[data-testid="mlops-jobs"] [data-testid="mlops-job"]'
            page.wait_for_function(f"document.querySelectorAll('{rows}').length === {count}")
            render_ms = []
            for _ in range(rounds):
                sidebar.get_by_role("tab", name="SSH").click()
                page.wait_for_selector(rows, state="detached")
                render_ms.append(
                    page.evaluate(f"""() => new Promise(resolve => {{
                    const start = performance.now();
                    const tab = [...document.querySelectorAll('#jupyter-mlops-sidebar [role=tab]')]
                        .find(t => t.textContent === 'GPUs & jobs');
                    const observer = new MutationObserver(() => {{
                        if (document.querySelectorAll('{rows}').length === {count}) {{
                            observer.disconnect(); resolve(performance.now() - start);
                        }}
                    }});
                    observer.observe(document.body, {{subtree: true, childList: true}});
                    tab.click();
                }})""")
                )

            # Updates: the user cancels one job (Cancelled), then takes it back (Pending again).
            name = names[0]
            arrivals: list = []
            stop = threading.Event()
            watcher = threading.Thread(target=_watch_arrivals, args=(lab, name, arrivals, stop), daemon=True)
            watcher.start()
            _wait(lambda: arrivals, "the REST watch stream to send the job's current state")
            job = custom.get_namespaced_custom_object("kubeflow.org", "v1", namespace, "pytorchjobs", name)
            # Taken back: the annotation goes; the job stays suspended, as it was created.
            changes = {
                "Cancelled": PyTorchJobKind().cancel_patch(job),
                "Pending": {"metadata": {"annotations": {CANCELLED: None}}},
            }
            page_ms, stream_ms = [], []
            for i in range(updates):
                want = "Cancelled" if i % 2 == 0 else "Pending"
                page.evaluate(_OBSERVE, [name, want])
                arrived_before = len(arrivals)
                written = time.time() * 1000
                custom.patch_namespaced_custom_object(
                    "kubeflow.org", "v1", namespace, "pytorchjobs", name, changes[want], _request_timeout=30
                )
                page_ms.append(page.wait_for_function("window.__mlopsSeen").json_value() - written)
                stream_ms.append(_arrival(arrivals, arrived_before, want) - written)
            stop.set()

    return [
        Figure(
            "sidebar.first_render_500_ms",
            median(render_ms),
            "ms",
            goal="<= 1000",
            comparison=median(kubectl_ms),
            comparison_label=f"kubectl get -o json of the same {count}",
            note=f"median of {rounds}; {count} PyTorchJobs; REST list call alone "
            f"{median(rest_ms):.0f} ms; headless Chromium",
        ),
        Figure(
            "sidebar.update_p50_ms",
            percentile(page_ms, 50),
            "ms",
            goal="<= 1000",
            comparison=percentile(stream_ms, 50),
            comparison_label="REST watch event alone",
            note=f"p50 of {updates} cancels and their undoing; p90 {percentile(page_ms, 90):.0f} ms in the page",
        ),
    ]
