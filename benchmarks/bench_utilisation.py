"""GPU utilisation of a small lab sharing its servers through the suite's Kueue queues.

The case study's claim: a lab whose researchers each owned one GPU server used
about a third of the GPU time it does once the servers are shared in line. This
module replays two weeks of such a lab (``utilisation.trace``: 8 researchers in
3 JupyterHub groups, one 4-GPU server each; notebooks with idle stretches,
training jobs shaped by the Philly trace, some across two servers, and an
800-trial Katib sweep with 12 trials in flight) on a cluster of its own with the real Kueue v0.19.2 and the
real scheduler, the suite's Kueue objects (``jupyterhub_mlops.queues``: each
group's quota is its researchers' servers) and KWOK pods that finish after their
duration (``mlops_cluster.simulated_runs``), ``FACTOR`` times faster than the lab
lived it: two weeks in 8.4 minutes.

Every time is one the API server holds: a workload arrives at its object's
``creationTimestamp``, a pod starts at its ``status.startTime`` (when KWOK, the
stand-in kubelet, made it Running) and stops when its container finished
(``finishedAt``, once it Succeeded) or at its deletion (Kueue evicted it), all
relative to a marker ConfigMap created as the replay begins. KWOK counts a
pod's duration from when it handled the pod's Running update (the moment
``startTime`` keeps to the second), so a pod counts for what the cluster held,
KWOK's lag included (``utilisation.lag`` prints it). Those timestamps have
one-second resolution: ``FACTOR`` seconds (10 minutes) of lab time.

A sweep's trials are created as Katib creates them (``utilisation.sweeps``):
the next one of a run when one of that run's trials has a Succeeded pod. Katib
itself waits further, for the Job's condition and its Trial's status; at
``FACTOR`` those seconds would be hours of the lab's, spent by the compressed
cluster rather than by the policy.

The static one-server-per-researcher allocation runs on the same cluster at
the same time, read the same way: the same trace on eight more servers of its
own, each researcher's pods pinned to their server, no Kueue
(``objects.workload_object(pinned_to=...)``), lined up by the scheduler. A job
wider than one server is not submitted there (its two pods cannot both run on
one server; the first would hold the server for nothing): it never starts, as in
``offline.simulate(pinned=True)``. A workload of the trace that has no object
(not submitted, or not created by the horizon) counts as arrived at its trace
time and never started, except a sweep's trial that its sweep had not created
yet: that one never arrived.

Figures:

- ``utilisation.vs_static``: GPU-hours used in the window with the queues,
  over GPU-hours used by the static run. Printed beside it, as a cross-check:
  the same two policies replayed in this process (``offline.simulate``).
- ``utilisation.vs_ideal``: the queued GPU-hours over
  ``offline.ideal_gpu_hours``, an upper bound no scheduler can beat
  (explained there).
- ``utilisation.wait_<class>_median_h`` / ``_p95_h`` per class, the static
  run's beside it, and ``utilisation.longest_wait_h``.

``--quick`` replays the first two days only.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import json
import os
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import kubernetes
import yaml
from mlops_contract.queueing import JOB, NOTEBOOK, TRIAL

from .harness import BenchContext, Figure, median, percentile
from .utilisation import lag, offline, stats
from .utilisation.objects import HOUR_S, STATIC_TAINT, WORKLOAD_LABEL, static_namespace, workload_object
from .utilisation.sweeps import SweepGate
from .utilisation.trace import HORIZON_H, Lab, Workload, lab_trace, small_lab

FACTOR = float(os.environ.get("MLOPS_UTILISATION_FACTOR") or 600)
"""Lab seconds per replayed second: two weeks in 34 minutes. Every second the controllers
take is FACTOR seconds of the lab's, held by the compressed cluster rather than by the
policy: the queued run reached 0.71 of the bound at 2400 (two weeks in 504 s), 0.82 at
1200 and 0.93 at 600 (benchmarks/RESULTS.md). ``MLOPS_UTILISATION_FACTOR`` sets another."""
SEED = 1
QUICK_HORIZON_H = 48.0
GPU_PRODUCT = "NVIDIA-A100-SXM4-80GB"
CLASSES = (("notebook", NOTEBOOK.name), ("job", JOB.name), ("trial", TRIAL.name))


def run(ctx: BenchContext) -> list[Figure]:
    lab = small_lab()
    horizon = QUICK_HORIZON_H if ctx.quick else HORIZON_H
    workloads = lab_trace(lab, SEED, horizon)
    replayed = Replayed(
        static=stats.from_placements(offline.simulate(lab, workloads, horizon, pinned=True)),
        pooled=stats.from_placements(offline.simulate(lab, workloads, horizon, pinned=False)),
    )
    ideal = offline.ideal_gpu_hours(workloads, lab.gpus, horizon)
    queued, static, machine = _replay_on_cluster(ctx, lab, workloads, horizon)
    return figures(queued, static, replayed, ideal, horizon, lab, machine)


@dataclasses.dataclass(frozen=True)
class Replayed:
    """The in-process replays of both policies (``offline.simulate``): a cross-check."""

    static: list[stats.Started]
    pooled: list[stats.Started]


def figures(
    queued: list[stats.Started],
    static: list[stats.Started],
    replayed: Replayed,
    ideal: float,
    horizon: float,
    lab: Lab,
    machine: str = "",
) -> list[Figure]:
    """``queued`` and ``static``: the two runs measured on the cluster; ``machine``: what
    the compressed cluster added to them (``utilisation.lag``), for the notes."""
    used = stats.used_gpu_hours(queued, horizon)
    static_used = stats.used_gpu_hours(static, horizon)
    replayed_used = stats.used_gpu_hours(replayed.pooled, horizon)
    replayed_static = stats.used_gpu_hours(replayed.static, horizon)
    capacity = lab.gpus * horizon
    out = [
        Figure(
            "utilisation.vs_static",
            used / static_used,
            "x",
            ">= 3",
            note=(
                f"GPU-hours used in the window, on the cluster: queued with Kueue {used:.0f} "
                f"({used / capacity:.0%} of {capacity:.0f}), static {static_used:.0f}; "
                f"busy-only ratio {stats.busy_gpu_hours(queued, horizon) / stats.busy_gpu_hours(static, horizon):.2f}; "
                f"replayed in-process: pooled {replayed_used:.0f}, static {replayed_static:.0f}, "
                f"x{replayed_used / replayed_static:.2f}; x3 would take {3 * static_used:.0f} GPU-h, "
                f"{3 * static_used / capacity:.0%} of the window; replayed {FACTOR:g}x faster than the lab"
            ),
        ),
        Figure(
            "utilisation.vs_ideal",
            used / ideal,
            "x",
            ">= 0.9",
            note=(
                f"queued {used:.0f} GPU-h over the ideal bound {ideal:.0f} (offline.ideal_gpu_hours); "
                f"the pooled policy replayed in-process reaches {replayed_used / ideal:.2f}"
                + (f"; the cluster's own lag: {machine}" if machine else "")
            ),
        ),
    ]
    for short, name in CLASSES:
        ours, theirs = stats.wait_summary(queued, horizon, name), stats.wait_summary(static, horizon, name)
        sim = stats.wait_summary(replayed.pooled, horizon, name)
        never = (
            f"{ours.never_started} of {ours.count} never started (static: {theirs.never_started}); "
            f"replayed in-process: median {sim.median:.1f} h, p95 {sim.p95:.1f} h, {sim.never_started} never started"
        )
        if name == TRIAL.name:
            # A run creates its sweep's trials only as fast as they finish there.
            never = f"trials created: {ours.count}, static {theirs.count}, in-process {sim.count}; " + never
        out += [
            Figure(
                f"utilisation.wait_{short}_median_h",
                ours.median,
                "h",
                comparison=theirs.median,
                comparison_label="static",
                note=never,
            ),
            Figure(f"utilisation.wait_{short}_p95_h", ours.p95, "h", comparison=theirs.p95, comparison_label="static"),
        ]
    longest, longest_static = stats.wait_summary(queued, horizon), stats.wait_summary(static, horizon)
    out.append(
        Figure(
            "utilisation.longest_wait_h",
            longest.longest,
            "h",
            comparison=longest_static.longest,
            comparison_label="static",
            note="a workload still waiting at the end counts as waiting until then",
        )
    )
    return out


# ------------------------------------------------------------------ the cluster
def static_server(server: str) -> str:
    """The static run's copy of a researcher's server."""
    return f"static-{server}"


def _fleet(lab: Lab) -> dict:
    """One KWOK node per researcher's server, named as ``lab.servers``, for the queued
    run, and a copy of each (``static_server``), tainted, for the static run."""
    prefix = lab.servers[0].rsplit("-", 1)[0]
    if list(lab.servers) != [f"{prefix}-{i}" for i in range(len(lab.servers))]:
        raise ValueError(f"servers must be named {prefix}-0..{len(lab.servers) - 1}: {lab.servers}")
    gpu = {"product": GPU_PRODUCT, "count": lab.gpus_per_server, "memory": 81920, "family": "ampere"}
    server = {"count": len(lab.servers), "cpu": "64", "memory": "512Gi", "pods": 250, "gpu": gpu}
    return {
        "gpuTaint": {"key": "nvidia.com/gpu", "value": "present", "effect": "NoSchedule"},
        "nodes": [
            {"name": prefix, **server},
            {"name": static_server(prefix), **server, "taints": [STATIC_TAINT]},
        ],
    }


def _control_plane(run_dir: Path, fleet_file: Path):
    from mlops_cluster import ControlPlane

    if "kueue" not in {f.name for f in dataclasses.fields(ControlPlane)}:
        raise RuntimeError(
            "this checkout's ControlPlane has no kueue option: the utilisation benchmark needs "
            "ControlPlane(kueue=True) (Kueue v0.19.2 on the local cluster)"
        )
    return ControlPlane(run_dir, fleet_file=fleet_file, kueue=True).start()


def _queue_objects(lab: Lab) -> list[dict]:
    """Namespaces as the hub makes them, and the suite's Kueue objects: each group's
    quota is the GPUs of its researchers' servers (what they owned before)."""
    from jupyterhub_mlops.provisioning import namespace_manifest
    from jupyterhub_mlops.queues import cluster_objects, local_queues, queue_group
    from mlops_contract.namespaces import user_namespace

    quotas: dict[str, int] = {}
    for r in lab.researchers:
        quotas[r.group] = quotas.get(r.group, 0) + lab.gpus_per_server
    objects = cluster_objects(quotas, {GPU_PRODUCT: lab.gpus})
    for r in lab.researchers:
        namespace = user_namespace(r.name)
        objects.append(namespace_manifest(namespace, r.name))
        objects += local_queues(namespace, queue_group([r.group], quotas))
        objects.append({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": static_namespace(r.name)}})
    return objects


def _replay_on_cluster(
    ctx: BenchContext, lab: Lab, workloads: list[Workload], horizon: float
) -> tuple[list[stats.Started], list[stats.Started], str]:
    """The queued run and the static run, side by side on one cluster, and what the
    cluster itself added to them: (queued, static, ``_machine_lag``)."""
    work = ctx.artifacts / "utilisation"
    work.mkdir(parents=True, exist_ok=True)
    fleet_file = work / "fleet.yaml"
    fleet_file.write_text(yaml.safe_dump(_fleet(lab)))
    cp = _control_plane(work / "cluster", fleet_file)
    try:
        objects = _queue_objects(lab)
        cp.apply_objects([o for o in objects if o["kind"] == "Namespace"])
        cp.apply_objects([o for o in objects if o["kind"] != "Namespace"])
        api = cp.api_client()
        core, batch = kubernetes.client.CoreV1Api(api), kubernetes.client.BatchV1Api(api)
        _wait_for_default_accounts(core, {o["metadata"]["name"] for o in objects if o["kind"] == "Namespace"})
        static = {static_namespace(r.name) for r in lab.researchers}
        succeeded: queue.Queue[tuple[bool, str]] = queue.Queue()
        recorder = _PodRecorder(
            core, lambda pod: succeeded.put((pod.metadata.namespace in static, pod.metadata.labels[WORKLOAD_LABEL]))
        )
        recorder.start()
        t0 = _marker(core)
        owners = {r.name: r.server for r in lab.researchers}

        def static_node(w: Workload) -> str | None:
            return static_server(owners[w.owner]) if w.gpus <= lab.gpus_per_server else None

        _submit(core, batch, workloads, horizon, static_node, t0, succeeded)
        recorder.stop()
        jobs = batch.list_job_for_all_namespaces(label_selector=WORKLOAD_LABEL).items
        pods = recorder.pods()
        (work / "replay.txt").write_text(f"t0 {t0.isoformat()}\npods seen {len(pods)}\njobs {len(jobs)}\n")
        # Kueue's side of the run (admission and finish times), for reading the figures.
        dumped = {}
        for kind in ("workloads", "clusterqueues"):
            dumped[kind] = cp.kubectl("get", kind, "-A", "-o", "json").stdout
            (work / f"{kind}.json").write_text(dumped[kind])
        runs = []
        for is_static in (False, True):
            mine = [o for o in (*jobs, *pods) if (o.metadata.namespace in static) == is_static]
            runs.append(measured_run(workloads, mine, t0, horizon))
        as_json = [api.sanitize_for_serialization(p) for p in pods]
        # Every pod's last state (deleted ones included), for reading where a run's time went.
        (work / "pods.json").write_text(json.dumps(as_json))
        machine = _machine_lag(workloads, as_json, dumped["workloads"], static)
        print(f"utilisation: the cluster's own lag: {machine}", flush=True)
        with (work / "replay.txt").open("a") as out:
            out.write(f"lag {machine}\n")
        return runs[0], runs[1], machine
    finally:
        cp.stop()


def _machine_lag(workloads: list[Workload], pods: list[dict], kueue_json: str, static: set[str]) -> str:
    """What KWOK and Kueue's controllers added to the runs, in one line (``utilisation.lag``)."""
    durations = {w.name: w.duration * HOUR_S / FACTOR for w in workloads}
    overruns = {
        is_static: lag.pod_overruns_s(
            [p for p in pods if (p["metadata"]["namespace"] in static) == is_static], durations, WORKLOAD_LABEL
        )
        for is_static in (False, True)
    }
    if not overruns[False] or not overruns[True]:
        return "no pod Succeeded in one of the runs"
    quota = lag.quota_lag(json.loads(kueue_json)["items"], {w.name: w for w in workloads}, durations)
    return (
        f"pods ran past their duration by a median {median(overruns[False]):.2f} s, p90 "
        f"{percentile(overruns[False], 90):.2f} s (static {median(overruns[True]):.2f} / "
        f"{percentile(overruns[True], 90):.2f} s); Kueue, {quota.summary(FACTOR)}"
    )


def _wait_for_default_accounts(core, namespaces: set[str], timeout: float = 60) -> None:
    """Pods are refused until the service-account controller made ``default`` there."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        have = {sa.metadata.namespace for sa in core.list_service_account_for_all_namespaces().items}
        if namespaces <= have:
            return
        time.sleep(0.5)
    raise RuntimeError(f"no default service account in {sorted(namespaces - have)} after {timeout:.0f}s")


def _marker(core) -> datetime.datetime:
    """The replay's time zero, as the API server stamps it."""
    body = {"metadata": {"generateName": "utilisation-replay-"}}
    return core.create_namespaced_config_map("default", body).metadata.creation_timestamp


def _submit(
    core,
    batch,
    workloads: list[Workload],
    horizon: float,
    static_node,
    t0: datetime.datetime,
    succeeded: queue.Queue[tuple[bool, str]],
) -> None:
    """Create each workload when it arrives, ``FACTOR`` times faster than the trace, twice:
    queued, and pinned to ``static_node(workload)`` unless that is None. A sweep's trials
    go out as each run's own ``SweepGate`` lets them, as Katib's controller would: the
    first with the sweep, then the next one each time a trial of that run finishes, which
    ``succeeded`` reports as (static?, workload) per pod that Succeeded. Returns at the
    horizon; a creation the API server refused is raised then."""
    gates = {False: SweepGate(workloads), True: SweepGate(workloads)}
    by_name = {w.name: w for w in workloads}
    pods_done: dict[tuple[bool, str], int] = {}
    timed = collections.deque(w for w in gates[False].initial() if w.arrival < horizon)
    began = time.monotonic()
    end = began + horizon * HOUR_S / FACTOR
    created = []
    with ThreadPoolExecutor(16) as pool:

        def create(w: Workload, is_static: bool) -> None:
            node = static_node(w) if is_static else None
            if is_static and node is None:
                return
            body = workload_object(w, FACTOR, pinned_to=node)
            call = core.create_namespaced_pod if body["kind"] == "Pod" else batch.create_namespaced_job
            created.append(pool.submit(call, body["metadata"]["namespace"], body))

        while (now := time.monotonic()) < end:
            due = began + timed[0].arrival * HOUR_S / FACTOR if timed else end
            if now >= due:
                w = timed.popleft()
                create(w, False)
                create(w, True)
                continue
            try:
                is_static, name = succeeded.get(timeout=min(due, end) - now)
            except queue.Empty:
                continue
            w = by_name[name]
            pods_done[is_static, name] = pods_done.get((is_static, name), 0) + 1
            if pods_done[is_static, name] == w.pods and (following := gates[is_static].finished(w)):
                create(following, is_static)
        _sleep_until(t0, horizon)
    for creation in created:
        creation.result()


def _sleep_until(t0: datetime.datetime, horizon: float) -> None:
    end = t0 + datetime.timedelta(seconds=horizon * HOUR_S / FACTOR)
    while (left := (end - datetime.datetime.now(datetime.timezone.utc)).total_seconds()) > 0:
        time.sleep(min(left, 5))


class _PodRecorder(threading.Thread):
    """The last state of every benchmark pod, deleted ones included (Kueue's evictions
    delete pods; a list at the end would not see them). One watch, resumed from its
    resourceVersion; relisted only when the server answers 410. ``on_succeeded(pod)``
    is called, on this thread, once per pod the first time it is seen Succeeded. An
    error that ends the watch is raised by ``stop``: the sweeps wait on this thread."""

    def __init__(self, core, on_succeeded):
        super().__init__(daemon=True)
        # Not ``_stop``: threading.Thread has a method of that name.
        self._core, self._stopping, self._pods, self._lock = core, threading.Event(), {}, threading.Lock()
        self._on_succeeded, self._succeeded, self._error = on_succeeded, set(), None

    def _saw(self, pod) -> None:
        with self._lock:
            self._pods[pod.metadata.uid] = pod
        if pod.status.phase == "Succeeded" and pod.metadata.uid not in self._succeeded:
            self._succeeded.add(pod.metadata.uid)
            self._on_succeeded(pod)

    def run(self) -> None:
        try:
            self._watch()
        except Exception as error:  # handed to stop(), which raises it in the driver
            self._error = error

    def _watch(self) -> None:
        version = None
        while not self._stopping.is_set():
            if version is None:
                listed = self._core.list_pod_for_all_namespaces(label_selector=WORKLOAD_LABEL)
                for pod in listed.items:
                    self._saw(pod)
                version = listed.metadata.resource_version
            try:
                for event in kubernetes.watch.Watch().stream(
                    self._core.list_pod_for_all_namespaces,
                    label_selector=WORKLOAD_LABEL,
                    resource_version=version,
                    timeout_seconds=5,
                ):
                    pod = event["object"]
                    self._saw(pod)
                    version = pod.metadata.resource_version
            except kubernetes.client.ApiException as error:
                if error.status != 410:
                    raise
                version = None

    def stop(self) -> None:
        self._stopping.set()
        self.join(timeout=30)
        if self._error is not None:
            raise RuntimeError("the benchmark's watch on its pods failed") from self._error

    def pods(self) -> list:
        with self._lock:
            return list(self._pods.values())


def measured_run(workloads: list[Workload], objects: list, t0: datetime.datetime, horizon: float):
    """``stats.Started`` per workload from one run's Jobs and pods (see the module docstring)."""

    def hours(ts: datetime.datetime) -> float:
        return (ts - t0).total_seconds() * FACTOR / HOUR_S

    jobs = [o for o in objects if isinstance(o, kubernetes.client.V1Job)]
    created = {j.metadata.labels[WORKLOAD_LABEL]: j.metadata.creation_timestamp for j in jobs}
    ran: dict[str, list[tuple[float, float]]] = {}
    by_name = {w.name: w for w in workloads}
    for pod in (o for o in objects if isinstance(o, kubernetes.client.V1Pod)):
        name = pod.metadata.labels[WORKLOAD_LABEL]
        if pod.metadata.owner_references is None or not any(o.kind == "Job" for o in pod.metadata.owner_references):
            created.setdefault(name, pod.metadata.creation_timestamp)
        if pod.status.start_time is None:
            continue
        start = hours(pod.status.start_time)
        if pod.status.phase == "Succeeded":
            finished = [
                c.state.terminated.finished_at
                for c in pod.status.container_statuses or ()
                if c.state.terminated and c.state.terminated.finished_at
            ]
            stop = hours(max(finished)) if finished else start + by_name[name].duration
        elif pod.metadata.deletion_timestamp is not None:
            stop = hours(pod.metadata.deletion_timestamp)
        else:
            stop = horizon
        ran.setdefault(name, []).append((start, stop))
    return [
        stats.Started(w, hours(created[w.name]), tuple(sorted(ran.get(w.name, ()))))
        if w.name in created
        else stats.Started(w, w.arrival, ())
        for w in workloads
        # A trial its sweep did not create by the end never arrived: nobody waited for it.
        if w.name in created or (w.arrival < horizon and w.sweep is None)
    ]
