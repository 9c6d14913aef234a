"""The Zero-to-JupyterHub 4.4 chart with helm-values/values.yaml, rendered by Helm,
applied to the local API server and run as its pods run.

``ChartDeployment.start()`` does what the README's deploy section does, then
stands in for the kubelet of the release's pods:

1. ``helm template`` with our values and the test's own (``test_values``: a
   test-only login, and what lets the pod runner run notebook pods here);
2. server-side apply of every rendered object, our RBAC, NetworkPolicies and
   SSH Service in the release namespace, and the TLS Secret the values name;
3. the hub, proxy and user-scheduler pods, which the chart's Deployments
   created and KWOK gave IPs, run as local processes with their volumes,
   token, Service links and cluster DNS (``mounted_pod.MountedPod``): the hub
   is JupyterHub 5.5 with KubeSpawner 7.0 from the hub image's virtualenv,
   running the chart's jupyterhub_config.py, and JupyterHub itself starts the
   managed services; the proxy is configurable-http-proxy with the chart's
   arguments (TLS with the Secret); the user scheduler is kube-scheduler with
   the chart's configuration;
4. the pod runner, which runs notebook pods (in the same cluster DNS).

Storage is the one thing the local cluster cannot provision: a PersistentVolume
(a folder) is created for each claim the chart and KubeSpawner make.
"""

from __future__ import annotations

import datetime
import json
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import kubernetes
import yaml
from mlops_cluster import binaries, helm, hub_image, processes
from mlops_cluster.pod_command import RUN_LOCALLY_ANNOTATION

from tests.deploy.deploy_support import HELM_VALUES, RELEASE_NAMESPACE
from tests.deploy.mounted_pod import MountedPod, cluster_dns, in_mount_namespace, service_endpoints, service_links
from tests.mlops_testing import wait_for

REPO = Path(__file__).resolve().parents[2]
RELEASE = "jhub"
PUBLIC_HOST = "hub.example.org"
"""proxy.https.hosts[0] of values.yaml, resolved to the proxy pod (the load balancer's place)."""
SSHD_ENTRYPOINT = REPO / "images" / "singleuser" / "sshd" / "start-sshd.sh"


def test_values(password: str) -> dict:
    """Values the test adds to ours; none of them ships.

    - a login the test can perform: JupyterHub's DummyAuthenticator with a password;
    - one network for every pod: a real pod has a network namespace of its own, here
      all share the machine's, so what listens on every interface in the hub pod
      (the services, the SSH gateway's 2222, which each notebook's sshd also uses)
      listens on the hub pod's IP instead; the hub API stays on every interface
      (port 8081), so the services and the idle culler still find it on loopback;
    - what a container image would have done and a local process cannot: the
      image's entrypoint (sshd beside the notebook) named as the command, sshd
      told the pod IP, and root as the pod user (everything runs as root here);
    - the annotation that makes the pod runner run notebook pods.
    """
    return {
        "hub": {
            "config": {
                "JupyterHub": {"authenticator_class": "dummy"},
                "DummyAuthenticator": {"password": password},
                "Authenticator": {"allow_all": True},
            },
            "extraEnv": {"POD_IP": {"valueFrom": {"fieldRef": {"fieldPath": "status.podIP"}}}},
            "extraConfig": {
                "zz-test-local-pods": "\n".join(
                    [
                        "import os",
                        "pod_ip = os.environ['POD_IP']",
                        "for service in c.JupyterHub.services:",
                        "    if service['name'] in ('gpu-availability', 'ssh'):",
                        "        service.setdefault('environment', {})['POD_IP'] = pod_ip",
                        "c.AvailabilityService.ip = pod_ip",
                        "c.GPUKubeSpawner.availability_url = f'http://{pod_ip}:10101/services/gpu-availability/'",
                        "c.SSHGatewayApp.ip = pod_ip",
                        "c.SSHGatewayApp.api_url = f'http://{pod_ip}:10102'",
                        f"c.KubeSpawner.extra_annotations = {{{RUN_LOCALLY_ANNOTATION!r}: 'true'}}",
                        f"c.Spawner.cmd = [{str(SSHD_ENTRYPOINT)!r}, 'jupyterhub-singleuser']",
                        "c.Spawner.args = ['--allow-root']",
                        "c.KubeSpawner.environment.update({",
                        "    'POD_IP': {'valueFrom': {'fieldRef': {'fieldPath': 'status.podIP'}}},",
                        "    'MLOPS_SSHD_LISTEN': '$(POD_IP)'})",
                        "c.SSHGatewayApp.pod_user = 'root'",
                    ]
                )
            },
        },
    }


