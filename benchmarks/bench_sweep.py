"""Katib sweeps: throughput through the real Katib, and views of a 1,000-trial sweep.

- ``sweep.trials_per_min``: a 100-trial sweep, 10 trials at a time, submitted with the
  suite's ``Sweep`` API as a notebook would, run by the real Katib v0.19.0 (controller,
  webhooks, goptuna, db-manager on MariaDB, the StdOut collector beside each trial) on a
  cluster of its own; trials per minute from ``submit`` to the Experiment's Succeeded.
  Side by side: the same sweep written as a plain Katib Experiment (the code in a
  ConfigMap volume, no snapshot, no suite) and created directly as admin.
- ``sweep.suite_share_per_trial_ms``: what the suite adds per trial, from a watch of the
  trials and their pods (wall-clock arrival of each event, ``_Timeline``).
- ``sweep.plot_1000_trials_ms`` and ``sweep.sidebar_render_1000_trials_ms``: the
  parallel-coordinates plot the magics render and the sidebar's first render of a
  1,000-trial sweep's detail; the latter side by side with the same render by the
  server extension and labextension of ``COMPARISON_COMMIT`` (built here from
  ``git archive``), which listed the Trials from the API server on every detail and
  drew every trial's row and line. Those 1,000 Trials are NOT run by Katib: at the rate
  measured above (about 75 trials/min here) 1,000 real trials would add a quarter of an
  hour to ``make bench`` and leave 1,000 retained pods. This module creates the
  Experiment and its Trials as admin on the shared cluster, where no Katib controller
  runs, and writes their status through the status subresource, copied from the sweep
  Katib ran in the first part (each trial with its own x and loss).
"""

from __future__ import annotations

import copy
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import kubernetes

from .harness import BenchContext, Figure, Stopwatch, median

IMAGE = "quay.io/jupyter/pytorch-notebook:cuda12-python-3.12"
GROUP, VERSION = "kubeflow.org", "v1beta1"
TRAIN = """\
import argparse
parser = argparse.ArgumentParser()
parser.add_argument("--x", type=float)
print(f"loss={parser.parse_args().x ** 2:.6f}")
"""
"""A trial: prints its metric and ends."""
COMPARISON_COMMIT = "b35aeab"
"""The last revision whose sweep detail listed the Trials from the API server on every call
and whose sidebar drew every trial's table row and plot line."""


def run(ctx: BenchContext) -> list[Figure]:
    trials, parallel = (20, 10) if ctx.quick else (100, 10)
    big = 200 if ctx.quick else 1000
    with tempfile.TemporaryDirectory() as tmp:
        figures, real = _throughput(Path(tmp), trials, parallel)
        rate = figures[0].value
        figures += _views_of_a_big_sweep(
            ctx,
            Path(tmp),
            big,
            real,
            3 if ctx.quick else 5,
            f"{big} Trials made by this benchmark, not run by Katib: "
            f"at the {rate:.0f} trials/min measured here they would "
            f"take {big / rate:.0f} min (module docstring)",
        )
    return figures


