"""Development only: run opted-in pods of the local cluster as local processes.

KWOK simulates kubelets, so a pod of the local cluster never runs anything.
For the demo and the end-to-end tests, a notebook server (and later its sshd)
must really run. The pod runner watches pods that carry the annotation
``jupyterhub-mlops.local/run-locally: "true"``; once KWOK has given such a pod
an IP (a loopback address), it runs the main container's command as a local
process listening on that IP (see ``pod_command`` for the translation), and
stops it, with everything it started, when the pod is deleted.

Nothing in the suite's production path knows about it: GPUKubeSpawner builds
the same pods as on a real cluster, only the demo configuration adds the
annotation.

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
import json
import logging
import os
import queue
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from . import processes
from .pod_command import (
    RUN_LOCALLY_ANNOTATION,
    PodNotRunnable,
    decode_secret_data,
    local_command,
    ready_to_run,
    wants_local_run,
)

log = logging.getLogger("mlops_cluster.pod_runner")

API_TIMEOUT = 10
"""Seconds for every API call but the watch."""
WATCH_SECONDS = 30
"""Server-side length of one watch request; the next resumes where it ended."""
MAX_GRACE_SECONDS = 10
"""A stopping process gets the pod's terminationGracePeriodSeconds, at most this."""
INHERITED_ENV = ("PATH", "LANG", "LC_ALL", "TZ", "PYTHONPATH", "VIRTUAL_ENV")
"""What the image would have provided, taken from the runner's environment."""


@dataclass
class LocalProcess:
    """A process standing in for a pod."""

    namespace: str
    name: str
    uid: str
    pod_ip: str
    proc: subprocess.Popen
    log_file: Path
    grace_seconds: float


