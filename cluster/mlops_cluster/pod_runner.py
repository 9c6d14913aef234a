"""Development only: run opted-in pods of the local cluster as local processes.

KWOK simulates kubelets, so a pod of the local cluster never runs anything.
For the demo and the end-to-end tests, notebook servers, their sshd and the
pods of jobs must really run. The pod runner plays the kubelet for pods that
opt in: those annotated ``jupyterhub-mlops.local/run-locally: "true"``, and
every pod of a namespace labelled so (a job's pods, created by a controller
that knows nothing of this). Once KWOK has given such a pod an IP (a loopback
address), the runner runs the main container's command as a local process
(see ``pod_command`` for the translation, ``pod_volumes`` for its volumes and
``pod_dns`` for the Service names in its environment), and stops it, with
everything it started, when the pod is deleted.

Like a kubelet, the runner reports what the process does in the pod's status
(``pod_status``): the exit code decides ``Succeeded`` or ``Failed``, or, when
the ``restartPolicy`` restarts it, the container's ``restartCount`` and
``CrashLoopBackOff`` until the next start (``restart_backoff`` doubling, at most
``max_restart_backoff``: shorter than a kubelet's 10 s to 5 min, so tests are
quick). What the process prints is the container's log: ``kubectl logs`` and
the API's ``pods/log`` return it (``container_logs``).

Nothing in the suite's production path knows about it: GPUKubeSpawner and the
jobs API build the same pods as on a real cluster; only the demo configuration
and the tests add the annotation or the namespace label.

    runner = PodRunner(api_client, home_base=Path(".demo/homes"), log_dir=Path(".demo/pods"))
    runner.start()   # in a thread of its own
    runner.stop()    # stops every process it started

or, as its own process: ``python -m mlops_cluster.pod_runner --kubeconfig admin.yaml ...``.

Each process writes its output to ``<log_dir>/<namespace>_<pod>.log``; the
runner records what it did as Events on the pod (reasons ``LocalProcessStarted``,
``LocalProcessFailed``, ``LocalProcessExited``), where ``kubectl describe pod``
and KubeSpawner's spawn progress show them. Processes are children of the
runner's thread with the kernel's parent-death signal (see ``processes``), so
none outlives the runner.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from . import argo_executor, container_logs, pod_dns, pod_network, pod_status, pod_volumes, processes
from .paths import CLUSTER_DIR
from .pod_command import (
    LocalCommand,
    PodNotRunnable,
    local_command,
    main_container,
    ready_to_run,
    shares_process_namespace,
    wants_local_run,
)

log = logging.getLogger("mlops_cluster.pod_runner")

API_TIMEOUT = 10
"""Seconds for every API call but the watch."""
WATCH_SECONDS = 30
"""Server-side length of one watch request; the next resumes where it ended."""
MAX_GRACE_SECONDS = 10
"""A stopping process gets the pod's terminationGracePeriodSeconds, at most this."""
LOG_SERVED_WAIT_SECONDS = 30
"""How long a finished pod's status waits at most for KWOK to serve its log
(``_await_log_served``). It usually serves it at once; with two test workers' clusters on
two cores it was seen to take more than 5 s to see a new ``Logs`` object."""
EXIT_BATCH_SECONDS = 0.2
"""How long exits are gathered before they are reported (see ``_notice_exits``)."""
NAMESPACE_LABELS_SECONDS = 5.0
"""How long the runner trusts the labels it read of a namespace."""
INHERITED_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "PYTHONPATH", "VIRTUAL_ENV")
"""What the image would have provided, taken from the runner's environment."""