def values_files(tmp: Path, password: str) -> list[Path]:
    extra = tmp / "test-values.yaml"
    extra.write_text(yaml.safe_dump(test_values(password)))
    return [HELM_VALUES / "values.yaml", extra]


def self_signed_tls(hosts: list[str], ips: list[str]) -> tuple[bytes, bytes]:
    """A certificate for ``hosts`` and ``ips`` (PEM) and its key, as an operator's CA would sign."""
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hosts[0])])
    now = datetime.datetime.now(datetime.timezone.utc)
    san = [x509.DNSName(h) for h in hosts] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return (
        cert.public_bytes(serialization.Encoding.PEM),
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()),
    )


def volume_for_claim(name: str, namespace: str, claim: str, folder: Path, size: str) -> dict:
    """A PersistentVolume (a local folder) reserved for one claim, as a provisioner makes it."""
    folder.mkdir(parents=True, exist_ok=True)
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolume",
        "metadata": {"name": name, "labels": {"jupyterhub-mlops/test": "true"}},
        "spec": {
            "capacity": {"storage": size},
            "accessModes": ["ReadWriteOnce"],
            "persistentVolumeReclaimPolicy": "Retain",
            "hostPath": {"path": str(folder)},
            "claimRef": {"namespace": namespace, "name": claim},
        },
    }


def newer_scheduler_reads(release: str, namespace: str) -> list[dict]:
    """What kube-scheduler of the local cluster's release reads beyond the chart's
    user-scheduler ClusterRole, written for the chart's v1.30 image: Dynamic
    Resource Allocation objects and VolumeAttachments (read only). Test only:
    the chart's own binary needs nothing more."""
    name = f"{release}-user-scheduler-newer-release"
    return [
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRole",
            "metadata": {"name": name},
            "rules": [
                {
                    "apiGroups": ["resource.k8s.io"],
                    "resources": ["deviceclasses", "resourceclaims", "resourceslices"],
                    "verbs": ["get", "list", "watch"],
                },
                {
                    "apiGroups": ["storage.k8s.io"],
                    "resources": ["volumeattachments"],
                    "verbs": ["get", "list", "watch"],
                },
            ],
        },
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "ClusterRoleBinding",
            "metadata": {"name": name},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": name},
            "subjects": [{"kind": "ServiceAccount", "name": "user-scheduler", "namespace": namespace}],
        },
    ]


def by_kind(objects: list[dict], kind: str) -> list[dict]:
    return [o for o in objects if o["kind"] == kind]