class PodRunner:
    """Runs the opted-in pods it sees as local processes (see the module docstring).

    One process per pod uid, started once the pod has an IP and stopped (with
    its descendants) when the pod is deleted or the runner stops. A process
    that exits by itself or could not start is not started again for that pod.
    """

    def __init__(self, api_client, home_base: Path, log_dir: Path,
                 base_env: dict[str, str] | None = None, namespace: str | None = None) -> None:
        """``namespace``: watch only this one (tests); every namespace by default."""
        import kubernetes  # noqa: PLC0415 - only the demo and the tests need the client

        self._core = kubernetes.client.CoreV1Api(api_client)
        self._watch_factory = kubernetes.watch.Watch
        self._api_exception = kubernetes.client.ApiException
        self.home_base = Path(home_base)
        self.log_dir = Path(log_dir)
        self.base_env = dict(base_env) if base_env is not None else {
            key: os.environ[key] for key in INHERITED_ENV if key in os.environ}
        self.namespace = namespace
        self._events: queue.Queue = queue.Queue()
        self._stopping = threading.Event()
        self._owner: threading.Thread | None = None
        self._lock = threading.Lock()
        self._running: dict[str, LocalProcess] = {}
        self._finished: set[str] = set()
        """Pods whose process ended or could not start: not started again."""

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
                try:
                    kind, payload = self._events.get(timeout=0.5)
                except queue.Empty:
                    pass
                else:
                    if kind == "LIST":
                        self._reconcile(payload)
                    else:
                        self._on_event(kind, payload)
                self._notice_exits()
        finally:
            self._stopping.set()
            for uid in list(self._running):
                self._stop_process(uid, reason="the pod runner is stopping")

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
                response = list_pods(*args, _preload_content=False,
                                     _request_timeout=API_TIMEOUT)
                listing = json.loads(response.data)
                self._events.put(("LIST", listing["items"]))
                version = listing["metadata"]["resourceVersion"]
                backoff = 0.5
                while not self._stopping.is_set():
                    watch = self._watch_factory()
                    for event in watch.stream(
                        list_pods, *args,
                        resource_version=version, timeout_seconds=WATCH_SECONDS,
                        allow_watch_bookmarks=True, _request_timeout=WATCH_SECONDS + 10,
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
                log.warning("pod watch failed (%s %s); relisting in %.1fs", error.status,
                            error.reason, backoff)
            except Exception as error:  # noqa: BLE001 - API server restarting, network
                if self._stopping.is_set():
                    return
                log.warning("pod watch failed (%s); relisting in %.1fs", error, backoff)
            self._stopping.wait(backoff)
            backoff = min(backoff * 2, 10)

    # ------------------------------------------------------------- pods
    def _reconcile(self, pods: list[dict]) -> None:
        present = {pod["metadata"]["uid"] for pod in pods}
        for uid in list(self._running):
            if uid not in present:
                self._stop_process(uid, reason="the pod is gone")
        for pod in pods:
            self._on_event("MODIFIED", pod)

    def _on_event(self, kind: str, pod: dict) -> None:
        uid = pod["metadata"]["uid"]
        if kind == "DELETED" or pod["metadata"].get("deletionTimestamp"):
            self._finished.discard(uid)
            if uid in self._running:
                self._stop_process(uid, reason="the pod was deleted")
            return
        if uid in self._running and not wants_local_run(pod):
            self._stop_process(uid, reason=f"{RUN_LOCALLY_ANNOTATION} was removed")
            return
        if uid in self._running or uid in self._finished or not ready_to_run(pod):
            return
        self._start_process(pod)

    def _start_process(self, pod: dict) -> None:
        meta = pod["metadata"]
        uid, namespace, name = meta["uid"], meta["namespace"], meta["name"]
        try:
            command = local_command(pod, self._lookup, self.home_base, self.base_env)
            command.env.update(self._service_account_env(pod))
            command.home.mkdir(parents=True, exist_ok=True)
            log_name = f"{namespace}_{name}"
            proc = processes.start(log_name, command.argv, self.log_dir,
                                   env=command.env, cwd=command.home)
        except (PodNotRunnable, OSError) as error:
            self._finished.add(uid)
            log.warning("pod %s/%s not run: %s", namespace, name, error)
            self._record_event(pod, "LocalProcessFailed", f"Not run as a local process: {error}",
                               warning=True)
            return
        grace = min(float(pod["spec"].get("terminationGracePeriodSeconds", 30)), MAX_GRACE_SECONDS)
        local = LocalProcess(namespace, name, uid, pod["status"]["podIP"], proc,
                             self.log_dir / f"{log_name}.log", grace)
        with self._lock:
            self._running[uid] = local
        # Names only: values may be secrets.
        log.info("pod %s/%s: started pid %d on %s (%s; env %s)", namespace, name, proc.pid,
                 local.pod_ip, local.log_file, ", ".join(sorted(command.env)))
        self._record_event(pod, "LocalProcessStarted",
                           f"Started pid {proc.pid} on {local.pod_ip}: {command.argv[0]} "
                           f"(output in {local.log_file})")

    def _stop_process(self, uid: str, reason: str) -> None:
        local = self._running[uid]
        processes.stop_tree(local.proc, timeout=local.grace_seconds)
        with self._lock:
            del self._running[uid]
        log.info("pod %s/%s: stopped pid %d: %s", local.namespace, local.name, local.proc.pid,
                 reason)

    def _notice_exits(self) -> None:
        """A process that exits by itself stays stopped (no restart policy here)."""
        for uid, local in list(self._running.items()):
            code = local.proc.poll()
            if code is not None:
                with self._lock:
                    del self._running[uid]
                self._finished.add(uid)
                log.warning("pod %s/%s: pid %d exited with %d (output in %s)", local.namespace,
                            local.name, local.proc.pid, code, local.log_file)
                pod = {"metadata": {"namespace": local.namespace, "name": local.name, "uid": uid}}
                self._record_event(pod, "LocalProcessExited",
                                   f"pid {local.proc.pid} exited with code {code}; output in "
                                   f"{local.log_file}", warning=code != 0)

    # ------------------------------------------------------------- API calls
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
        request = {"spec": {"expirationSeconds": 24 * 3600, "boundObjectRef": {
            "apiVersion": "v1", "kind": "Pod", "name": meta["name"], "uid": meta["uid"]}}}
        try:
            token = self._core.create_namespaced_service_account_token(
                account, meta["namespace"], request, _request_timeout=10).status.token
        except self._api_exception as error:
            log.warning("pod %s/%s: no token for service account %s (%s)", meta["namespace"],
                        meta["name"], account, error.reason)
            return {}
        folder = self.log_dir / "serviceaccounts" / f"{meta['namespace']}_{meta['name']}"
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        token_file = folder / "token"
        token_file.write_text(token)
        token_file.chmod(0o600)
        config = self._core.api_client.configuration
        env = {"MLOPS_KUBE_SERVER": config.host, "MLOPS_KUBE_TOKEN_FILE": str(token_file),
               "MLOPS_NAMESPACE": meta["namespace"]}
        if config.ssl_ca_cert:
            env["MLOPS_KUBE_CA_FILE"] = str(config.ssl_ca_cert)
        return env

    def _lookup(self, kind: str, namespace: str, name: str) -> dict[str, str] | None:
        """Data of a Secret or ConfigMap, or None when it does not exist."""
        try:
            if kind == "Secret":
                secret = self._core.read_namespaced_secret(name, namespace,
                                                           _request_timeout=API_TIMEOUT)
                return decode_secret_data(secret.data)
            config_map = self._core.read_namespaced_config_map(name, namespace,
                                                               _request_timeout=API_TIMEOUT)
            return dict(config_map.data or {})
        except self._api_exception as error:
            if error.status == 404:
                return None
            if error.status == 403:
                raise PodNotRunnable(f"the pod runner may not read {kind} {namespace}/{name}: "
                                     "give it the admin kubeconfig") from error
            raise PodNotRunnable(f"reading {kind} {namespace}/{name} failed: "
                                 f"{error.status} {error.reason}") from error

    def _record_event(self, pod: dict, reason: str, message: str, warning: bool = False) -> None:
        import kubernetes  # noqa: PLC0415

        meta = pod["metadata"]
        now = datetime.now(timezone.utc)
        event = kubernetes.client.CoreV1Event(
            metadata=kubernetes.client.V1ObjectMeta(generate_name=f"{meta['name']}.",
                                                    namespace=meta["namespace"]),
            involved_object=kubernetes.client.V1ObjectReference(
                api_version="v1", kind="Pod", namespace=meta["namespace"], name=meta["name"],
                uid=meta["uid"]),
            reason=reason, message=message, type="Warning" if warning else "Normal",
            source=kubernetes.client.V1EventSource(component="mlops-pod-runner"),
            first_timestamp=now, last_timestamp=now, count=1,
        )
        try:
            self._core.create_namespaced_event(meta["namespace"], event,
                                               _request_timeout=API_TIMEOUT)
        except self._api_exception as error:
            # 404/403: the namespace is going away or we lack the right; the
            # runner's own log still says what happened.
            log.warning("could not record event %s on %s/%s: %s %s", reason, meta["namespace"],
                        meta["name"], error.status, error.reason)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mlops_cluster.pod_runner",
        description="Run pods annotated jupyterhub-mlops.local/run-locally=true of the local "
                    "cluster as local processes on their pod IPs (development only).")
    parser.add_argument("--kubeconfig", required=True, type=Path,
                        help="kubeconfig of an identity that may watch pods in every namespace, "
                             "read their Secrets and ConfigMaps and create Events (admin)")
    parser.add_argument("--home-base", required=True, type=Path,
                        help="folder holding one HOME folder per user")
    parser.add_argument("--log-dir", required=True, type=Path,
                        help="folder for the output of each process")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s pod-runner %(levelname)s %(message)s")

    import kubernetes  # noqa: PLC0415

    api_client = kubernetes.config.new_client_from_config(config_file=str(args.kubeconfig))
    runner = PodRunner(api_client, home_base=args.home_base, log_dir=args.log_dir)

    def on_signal(signum, frame):
        runner.request_stop()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    runner.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