# ------------------------------------------------------------------ real Katib
def _throughput(work: Path, trials: int, parallel: int) -> tuple[list[Figure], dict]:
    """The two throughput figures, and the suite's sweep and one trial as Katib left them."""
    from jupyter_mlops.jobs import JobsClient, Parameter, Snapshot, Sweep
    from jupyterhub_mlops.provisioning import KATIB_INJECTION_LABEL
    from mlops_cluster import ControlPlane
    from mlops_cluster.controlplane import second_pod_cidr

    sidebar_support, jobs_support = _test_helpers()
    code = work / "code"
    code.mkdir()
    (code / "train.py").write_text(TRAIN)
    # A cluster of its own: the shared one runs no Katib (harness.BenchContext).
    cp = ControlPlane(work / "katib-cluster", katib=True, pod_cidr=second_pod_cidr()).start()
    runner = None
    try:
        admin = cp.api_client("admin")
        core, custom = kubernetes.client.CoreV1Api(admin), kubernetes.client.CustomObjectsApi(admin)
        with sidebar_support.provisioned_researcher(cp, "benchsweep", work) as env:
            namespace = env["MLOPS_NAMESPACE"]
            jobs_support.runs_locally(core, namespace)
            assert core.read_namespace(namespace).metadata.labels.items() >= KATIB_INJECTION_LABEL.items()
            runner = jobs_support.controllers_pod_runner(cp, work / "pods")
            client = JobsClient.from_environment(env)

            sweep = Sweep(
                name="bench-suite",
                command="python train.py --x {x}",
                parameters=[Parameter("x", "double", -2, 2)],
                objective_metric="loss",
                objective="minimize",
                max_trials=trials,
                parallel_trials=parallel,
                trial_kind="pod",
                image=IMAGE,
                snapshot=Snapshot(code),
            )
            with _Timeline(admin, namespace, "bench-suite") as ours, Stopwatch() as total:
                with Stopwatch() as submit:
                    handle = sweep.submit(client)
                status = handle.wait(timeout=3600)
            if status["state"] != "Succeeded" or status["trials"]["succeeded"] != trials:
                raise RuntimeError(f"the suite's sweep ended {status['state']}: {status['trials']}")
            ours_s = total.ms / 1000

            spec = _plain_experiment(handle.get()["spec"])
            core.create_namespaced_config_map(
                namespace, {"metadata": {"name": "bench-train"}, "data": {"train.py": TRAIN}}
            )
            with _Timeline(admin, namespace, "bench-plain") as plain, Stopwatch() as direct:
                custom.create_namespaced_custom_object(
                    GROUP,
                    VERSION,
                    namespace,
                    "experiments",
                    {
                        "apiVersion": f"{GROUP}/{VERSION}",
                        "kind": "Experiment",
                        "metadata": {"name": "bench-plain"},
                        "spec": spec,
                    },
                )
                experiment = _wait_experiment(custom, namespace, "bench-plain")
            if experiment["status"].get("trialsSucceeded") != trials:
                raise RuntimeError(f"the plain Experiment ended with {experiment['status']}")
            plain_s = direct.ms / 1000
            real = {
                "experiment": handle.get(),
                "trial": custom.list_namespaced_custom_object(
                    GROUP, VERSION, namespace, "trials", label_selector="katib.kubeflow.org/experiment=bench-suite"
                )["items"][0],
            }
            client.close()
    finally:
        if runner is not None:
            runner.stop()
        cp.stop()
    process_ms = _process_ms(code)
    a, b = ours.breakdown(), plain.breakdown()
    per_trial_share = submit.ms / trials + (a["pod"] - b["pod"])
    where = (
        f"medians per trial, ours / plain: Katib+Job controller before the pod "
        f"{a['before']:.0f} / {b['before']:.0f} ms, pod (scheduling, pod runner, process, "
        f"collector) {a['pod']:.0f} / {b['pod']:.0f} ms, Katib after the pod "
        f"{a['after']:.0f} / {b['after']:.0f} ms; the trial's process alone, run here "
        f"directly: {process_ms:.0f} ms"
    )
    return [
        Figure(
            "sweep.trials_per_min",
            trials / ours_s * 60,
            "trials/min",
            goal="report",
            comparison=trials / plain_s * 60,
            comparison_label="the same sweep as a plain Experiment created directly",
            note=f"{trials} trials, {parallel} in parallel, submit -> Succeeded "
            f"({ours_s:.0f} s vs {plain_s:.0f} s); real Katib v0.19.0, goptuna random, "
            "StdOut collector, pods run by the pod runner; 2 cores shared with other "
            "clusters; " + where,
        ),
        Figure(
            "sweep.suite_share_per_trial_ms",
            per_trial_share,
            "ms",
            goal="report",
            comparison=a["trial"],
            comparison_label="median trial, created -> Succeeded",
            note=f"submit() (validate, snapshot ConfigMap, create as the user) "
            f"{submit.ms:.0f} ms / {trials} trials, plus the median pod time of our "
            "trials minus that of the plain ones (the snapshot unpacked before the "
            "command); the rest is Katib, the Job controller and the pod runner",
        ),
    ], real