@dataclass
class LocalProcess:
    """A process standing in for a pod's main container (one start of it)."""

    namespace: str
    name: str
    uid: str
    pod_ip: str
    proc: subprocess.Popen
    log_file: Path
    grace_seconds: float
    pod: dict = field(repr=False, default_factory=dict)
    started_at: str = ""
    restart_count: int = 0
    last_state: dict | None = None
    container_log: Path | None = None
    previous_log: Path | None = None
    copier: container_logs.OutputCopier | None = field(repr=False, default=None)
    other_logs: dict[str, Path] = field(default_factory=dict)
    """The logs of the pod's other containers, when all of them run (``_every_container``)."""
    log_served: bool = False
    """Whether KWOK was told to serve this start's log (``PodRunner._serve_log``)."""


class PodRunner:
    """Runs the opted-in pods it sees as local processes (see the module docstring).

    One process at a time per pod uid, started once the pod has an IP (and its
    rendezvous addresses resolve), started again as its restart policy says,
    and stopped (with its descendants) when the pod is deleted or the runner
    stops. A pod that could not start is not tried again.
    """

    def __init__(
        self,
        api_client,
        home_base: Path,
        log_dir: Path,
        base_env: dict[str, str] | None = None,
        namespace: str | None = None,
        restart_backoff: float = 1.0,
        max_restart_backoff: float = 10.0,
        select=None,
        entrypoints: dict[str, list[str]] | None = None,
        network_registry: Path | None = None,
    ) -> None:
        """``namespace``: watch only this one (tests); every namespace by default.
        ``select(pod)``: run only the opted-in pods it accepts (e.g. only Argo's step
        pods, ``argo_executor.is_workflow_pod``); all of them by default.
        ``entrypoints``: image -> the local program standing in for its ENTRYPOINT
        (``pod_command``). ``network_registry``: where pods that need a network
        namespace of their own (``pod_network``) are registered; without it they
        share this machine's."""
        import kubernetes  # noqa: PLC0415 - only the demo and the tests need the client

        self._core = kubernetes.client.CoreV1Api(api_client)
        self._custom = kubernetes.client.CustomObjectsApi(api_client)
        self._watch_factory = kubernetes.watch.Watch
        self._api_exception = kubernetes.client.ApiException
        self.home_base = Path(home_base)
        self.log_dir = Path(log_dir)
        self.base_env = (
            dict(base_env)
            if base_env is not None
            else {key: os.environ[key] for key in INHERITED_ENV if key in os.environ}
        )
        self.namespace = namespace
        self.select = select
        self.entrypoints = dict(entrypoints or {})
        self.network_registry = Path(network_registry) if network_registry else None
        self.restart_backoff = restart_backoff
        self.max_restart_backoff = max_restart_backoff
        self._events: queue.Queue = queue.Queue()
        self._stopping = threading.Event()
        self._owner: threading.Thread | None = None
        self._lock = threading.Lock()
        self._running: dict[str, LocalProcess] = {}
        self._backing_off: dict[str, tuple[float, LocalProcess]] = {}
        """Exited containers the restart policy starts again: (when, last start)."""
        self._waiting: dict[str, dict] = {}
        """Pods whose rendezvous address does not resolve yet, retried every turn."""
        self._finished: set[str] = set()
        """Pods whose process ended for good or could not start: not started again."""
        self._namespace_labels: dict[str, tuple[float, dict]] = {}

    # ----------------------------------------------------------------- API
    def start(self) -> PodRunner:
        """Run in a thread of its own until ``stop``."""
        self._owner = threading.Thread(target=self.run, name="pod-runner", daemon=True)
        self._owner.start()
        return self

    def request_stop(self) -> None:
        """Ask ``run`` to stop its processes and return; safe in a signal handler."""
        self._stopping.set()

    def stop(self) -> None:
        """Stop every process the runner started, then the runner."""
        self._stopping.set()
        if self._owner is not None:
            self._owner.join()

    def running(self) -> dict[str, LocalProcess]:
        """Processes now running, by pod uid."""
        with self._lock:
            return dict(self._running)

    def run(self) -> None:
        """Watch and run pods in the calling thread until ``stop``.

        This thread starts every process: the kernel ties the children's
        parent-death signal to it, so it must live as long as they do.
        """
        watcher = threading.Thread(target=self._watch_pods, name="pod-runner-watch", daemon=True)
        watcher.start()
        try:
            while not self._stopping.is_set():
                # Every event queued so far, then one retry of each waiting pod: a retry
                # asks the API server, so retrying per event would fall behind the watch
                # of a busy cluster (pods of every namespace arrive here).
                for kind, payload in self._queued_events(wait=0.5):
                    if kind == "LIST":
                        self._reconcile(payload)
                    else:
                        self._on_event(kind, payload)
                self._notice_exits()
                self._restart_due()
                for pod in list(self._waiting.values()):
                    self._start_process(pod)
        finally:
            self._stopping.set()
            self._backing_off.clear()
            for uid in list(self._running):
                self._stop_process(uid, reason="the pod runner is stopping")

    def _queued_events(self, wait: float) -> list[tuple[str, object]]:
        """The watch's events queued so far, waiting up to ``wait`` seconds for the first."""
        try:
            events = [self._events.get(timeout=wait)]
        except queue.Empty:
            return []
        while True:
            try:
                events.append(self._events.get_nowait())
            except queue.Empty:
                return events

    # ------------------------------------------------------- the pod watch
    def _watch_pods(self) -> None:
        """List, then watch from the list's resourceVersion; relist when the
        watch expires (410) or the API server is unreachable."""
        # Bound API methods, not partials: the watch reads the return type from
        # their docstring and only then tracks the resourceVersion to resume from.
        if self.namespace:
            list_pods, args = self._core.list_namespaced_pod, (self.namespace,)
        else:
            list_pods, args = self._core.list_pod_for_all_namespaces, ()
        backoff = 0.5
        while not self._stopping.is_set():
            try:
                response = list_pods(*args, _preload_content=False, _request_timeout=API_TIMEOUT)
                listing = json.loads(response.data)
                self._events.put(("LIST", listing["items"]))
                version = listing["metadata"]["resourceVersion"]
                backoff = 0.5
                while not self._stopping.is_set():
                    watch = self._watch_factory()
                    for event in watch.stream(
                        list_pods,
                        *args,
                        resource_version=version,
                        timeout_seconds=WATCH_SECONDS,
                        allow_watch_bookmarks=True,
                        _request_timeout=WATCH_SECONDS + 10,
                    ):
                        if self._stopping.is_set():
                            watch.stop()
                            return
                        if event["type"] in ("ADDED", "MODIFIED", "DELETED"):
                            self._events.put((event["type"], event["raw_object"]))
                    version = watch.resource_version
            except self._api_exception as error:
                if self._stopping.is_set():
                    return
                if error.status == 410:  # our resourceVersion is too old: relist now
                    continue
                log.warning("pod watch failed (%s %s); relisting in %.1fs", error.status, error.reason, backoff)
            except Exception as error:  # noqa: BLE001 - API server restarting, network
                if self._stopping.is_set():
                    return
                log.warning("pod watch failed (%s); relisting in %.1fs", error, backoff)
            self._stopping.wait(backoff)
            backoff = min(backoff * 2, 10)

    # ------------------------------------------------------------- pods
    def _reconcile(self, pods: list[dict]) -> None:
        present = {pod["metadata"]["uid"] for pod in pods}
        for uid in set(self._running) | set(self._backing_off) | set(self._waiting):
            if uid not in present:
                self._forget(uid, reason="the pod is gone")
        for pod in pods:
            self._on_event("MODIFIED", pod)

    def _on_event(self, kind: str, pod: dict) -> None:
        uid = pod["metadata"]["uid"]
        if kind == "DELETED" or pod["metadata"].get("deletionTimestamp"):
            self._finished.discard(uid)
            self._forget(uid, reason="the pod was deleted")
            if kind == "DELETED":
                shutil.rmtree(self._pod_folder(pod), ignore_errors=True)
            return
        if self.select is not None and not self.select(pod):
            return
        opted_in = wants_local_run(pod, self._labels_of(pod["metadata"]["namespace"]))
        if not opted_in and (uid in self._running or uid in self._backing_off):
            self._forget(uid, reason="it no longer opts in to running locally")
            return
        if uid in self._running:
            self._running[uid].pod = pod
            return
        if (
            uid in self._backing_off
            or uid in self._waiting
            or uid in self._finished
            or not ready_to_run(pod, self._labels_of(pod["metadata"]["namespace"]))
        ):
            return
        self._start_process(pod)

    def _forget(self, uid: str, reason: str) -> None:
        self._backing_off.pop(uid, None)
        self._waiting.pop(uid, None)
        if uid in self._running:
            self._stop_process(uid, reason=reason)

    def _labels_of(self, namespace: str) -> dict:
        """The namespace's labels, read at most every NAMESPACE_LABELS_SECONDS."""
        read_at, labels = self._namespace_labels.get(namespace, (0.0, {}))
        if time.monotonic() - read_at < NAMESPACE_LABELS_SECONDS:
            return labels
        try:
            labels = self._core.read_namespace(namespace, _request_timeout=API_TIMEOUT).metadata.labels or {}
        except self._api_exception as error:
            if error.status != 404:
                log.warning("could not read namespace %s: %s %s", namespace, error.status, error.reason)
            labels = {}
        self._namespace_labels[namespace] = (time.monotonic(), labels)
        return labels

    def _pod_folder(self, pod: dict) -> Path:
        meta = pod["metadata"]
        return self.log_dir / "volumes" / f"{meta['namespace']}_{meta['name']}_{meta['uid'][:8]}"

    def _start_process(self, pod: dict, previous: LocalProcess | None = None) -> None:
        """Start the pod's process: the first time, or again after ``previous`` exited."""
        meta = pod["metadata"]
        uid, namespace, name = meta["uid"], meta["namespace"], meta["name"]
        self._waiting.pop(uid, None)
        try:
            if previous is None:
                pod_volumes.materialize(pod, self._pod_folder(pod), self._volume_files)
            command = local_command(
                pod, self._lookup, self.home_base, self.base_env, self._pod_folder(pod), entrypoints=self.entrypoints
            )
            command.env.update(self._resolve_addresses(pod, command.env))
            command.env.update(self._service_account_env(pod))
            argv, env = command.argv, command.env
            if argo_executor.is_workflow_pod(pod):  # Argo's executor around the step
                argv = argo_executor.local_step(pod, argv, self._pod_folder(pod))
            other_logs: dict[str, Path] = {}
            if shares_process_namespace(pod):  # e.g. Katib's metrics collector beside it
                argv, env, other_logs = self._every_container(
                    pod, dataclasses.replace(command, argv=argv), previous.restart_count if previous else 0
                )
            own_network = self.network_registry is not None and pod_network.wants_own_network(pod)
            if own_network:
                argv = pod_network.isolated(argv)
            command.home.mkdir(parents=True, exist_ok=True)
            proc = processes.start_piped(argv, env=env, cwd=command.cwd)
            if own_network:
                pod_network.register(self.network_registry, pod["status"]["podIP"], proc.pid)
        except pod_dns.AddressNotResolvable as why:
            if uid not in self._waiting:
                log.info("pod %s/%s waits: %s", namespace, name, why)
            self._waiting[uid] = pod
            return
        except (PodNotRunnable, pod_volumes.VolumeNotReady, OSError) as error:
            self._finished.add(uid)
            log.warning("pod %s/%s not run: %s", namespace, name, error)
            self._record_event(pod, "LocalProcessFailed", f"Not run as a local process: {error}", warning=True)
            return
        container = main_container(pod)["name"]
        restarts = previous.restart_count if previous else 0
        log_name = f"{namespace}_{name}"
        local = LocalProcess(
            namespace,
            name,
            uid,
            pod["status"]["podIP"],
            proc,
            self.log_dir / f"{log_name}.log",
            min(float(pod["spec"].get("terminationGracePeriodSeconds", 30)), MAX_GRACE_SECONDS),
            pod=pod,
            started_at=pod_status.now(),
            restart_count=restarts,
            last_state=previous.last_state if previous else None,
            container_log=self.log_dir / "containers" / f"{log_name}_{container}_{restarts}.log",
            previous_log=previous.container_log if previous else None,
            other_logs=other_logs,
        )
        local.copier = container_logs.OutputCopier(proc.stdout, local.log_file, local.container_log)
        with self._lock:
            self._running[uid] = local
        self._serve_log(local, container)
        if previous is not None:
            self._write_status(local, pod_status.running(pod, local.started_at, restarts, local.last_state))
        # Names only: values may be secrets.
        log.info(
            "pod %s/%s: started pid %d on %s (%s; env %s)",
            namespace,
            name,
            proc.pid,
            local.pod_ip,
            local.log_file,
            ", ".join(sorted(command.env)),
        )
        self._record_event(
            pod,
            "LocalProcessStarted",
            f"Started pid {proc.pid} on {local.pod_ip}: {argv[0]} (output in {local.log_file})",
        )

    def _every_container(
        self, pod: dict, main: LocalCommand, restarts: int
    ) -> tuple[list[str], dict[str, str], dict[str, Path]]:
        """The launcher that runs all the pod's containers in one PID namespace
        (``shared_process_namespace``), the main one first, with the logs of the others."""
        first = main_container(pod)
        meta = pod["metadata"]
        containers = [{"name": first["name"], "argv": main.argv, "env": main.env, "cwd": str(main.cwd)}]
        logs: dict[str, Path] = {}
        for container in pod["spec"]["containers"]:
            if container["name"] == first["name"] or (
                argo_executor.is_workflow_pod(pod) and container["name"] in argo_executor.EXECUTOR_CONTAINERS
            ):
                continue
            command = local_command(
                pod,
                self._lookup,
                self.home_base,
                self.base_env,
                self._pod_folder(pod),
                container=container,
                entrypoints=self.entrypoints,
            )
            logs[container["name"]] = (
                self.log_dir / "containers" / f"{meta['namespace']}_{meta['name']}_{container['name']}_{restarts}.log"
            )
            logs[container["name"]].parent.mkdir(parents=True, exist_ok=True)
            logs[container["name"]].touch()
            containers.append(
                {
                    "name": container["name"],
                    "argv": command.argv,
                    "env": command.env,
                    "cwd": str(command.cwd),
                    "log": str(logs[container["name"]]),
                }
            )
        spec = self._pod_folder(pod) / "containers.json"
        spec.parent.mkdir(parents=True, exist_ok=True)
        spec.touch(mode=0o600)  # environments may hold secrets
        spec.write_text(json.dumps({"containers": containers}))
        launcher = [sys.executable, "-m", "mlops_cluster.shared_process_namespace", str(spec)]
        return launcher, {**self.base_env, "PYTHONPATH": str(CLUSTER_DIR)}, logs

    def _stop_process(self, uid: str, reason: str) -> None:
        local = self._running[uid]
        self._leave_network(local)
        processes.stop_tree(local.proc, timeout=local.grace_seconds)
        with self._lock:
            del self._running[uid]
        log.info("pod %s/%s: stopped pid %d: %s", local.namespace, local.name, local.proc.pid, reason)

    def _notice_exits(self) -> None:
        """A process that exited: the restart policy starts it again, or the pod is done.

        Exits are reported in the order they happened: a controller reading
        "master Succeeded" before "worker Succeeded" would take the worker for
        one still running. Like a kubelet's pod lifecycle relist, which reports
        what changed in batches, exits close together (a master that ends when
        its last worker hangs up) are gathered for EXIT_BATCH_SECONDS first.
        """
        if not any(local.proc.poll() is not None for local in self._running.values()):
            return
        time.sleep(EXIT_BATCH_SECONDS)
        exited = [(uid, local) for uid, local in list(self._running.items()) if local.proc.poll() is not None]
        for _, local in exited:
            local.copier.join()
        exited.sort(key=lambda item: item[1].copier.closed_at or float("inf"))
        for uid, local in exited:
            code = local.proc.returncode
            self._leave_network(local)
            with self._lock:
                del self._running[uid]
            log.warning(
                "pod %s/%s: pid %d exited with %d (output in %s)",
                local.namespace,
                local.name,
                local.proc.pid,
                code,
                local.log_file,
            )
            self._record_event(
                local.pod,
                "LocalProcessExited",
                f"pid {local.proc.pid} exited with code {code}; output in {local.log_file}",
                warning=code != 0,
            )
            if pod_status.restarts_after(local.pod, code):
                local.restart_count += 1
                local.last_state = pod_status.terminated(code, local.started_at, pod_status.now())
                self._write_status(local, pod_status.back_off(local.pod, code, local.started_at, local.restart_count))
                delay = pod_status.restart_delay(local.restart_count, self.restart_backoff, self.max_restart_backoff)
                self._backing_off[uid] = (time.monotonic() + delay, local)
            else:
                self._finished.add(uid)
                self._await_log_served(local)
                status = pod_status.finished(local.pod, code, local.started_at, local.restart_count, local.last_state)
                if argo_executor.is_workflow_pod(local.pod):
                    status = self._report_step(local, status)
                self._write_status(local, status)

    def _leave_network(self, local: LocalProcess) -> None:
        if self.network_registry is not None:
            pod_network.unregister(self.network_registry, local.pod_ip)

    def _report_step(self, local: LocalProcess, status: dict) -> dict:
        """Argo's wait container: the step's outputs as a WorkflowTaskResult, written with
        the pod's own token before the pod is reported finished (``argo_executor``)."""
        api = argo_executor.pod_api_client(self._service_account_env(local.pod))
        output = local.log_file.read_text(errors="replace") if local.log_file.exists() else ""
        code = argo_executor.report_outputs(local.pod, output, api)
        if api is not None:
            api.close()
        return argo_executor.step_status(status, code, pod_status.now())

    def _restart_due(self) -> None:
        for uid, (due, previous) in list(self._backing_off.items()):
            if time.monotonic() >= due:
                del self._backing_off[uid]
                self._start_process(previous.pod, previous)

    # ------------------------------------------------------------- API calls
    def _resolve_addresses(self, pod: dict, env: dict[str, str]) -> dict[str, str]:
        """``env`` with the Service names of the pod's namespace made pod IPs (``pod_dns``)."""
        namespace = pod["metadata"]["namespace"]
        if not any(pod_dns.service_name(value, namespace) for value in env.values()):
            return env
        services = self._core.list_namespaced_service(namespace, _preload_content=False, _request_timeout=API_TIMEOUT)
        pods = self._core.list_namespaced_pod(namespace, _preload_content=False, _request_timeout=API_TIMEOUT)
        by_name = {s["metadata"]["name"]: s for s in json.loads(services.data)["items"]}
        return pod_dns.resolve(env, namespace, by_name, json.loads(pods.data)["items"])

    def _volume_files(self, kind: str, namespace: str, name: str) -> dict[str, bytes] | None:
        """A ConfigMap's or Secret's keys as file contents, or None when it does not exist."""
        import base64  # noqa: PLC0415

        try:
            if kind == "Secret":
                raw = self._core.read_namespaced_secret(
                    name, namespace, _preload_content=False, _request_timeout=API_TIMEOUT
                )
                data = json.loads(raw.data).get("data") or {}
                return {key: base64.b64decode(value) for key, value in data.items()}
            raw = self._core.read_namespaced_config_map(
                name, namespace, _preload_content=False, _request_timeout=API_TIMEOUT
            )
            body = json.loads(raw.data)
            files = {key: value.encode() for key, value in (body.get("data") or {}).items()}
            files.update({key: base64.b64decode(value) for key, value in (body.get("binaryData") or {}).items()})
            return files
        except self._api_exception as error:
            if error.status == 404:
                return None
            if error.status == 403:
                raise PodNotRunnable(
                    f"the pod runner may not read {kind} {namespace}/{name}: give it the admin kubeconfig"
                ) from error
            raise PodNotRunnable(f"reading {kind} {namespace}/{name} failed: {error.status} {error.reason}") from error

    def _serve_log(self, local: LocalProcess, container: str) -> None:
        """Point KWOK's log server at this start's container log (a ``Logs`` object)."""
        body = container_logs.logs_object(
            local.namespace, local.name, container, local.container_log, local.previous_log, local.other_logs
        )
        args = ("kwok.x-k8s.io", "v1alpha1", local.namespace, "logs")
        try:
            try:
                self._custom.create_namespaced_custom_object(*args, body, _request_timeout=API_TIMEOUT)
            except self._api_exception as error:
                if error.status != 409:
                    raise
                self._custom.patch_namespaced_custom_object(
                    *args, local.name, {"spec": body["spec"]}, _request_timeout=API_TIMEOUT
                )
            local.log_served = True
        except self._api_exception as error:
            log.warning(
                "pod %s/%s: its log is not served (%s %s)", local.namespace, local.name, error.status, error.reason
            )

    def _await_log_served(self, local: LocalProcess) -> None:
        """Wait (briefly) until KWOK serves the container's log: a kubelet serves it
        before it reports the container terminated, and a client that reads the log
        of a finished pod must get it (KWOK sees a new ``Logs`` object a moment late
        when the machine is busy)."""
        if not local.log_served:
            return  # KWOK was never told of it (logged when that failed): nothing to wait for
        deadline = time.monotonic() + LOG_SERVED_WAIT_SECONDS
        while time.monotonic() < deadline:
            try:
                self._core.read_namespaced_pod_log(
                    local.name,
                    local.namespace,
                    limit_bytes=1,
                    container=main_container(local.pod)["name"],
                    _request_timeout=API_TIMEOUT,
                )
                return
            except self._api_exception as error:
                if error.status != 400:  # 400: "no logs found" until KWOK has the Logs object
                    return
            time.sleep(0.2)
        log.warning(
            "pod %s/%s: KWOK serves no log for it after %d s; reporting it finished anyway",
            local.namespace,
            local.name,
            LOG_SERVED_WAIT_SECONDS,
        )

    def _write_status(self, local: LocalProcess, patch: dict) -> None:
        """What the kubelet reports: the container's state and the pod's phase."""
        try:
            self._core.patch_namespaced_pod_status(local.name, local.namespace, patch, _request_timeout=API_TIMEOUT)
        except self._api_exception as error:
            # 404: the pod is gone; nothing left to report on.
            if error.status != 404:
                log.warning(
                    "pod %s/%s: status not written (%s %s)", local.namespace, local.name, error.status, error.reason
                )

    def _service_account_env(self, pod: dict) -> dict[str, str]:
        """What the kubelet's token mount gives a pod, as a local process can use it.

        A real pod reads its service account's token under
        /var/run/secrets/kubernetes.io/serviceaccount; a local process cannot
        have that path, so the runner asks the API server for a token bound to
        the pod (TokenRequest, as the kubelet does) and hands it over through
        the MLOPS_KUBE_* variables the suite's jobs API reads. Nothing when the
        pod opts out of the mount or the token cannot be had (logged).
        """
        spec, meta = pod["spec"], pod["metadata"]
        if spec.get("automountServiceAccountToken") is False:
            return {}
        account = spec.get("serviceAccountName") or "default"
        request = {
            "spec": {
                "expirationSeconds": 24 * 3600,
                "boundObjectRef": {"apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": meta["uid"]},
            }
        }
        try:
            token = self._core.create_namespaced_service_account_token(
                account, meta["namespace"], request, _request_timeout=10
            ).status.token
        except self._api_exception as error:
            log.warning(
                "pod %s/%s: no token for service account %s (%s)",
                meta["namespace"],
                meta["name"],
                account,
                error.reason,
            )
            return {}
        folder = self.log_dir / "serviceaccounts" / f"{meta['namespace']}_{meta['name']}"
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        token_file = folder / "token"
        token_file.write_text(token)
        token_file.chmod(0o600)
        config = self._core.api_client.configuration
        env = {
            "MLOPS_KUBE_SERVER": config.host,
            "MLOPS_KUBE_TOKEN_FILE": str(token_file),
            "MLOPS_NAMESPACE": meta["namespace"],
        }
        if config.ssl_ca_cert:
            env["MLOPS_KUBE_CA_FILE"] = str(config.ssl_ca_cert)
        return env

    def _lookup(self, kind: str, namespace: str, name: str) -> dict[str, str] | None:
        """Data of a Secret or ConfigMap as text, or None when it does not exist."""
        files = self._volume_files(kind, namespace, name)
        return None if files is None else {k: v.decode(errors="replace") for k, v in files.items()}

    def _record_event(self, pod: dict, reason: str, message: str, warning: bool = False) -> None:
        import kubernetes  # noqa: PLC0415

        meta = pod["metadata"]
        now = datetime.now(timezone.utc)
        event = kubernetes.client.CoreV1Event(
            metadata=kubernetes.client.V1ObjectMeta(generate_name=f"{meta['name']}.", namespace=meta["namespace"]),
            involved_object=kubernetes.client.V1ObjectReference(
                api_version="v1", kind="Pod", namespace=meta["namespace"], name=meta["name"], uid=meta["uid"]
            ),
            reason=reason,
            message=message,
            type="Warning" if warning else "Normal",
            source=kubernetes.client.V1EventSource(component="mlops-pod-runner"),
            first_timestamp=now,
            last_timestamp=now,
            count=1,
        )
        try:
            self._core.create_namespaced_event(meta["namespace"], event, _request_timeout=API_TIMEOUT)
        except self._api_exception as error:
            # 404/403: the namespace is going away or we lack the right; the
            # runner's own log still says what happened.
            log.warning(
                "could not record event %s on %s/%s: %s %s",
                reason,
                meta["namespace"],
                meta["name"],
                error.status,
                error.reason,
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mlops_cluster.pod_runner",
        description="Run pods annotated jupyterhub-mlops.local/run-locally=true (or in a "
        "namespace labelled so) of the local cluster as local processes on their "
        "pod IPs (development only).",
    )
    parser.add_argument(
        "--kubeconfig",
        required=True,
        type=Path,
        help="kubeconfig of an identity that may watch pods in every namespace, "
        "read namespaces, Services, Secrets and ConfigMaps, write pod "
        "status, and create Events and KWOK Logs (admin)",
    )
    parser.add_argument("--home-base", required=True, type=Path, help="folder holding one HOME folder per user")
    parser.add_argument("--log-dir", required=True, type=Path, help="folder for the output of each process")
    parser.add_argument(
        "--entrypoint",
        action="append",
        default=[],
        metavar="IMAGE=PROGRAM",
        help="the local program standing in for IMAGE's ENTRYPOINT (repeatable)",
    )
    parser.add_argument(
        "--network-registry",
        type=Path,
        help="folder where pods with a network namespace of their own are "
        "registered (the control plane's, for its Service proxy)",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, stream=sys.stderr, format="%(asctime)s pod-runner %(levelname)s %(message)s"
    )

    import kubernetes  # noqa: PLC0415

    api_client = kubernetes.config.new_client_from_config(config_file=str(args.kubeconfig))
    entrypoints = {image: [program] for image, _, program in (pair.partition("=") for pair in args.entrypoint)}
    runner = PodRunner(
        api_client,
        home_base=args.home_base,
        log_dir=args.log_dir,
        entrypoints=entrypoints,
        network_registry=args.network_registry,
    )

    def on_signal(signum, frame):
        runner.request_stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    runner.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