@dataclass
class ChartDeployment:
    control_plane: object
    core_v1: object
    scratch: Path
    hub_variant: str = hub_image.IMAGE
    """Which of the hub image's virtualenvs the hub runs (``hub_image.VARIANTS``)."""
    password: str = field(default_factory=lambda: secrets.token_urlsafe(12))
    pods: dict[str, MountedPod] = field(default_factory=dict)
    runner: subprocess.Popen | None = None

    def __post_init__(self):
        self.chart = helm.z2jh_chart()
        self.values = values_files(self.scratch, self.password)
        self.log_dir = self.scratch / "logs"
        self.objects: list[dict] = []

    # ----------------------------------------------------------- Kubernetes
    def kubectl_apply(self, objects_or_path, identity: str = "admin") -> None:
        args = ["apply", "--server-side", "--force-conflicts", "-n", RELEASE_NAMESPACE]
        if isinstance(objects_or_path, Path):
            self.control_plane.kubectl(*args, "-f", str(objects_or_path), identity=identity)
        else:
            self.control_plane.kubectl(
                *args,
                "-f",
                "-",
                identity=identity,
                input=json.dumps({"apiVersion": "v1", "kind": "List", "items": objects_or_path}),
            )

    def render(self) -> list[dict]:
        self.objects = helm.render(self.chart, RELEASE, RELEASE_NAMESPACE, self.values)
        return self.objects

    def applied_rendering(self) -> list[dict]:
        return [o for o in self.objects if "helm.sh/hook" not in (o["metadata"].get("annotations") or {})]

    def apply(self) -> None:
        """The README's install, as `helm upgrade --install` and the kubectl lines do it.

        Hooks (the image puller's pre-install Job and DaemonSet) are left out:
        Helm runs them around an install and deletes them, and there is no image
        to pull here."""
        self.kubectl_apply(self.applied_rendering())
        self.control_plane.kubectl("apply", "--server-side", "-f", str(HELM_VALUES / "rbac.yaml"))
        for name in ("rbac-release-namespace.yaml", "networkpolicies/hub.yaml", "ssh-service.yaml"):
            self.kubectl_apply(HELM_VALUES / name)
        self.kubectl_apply(newer_scheduler_reads(RELEASE, RELEASE_NAMESPACE))
        for pvc in by_kind(self.objects, "PersistentVolumeClaim"):
            self.provide_volume(RELEASE_NAMESPACE, pvc["metadata"]["name"])

    def provide_volume(self, namespace: str, claim: str, size: str = "10Gi") -> None:
        # Named per deployment: a volume keeps the claim it was bound to.
        pv = volume_for_claim(
            f"pv-{self.scratch.name}-{namespace}-{claim}".lower(),
            namespace,
            claim,
            self.scratch / "volumes" / namespace / claim,
            size,
        )
        self.control_plane.kubectl("apply", "--server-side", "-f", "-", input=json.dumps(pv))

    def live_pods(self) -> list[dict]:
        api = kubernetes.client.ApiClient()
        return [api.sanitize_for_serialization(p) for p in self.core_v1.list_namespaced_pod(RELEASE_NAMESPACE).items]

    def component_pod(self, component: str) -> dict:
        def running():
            for pod in self.live_pods():
                if (
                    (pod["metadata"].get("labels") or {}).get("component") == component
                    and pod["status"].get("podIP")
                    and pod["status"].get("phase") == "Running"
                    and not pod["metadata"].get("deletionTimestamp")
                ):
                    return pod
            return None

        return wait_for(running, timeout=120, what=f"the chart's {component} pod to run (KWOK)")

    # ------------------------------------------------------------- processes
    def start(self) -> ChartDeployment:
        self.render()
        self.apply()
        hub, proxy, scheduler = (self.component_pod(c) for c in ("hub", "proxy", "user-scheduler"))
        self.hub_ip, self.proxy_ip = hub["status"]["podIP"], proxy["status"]["podIP"]
        cert, key = self_signed_tls([PUBLIC_HOST], [self.proxy_ip])
        self.ca_file = self.scratch / "public-ca.crt"
        self.ca_file.write_bytes(cert)
        self.control_plane.kubectl(
            "create",
            "secret",
            "tls",
            "jupyterhub-tls",
            "-n",
            RELEASE_NAMESPACE,
            f"--cert={self.ca_file}",
            f"--key={self._write(self.scratch / 'tls.key', key)}",
        )
        services = [
            kubernetes.client.ApiClient().sanitize_for_serialization(s)
            for s in self.core_v1.list_namespaced_service(RELEASE_NAMESPACE).items
        ]
        endpoints = service_endpoints(services, self.live_pods())
        self.hosts = self.scratch / "hosts"
        self.hosts.write_text(cluster_dns(endpoints, RELEASE_NAMESPACE, {PUBLIC_HOST: self.proxy_ip}))
        server = self.control_plane.server.removeprefix("https://")
        api_host, api_port = server.rsplit(":", 1)
        links = service_links(endpoints, api_host, int(api_port))
        common = dict(core_v1=self.core_v1, hosts=self.hosts, links=links, ca_file=self.control_plane.ca_file)
        venv_bin = str(REPO / ".venv" / "bin")
        system_path = "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
        # The chart's image runs kube-scheduler; ours is the same program at the
        # control plane's release. No health port: several schedulers share this machine.
        container = scheduler["spec"]["containers"][0]
        words = [*(container.get("command") or []), *(container.get("args") or [])]
        scheduler_pod = MountedPod(
            scheduler,
            scratch=self.scratch / "user-scheduler",
            base_env={"PATH": system_path},
            argv_override=[str(binaries.expected().kube_scheduler), *words[1:], "--secure-port=0"],
            **common,
        )
        self.pods["user-scheduler"] = scheduler_pod.start(self.log_dir)
        self.pods["proxy"] = MountedPod(
            proxy, scratch=self.scratch / "proxy", base_env={"PATH": f"{venv_bin}:{system_path}"}, **common
        ).start(self.log_dir)
        hub_bin = str(hub_image.bin_dir(self.hub_variant))
        self.pods["hub"] = MountedPod(
            hub,
            scratch=self.scratch / "hub",
            workdir="/srv/jupyterhub",
            base_env={
                "PATH": f"{hub_bin}:{system_path}",
                "LANG": "C.UTF-8",
                # The hub image installs the suite's wheel; here the checkout's
                # hub side and the contract it imports.
                "PYTHONPATH": os.pathsep.join([str(REPO / "spawner"), str(REPO / "contract")]),
            },
            **common,
        ).start(self.log_dir)
        self.start_pod_runner()
        self.wait_http(f"http://{self.hub_ip}:8081/hub/health", "the hub API")
        self.wait_http(f"{self.public_url}/hub/health", "the proxy's TLS port", proc_name="proxy")
        return self

    def start_pod_runner(self) -> None:
        argv = [
            sys.executable,
            "-m",
            "mlops_cluster.pod_runner",
            "--kubeconfig",
            str(self.control_plane.kubeconfig("admin")),
            "--home-base",
            str(self.scratch / "homes"),
            "--log-dir",
            str(self.log_dir / "pods"),
        ]
        env = {
            **os.environ,
            "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}",
            "PYTHONPATH": str(REPO / "cluster"),
        }
        self.runner = processes.start(
            "pod-runner", in_mount_namespace(argv, [(self.hosts, "/etc/hosts")]), self.log_dir, env=env
        )

    @staticmethod
    def _write(path: Path, data: bytes) -> Path:
        path.write_bytes(data)
        path.chmod(0o600)
        return path

    def log(self, name: str, lines: int = 60) -> str:
        """The tail of a process's output: ``hub``, ``proxy``, ``user-scheduler`` or ``pod-runner``."""
        return processes.log_tail(self.log_dir, self.pods[name].name if name in self.pods else name, lines)

    def alive(self, name: str) -> bool:
        pod = self.pods[name]
        return pod.proc is not None and pod.proc.poll() is None

    def stop(self) -> None:
        if self.runner is not None:
            processes.stop_tree(self.runner)
        for name in ("hub", "proxy", "user-scheduler"):
            if name in self.pods:
                self.pods[name].stop()
        self.remove_applied()

    def remove_applied(self) -> None:
        """Delete what ``apply`` created from the rendering, as ``helm uninstall`` would:
        the release namespace goes with its fixture, but the chart's cluster-wide
        objects (the user scheduler's ClusterRole, the PriorityClass) would stay, and
        a later ``helm install`` refuses objects no release owns."""
        if self.objects:
            self.control_plane.kubectl(
                "delete",
                "--ignore-not-found",
                "--wait=false",
                "-n",
                RELEASE_NAMESPACE,
                "-f",
                "-",
                check=False,
                input=json.dumps(
                    {
                        "apiVersion": "v1",
                        "kind": "List",
                        "items": [*self.applied_rendering(), *newer_scheduler_reads(RELEASE, RELEASE_NAMESPACE)],
                    }
                ),
            )

    # ------------------------------------------------------------------ HTTP
    @property
    def public_url(self) -> str:
        """The proxy's port, as the load balancer in front of proxy-public reaches it:
        its TLS port when the values enable HTTPS."""
        https = yaml.safe_load(self.values[0].read_text()).get("proxy", {}).get("https", {})
        return f"https://{self.proxy_ip}:8443" if https.get("enabled") else f"http://{self.proxy_ip}:8000"

    def wait_http(self, url: str, what: str, proc_name: str = "hub", timeout: float = 180) -> None:
        import requests

        def up():
            if not self.alive(proc_name):
                raise AssertionError(f"{proc_name} exited while waiting for {what}:\n" + self.log(proc_name))
            try:
                requests.get(url, timeout=5, verify=str(self.ca_file))
                return True
            except requests.ConnectionError:
                return False

        wait_for(up, timeout=timeout, interval=1, what=what)