def _plain_experiment(suite_spec: dict) -> dict:
    """The suite's sweep written by hand for Katib: the same objective, algorithm, search
    space and counts; a Job trial running train.py from a ConfigMap volume."""
    spec = {
        key: copy.deepcopy(suite_spec[key])
        for key in (
            "objective",
            "algorithm",
            "parallelTrialCount",
            "maxTrialCount",
            "maxFailedTrialCount",
            "parameters",
            "metricsCollectorSpec",
        )
        if key in suite_spec
    }
    spec["trialTemplate"] = {
        "primaryContainerName": "training",
        "retain": True,
        "trialParameters": [{"name": "x", "reference": "x"}],
        "trialSpec": {
            "apiVersion": "batch/v1",
            "kind": "Job",
            "spec": {
                "backoffLimit": 0,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [
                            {
                                "name": "training",
                                "image": IMAGE,
                                "command": ["python", "/code/train.py", "--x", "${trialParameters.x}"],
                                "volumeMounts": [{"name": "code", "mountPath": "/code"}],
                            }
                        ],
                        "volumes": [{"name": "code", "configMap": {"name": "bench-train"}}],
                    }
                },
            },
        },
    }
    return spec


def _wait_experiment(custom, namespace: str, name: str, timeout: float = 3600) -> dict:
    watch = kubernetes.watch.Watch()
    for event in watch.stream(
        custom.list_namespaced_custom_object,
        GROUP,
        VERSION,
        namespace,
        "experiments",
        field_selector=f"metadata.name={name}",
        timeout_seconds=int(timeout),
    ):
        obj = event["object"]
        if any(
            c["type"] in ("Succeeded", "Failed") and c["status"] == "True"
            for c in (obj.get("status") or {}).get("conditions") or []
        ):
            watch.stop()
            return obj
    raise RuntimeError(f"experiment {name} did not finish in {timeout:.0f}s")


def _process_ms(code: Path, runs: int = 5) -> float:
    """The trial's own process, run here without a pod: its floor."""
    samples = []
    for _ in range(runs):
        with Stopwatch() as sw:
            subprocess.run([sys.executable, "train.py", "--x", "0.5"], cwd=code, check=True, capture_output=True)
        samples.append(sw.ms)
    return median(samples)


class _Timeline:
    """Wall-clock arrival (ms) of each trial's events, from watches on Trials and pods:
    trial created, its pod created, its pod finished (the pod runner's status), the trial
    Succeeded (Katib's status)."""

    def __init__(self, api_client, namespace: str, experiment: str):
        self.custom = kubernetes.client.CustomObjectsApi(api_client)
        self.core = kubernetes.client.CoreV1Api(api_client)
        self.namespace, self.selector = namespace, f"katib.kubeflow.org/experiment={experiment}"
        self.seen: dict[tuple[str, str], float] = {}
        self.stop = threading.Event()

    def __enter__(self) -> _Timeline:
        self.threads = [threading.Thread(target=self._watch, args=(kind,), daemon=True) for kind in ("trials", "pods")]
        for thread in self.threads:
            thread.start()
        time.sleep(1)  # both watches open before anything is created
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=15)

    def _watch(self, kind: str) -> None:
        if kind == "trials":
            lister, args = self.custom.list_namespaced_custom_object, (GROUP, VERSION, self.namespace, "trials")
        else:
            lister, args = self.core.list_namespaced_pod, (self.namespace,)
        while not self.stop.is_set():
            watch = kubernetes.watch.Watch()
            for event in watch.stream(lister, *args, label_selector=self.selector, timeout_seconds=5):
                now = time.time() * 1000
                obj = event["object"]
                if kind == "pods":
                    self._pod(obj.to_dict(), now)
                else:
                    self._trial(obj, now)
                if self.stop.is_set():
                    watch.stop()

    def _mark(self, what: str, trial: str, now: float) -> None:
        self.seen.setdefault((what, trial), now)

    def _trial(self, trial: dict, now: float) -> None:
        name = trial["metadata"]["name"]
        self._mark("trial", name, now)
        if any(
            c["type"] == "Succeeded" and c["status"] == "True"
            for c in (trial.get("status") or {}).get("conditions") or []
        ):
            self._mark("trial_done", name, now)

    def _pod(self, pod: dict, now: float) -> None:
        trial = (pod["metadata"].get("labels") or {}).get("katib.kubeflow.org/trial")
        if trial is None:  # the suggestion service's pod
            return
        self._mark("pod", trial, now)
        if pod["status"]["phase"] in ("Succeeded", "Failed"):
            self._mark("pod_done", trial, now)

    def breakdown(self) -> dict[str, float]:
        """Median ms per trial: before its pod, its pod, after its pod, and in all."""
        names = [t for (what, t) in self.seen if what == "trial_done"]
        spans = {
            "before": ("trial", "pod"),
            "pod": ("pod", "pod_done"),
            "after": ("pod_done", "trial_done"),
            "trial": ("trial", "trial_done"),
        }
        return {
            key: median(
                [
                    self.seen[(end, t)] - self.seen[(start, t)]
                    for t in names
                    if (start, t) in self.seen and (end, t) in self.seen
                ]
            )
            for key, (start, end) in spans.items()
        }


# ------------------------------------------------------------------ 1,000 trials
def _views_of_a_big_sweep(
    ctx: BenchContext, work: Path, count: int, real: dict, rounds: int, provenance: str
) -> list[Figure]:
    import json

    from jupyter_mlops.jobs import JobsClient
    from jupyter_mlops.magics.render import sweep_plot

    sidebar_support, _ = _test_helpers()
    from tests import hub_availability  # as bench_sidebar.py uses it

    cp = ctx.control_plane()
    custom = kubernetes.client.CustomObjectsApi(cp.api_client("admin"))
    with sidebar_support.provisioned_researcher(cp, "benchbigsweep", work) as env:
        namespace = env["MLOPS_NAMESPACE"]
        name = _write_big_sweep(custom, namespace, count, real)
        kubectl_ms = []
        for _ in range(rounds):
            with Stopwatch() as sw:
                out = cp.kubectl("get", "trials", "-n", namespace, "-o", "json").stdout
            assert len(json.loads(out)["items"]) == count
            kubectl_ms.append(sw.ms)

        # The plot as `%mlops status` renders it: the detail (trials listed, plot data
        # computed by jobs.trial_plot) then the SVG (magics.plot).
        client = JobsClient.from_environment(env)
        handle = client.get("sweep", name)
        status_ms, plot_ms = [], []
        for _ in range(rounds):
            with Stopwatch() as fetch:
                status = handle.status()
            with Stopwatch() as draw:
                svg = sweep_plot(status)
            assert svg.count("<polyline") == count, svg.count("<polyline")
            status_ms.append(fetch.ms)
            plot_ms.append(draw.ms)
        client.close()

        with hub_availability.running_hub_availability(cp, work / "hub") as hub:
            lab_env = {**env, **hub.environment("benchbigsweep"), "JUPYTER_IMAGE_SPEC": IMAGE}
            ours = _sidebar_render(sidebar_support, lab_env, work / "ours", name, count, rounds)
            old_revision = _old_revision(ctx.repo, work / "old")
            old = None
            if old_revision is not None:
                old = _sidebar_render(sidebar_support, lab_env, work / "old-run", name, count, rounds, *old_revision)
    old_label = f"the same render before the Trials watch and the windowed table ({COMPARISON_COMMIT})"
    old_note = (
        f"; {COMPARISON_COMMIT}: REST detail first {old['rest_first']:.0f} ms, then {old['rest']:.0f} ms"
        if old
        else f"; no comparison ({COMPARISON_COMMIT} not in this clone's history, or its labextension did not build)"
    )
    return [
        Figure(
            "sweep.plot_1000_trials_ms",
            median(plot_ms),
            "ms",
            goal="<= 1000",
            comparison=median(kubectl_ms),
            comparison_label=f"kubectl get trials -o json of the same {count}",
            note=f"median of {rounds}: plot data (jobs.trial_plot) and SVG (magics.plot) of "
            f"{count} trials as `%mlops status` draws them (`%mlops best` shows the best "
            f"trial's table); the detail it draws from, handle.status(): "
            f"{median(status_ms):.0f} ms; {provenance}",
        ),
        Figure(
            "sweep.sidebar_render_1000_trials_ms",
            ours["render"],
            "ms",
            goal="<= 1000",
            comparison=old["render"] if old else None,
            comparison_label=old_label,
            note=f"median of {rounds}: click on the sweep in My jobs until the plot holds its "
            f"{count} trials' lines and the trials table is in the page (every row before; "
            f"the rows in view of a table of {count} now), headless Chromium; the REST detail "
            f"call alone: first {ours['rest_first']:.0f} ms, then {ours['rest']:.0f} ms (Trials "
            f"from the server's watch){old_note}; kubectl get trials -o json of the same "
            f"{count}: {median(kubectl_ms):.0f} ms; {provenance}",
        ),
    ]


def _sidebar_render(
    support, env: dict, work: Path, name: str, count: int, rounds: int, server_ext=None, labextension=None
) -> dict[str, float]:
    """The REST detail call (first, then the median of ``rounds``) and the sidebar's render
    (median of ``rounds``), in ms, by a fresh ``jupyter lab`` and Chromium."""
    revision = {"server_ext": server_ext, "labextension": labextension}
    with (
        support.start_lab(work / "lab", env, **{k: v for k, v in revision.items() if v is not None}) as lab,
        support.chromium(work / "profile") as browser,
    ):
        rest_ms = []
        for _ in range(rounds + 1):
            with Stopwatch() as rest:
                code, _ = lab.api(f"jobs/sweeps/{name}")
            assert code == 200, code
            rest_ms.append(rest.ms)
        page, _ = support.open_sidebar(browser, lab)
        row = f'[data-testid="mlops-job"][data-job="sweep/{name}"] button'
        page.wait_for_selector(row)
        render_ms = []
        for _ in range(rounds):
            render_ms.append(page.evaluate(_OPEN_DETAIL, [row, count]))
            page.get_by_role("button", name="← My jobs").click()
            page.wait_for_selector(row)
    return {"rest_first": rest_ms[0], "rest": median(rest_ms[1:]), "render": median(render_ms)}


def _old_revision(repo: Path, into: Path) -> tuple[Path, Path] | None:
    """``server_ext`` and the built labextension of ``COMPARISON_COMMIT``, unpacked under
    ``into`` with ``git archive`` and built with this worktree's node_modules; None
    without that history or when the build fails."""
    archive = subprocess.run(
        ["git", "-C", str(repo), "archive", COMPARISON_COMMIT, "server_ext", "labextension"], capture_output=True
    )
    modules = repo / "labextension" / "node_modules"
    if archive.returncode != 0 or not modules.is_dir():
        return None
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, check=True)
    (into / "labextension" / "node_modules").symlink_to(modules.resolve())
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"  # jupyter-builder
    built = subprocess.run(
        ["npm", "run", "build"], cwd=into / "labextension", env={**os.environ, "PATH": path}, capture_output=True
    )
    if built.returncode != 0:
        return None
    return into / "server_ext", into / "server_ext" / "jupyter_mlops" / "labextension"


_OPEN_DETAIL = """([row, count]) => new Promise(resolve => {
  // Done when the plot holds all `count` lines (a polyline each, or runs of the paths
  // they share) and the trials table is in the page: every row (the table before it
  // was windowed) or the rows in view of a table that says it has `count` rows.
  const start = performance.now();
  const done = () => {
    const plot = document.querySelector('[data-testid="mlops-trials-plot"]');
    if (!plot) return false;
    let lines = plot.querySelectorAll('polyline').length;
    for (const path of plot.querySelectorAll('path')) lines += (path.getAttribute('d').match(/M/g) || []).length;
    const rows = document.querySelectorAll('[data-testid="mlops-trial"]').length;
    const table = document.querySelector('[data-testid="mlops-trials-table"]');
    const windowed = table !== null && table.getAttribute('aria-rowcount') === String(count + 1);
    return lines === count && (rows === count || (rows > 0 && windowed));
  };
  const observer = new MutationObserver(() => {
    if (done()) { observer.disconnect(); resolve(performance.now() - start); }
  });
  observer.observe(document.body, {subtree: true, childList: true});
  document.querySelector(row).click();
})"""


def _write_big_sweep(custom, namespace: str, count: int, real: dict) -> str:
    """An Experiment and ``count`` Trials made here as admin (no controller runs): the
    Experiment's labels, spec and status are those of the suite's sweep Katib ran
    (``real["experiment"]``), for ``count`` trials; each Trial's spec and status those of
    one of its trials (``real["trial"]``), with x drawn at random and the loss it prints."""
    name, source = "bench-1000", real["experiment"]
    rng = random.Random(1000)
    experiment = custom.create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        "experiments",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Experiment",
            "metadata": {"name": name, "labels": source["metadata"].get("labels") or {}},
            "spec": {**copy.deepcopy(source["spec"]), "maxTrialCount": count},
        },
    )
    owner = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Experiment",
        "name": name,
        "uid": experiment["metadata"]["uid"],
        "controller": True,
    }

    def trial(i: int) -> tuple[str, str, float]:
        x = rng.uniform(-2, 2)
        body = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "Trial",
            "metadata": {
                "name": f"{name}-{i:04d}",
                "ownerReferences": [owner],
                "labels": {"katib.kubeflow.org/experiment": name},
            },
            "spec": {
                **copy.deepcopy(real["trial"]["spec"]),
                "parameterAssignments": [{"name": "x", "value": f"{x:.6f}"}],
            },
        }
        created = custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "trials", body)
        created["status"] = copy.deepcopy(real["trial"]["status"])
        for metric in created["status"]["observation"]["metrics"]:
            metric.update({key: f"{x * x:.6f}" for key in ("latest", "min", "max")})
        custom.replace_namespaced_custom_object_status(
            GROUP, VERSION, namespace, "trials", body["metadata"]["name"], created
        )
        return body["metadata"]["name"], f"{x:.6f}", x * x

    with ThreadPoolExecutor(8) as pool:
        made = list(pool.map(trial, range(count)))
    best, best_x, loss = min(made, key=lambda t: t[2])
    experiment = custom.get_namespaced_custom_object(GROUP, VERSION, namespace, "experiments", name)
    experiment["status"] = {
        **copy.deepcopy(source["status"]),
        "trials": count,
        "trialsSucceeded": count,
        "succeededTrialList": [t[0] for t in made],
        "currentOptimalTrial": {
            "bestTrialName": best,
            "parameterAssignments": [{"name": "x", "value": best_x}],
            "observation": {
                "metrics": [{"name": "loss", "latest": f"{loss:.6f}", "min": f"{loss:.6f}", "max": f"{loss:.6f}"}]
            },
        },
    }
    custom.replace_namespaced_custom_object_status(GROUP, VERSION, namespace, "experiments", name, experiment)
    return name


def _test_helpers():
    """The harness shared with the tests: tests/sidebar_support.py (browser, Lab, researchers)
    and tests/jobs_support.py (the pod runner for the controllers' pods)."""
    from tests import jobs_support, sidebar_support

    return sidebar_support, jobs_support
