"""Kueue on the local cluster, built and configured from its module.

``ControlPlane(kueue=True)`` runs Kueue's manager ``VERSION`` (built by
``build-binaries.sh``) as its release installs it into ``kueue-system``, with what
is upstream's read from the module's ``config/components`` in the Go module
cache and renamed as its ``config/default`` kustomization names it (``kueue-``
before every name):

- its CRDs, installed by every control plane so that the suite's objects always
  meet the real schema (``crds``); the Workload CRD carries a whole pod template
  per version (1.4 MB), so the control plane installs them while KWOK brings the
  nodes up. With the manager running, the CRDs Kueue serves in two versions
  convert through its ``/convert`` webhook, as upstream's CRD patches say;
- its RBAC (service account, ClusterRoles and bindings, the leader-election and
  secrets Roles, and the RoleBinding that lets its visibility server read the
  API server's ``extension-apiserver-authentication`` ConfigMap): the manager
  acts with a token of its service account, so the API server's RBAC allows it
  exactly what upstream's roles say;
- its mutating and validating webhooks, called by the API server at
  ``https://127.0.0.1:<port>`` (the ``url`` form of ``clientConfig``: no Service
  routes to a local process). The job and pod webhooks select the namespaces of
  ``managedJobsNamespaceSelector``, as Kueue's Helm chart does with that setting;
- the suite's Configuration, ``helm-values/kueue.yaml`` (one file for operators
  and this cluster), with this machine's ports (``configuration``).

Certificates: Kueue's internal certificate management is off, and the control
plane plays cert-manager (the chart's ``enableCertManager`` way): it makes a CA
and serving pair for the webhooks and one for the visibility server, and
injects each CA where cert-manager's CA injector would (the webhook
configurations, the CRDs' conversion webhook, the APIServices). Feeding Kueue's
own rotator a Secret, as ``training_operator`` does, was the other way; it was not
taken because the rotator leaves the visibility server to make a self-signed
certificate, which the aggregator accepts only with upstream's
``insecureSkipTLSVerify: true``, while a CA the control plane made lets the
aggregator verify the server, as it does on a cluster with cert-manager.
Kueue reads three pairs: the webhook pair from ``webhook.certDir`` (set per
cluster), the visibility pair from ``/visibility`` and a metrics pair from
``/etc/kueue/metrics/certs`` (both fixed upstream, the latter read even with
metrics off). The manager runs in a mount namespace of its own where those two
are its own folders, so two clusters on one machine never share a certificate.

The visibility API (``visibility.kueue.x-k8s.io`` ``v1beta1`` and ``v1beta2``) is
an aggregated API: the real API server's aggregator authenticates and authorizes
each request, then proxies it with its front-proxy client certificate (``pki``)
and the user in request headers to Kueue's visibility server, which trusts those
headers only from that certificate and asks the API server (SubjectAccessReview)
whether the user may. An APIService names only a Service; how the aggregator
reaches a process on 127.0.0.1 was chosen among:

- ``--enable-aggregator-routing`` with an EndpointSlice: endpoints may not be
  loopback addresses, so the server would have to listen on a non-loopback
  address of this machine (exposed, and absent on some CI machines);
- an egress selector whose ``cluster`` egress is an HTTP CONNECT proxy
  (``service_proxy``) taught to map a ClusterIP to a local port: a config file
  for the API server and a hop in every request;
- a Service of type ExternalName: the aggregator's default (ClusterIP) resolver
  turns an ExternalName Service into ``https://<externalName>:<APIService port>``
  and skips the endpoints check it does for ClusterIP Services. The visibility
  Service is upstream's, but of type ExternalName naming ``127.0.0.1`` (read as a
  host name, which the aggregator's dialer takes as the address), and the
  APIServices name the visibility server's port.

The last was taken: nothing stands between the aggregator and Kueue, and the
API server runs with no extra configuration. The aggregator still verifies
the visibility server's certificate for ``kueue-visibility-server.kueue-system.svc``,
as on a real cluster.
"""

from __future__ import annotations

import base64
import copy
import json
import re
import time
from pathlib import Path

import yaml

from . import go_modules, pki, processes
from .binaries import KUEUE_VERSION as VERSION
from .paths import CLUSTER_DIR
from .ports import free_ports

MODULE = "sigs.k8s.io/kueue"
NAMESPACE = "kueue-system"
NAME_PREFIX = "kueue-"
"""What upstream's ``config/default`` kustomization puts before every name."""
UPSTREAM_NAMESPACE = "system"
"""The namespace upstream's components name, which its kustomization replaces."""
SERVICE_ACCOUNT = "kueue-controller-manager"
WEBHOOK_SERVICE = "kueue-webhook-service"
VISIBILITY_SERVICE = "kueue-visibility-server"
VISIBILITY_GROUP = "visibility.kueue.x-k8s.io"
VISIBILITY_CERT_DIR = Path("/visibility")
"""Where Kueue's visibility server reads its pair (``pkg/visibility``, fixed upstream)."""
METRICS_CERT_DIR = Path("/etc/kueue/metrics/certs")
"""Where Kueue reads its metrics pair when its certificate management is off (fixed upstream)."""
LOCAL_ADDRESS = "127.0.0.1"
TOKEN_SECONDS = 7 * 24 * 3600
SUITE_FILE = CLUSTER_DIR.parent / "helm-values" / "kueue.yaml"
"""The suite's Kueue Configuration, as values of Kueue's Helm chart."""
WEBHOOK_CONFIGURATIONS = {
    "MutatingWebhookConfiguration": "kueue-mutating-webhook-configuration",
    "ValidatingWebhookConfiguration": "kueue-validating-webhook-configuration",
}
_SELECTED_HOOK = re.compile(r"^webhooks\.\[name=([^\]]+)\]\.namespaceSelector$")


def components() -> Path:
    return go_modules.module_dir(MODULE, VERSION) / "config" / "components"


def chart() -> Path:
    """Kueue's own Helm chart, which operators install with ``SUITE_FILE``."""
    return go_modules.module_dir(MODULE, VERSION) / "charts" / "kueue"


def _kustomization(folder: str) -> dict:
    return yaml.safe_load((components() / folder / "kustomization.yaml").read_text())


def crds() -> list[dict]:
    """Every CRD of the module, as its ``config/components/crd`` lists them."""
    folder = components() / "crd"
    return [doc for name in _kustomization("crd")["resources"] for doc in go_modules.load_yaml(folder / name)]


def converted_crds() -> set[str]:
    """The CRDs upstream's patches give a conversion webhook (those served in two versions)."""
    folder = components() / "crd"
    return {
        doc["metadata"]["name"]
        for patch in _kustomization("crd")["patches"]
        for doc in go_modules.load_yaml(folder / patch["path"])
    }


def crds_with_conversion(port: int, ca_bundle: bytes) -> list[dict]:
    """``crds`` whose conversion webhook, where upstream has one, is the local manager's."""
    converted = converted_crds()
    found = []
    for crd in crds():
        if crd["metadata"]["name"] in converted:
            crd = copy.deepcopy(crd)
            crd["spec"]["conversion"] = {
                "strategy": "Webhook",
                "webhook": {
                    "clientConfig": {"url": f"https://{LOCAL_ADDRESS}:{port}/convert", "caBundle": _b64(ca_bundle)},
                    "conversionReviewVersions": ["v1"],
                },
            }
        found.append(crd)
    return found


def _renamed(doc: dict, upstream_names: set[str]) -> dict:
    """``doc`` as upstream's kustomization emits it: names prefixed, ``system`` -> ``NAMESPACE``,
    references to upstream's own roles and service account renamed with them."""
    doc = copy.deepcopy(doc)
    meta = doc["metadata"]
    meta["name"] = NAME_PREFIX + meta["name"]
    if "namespace" in meta and meta["namespace"] in (UPSTREAM_NAMESPACE, NAMESPACE):
        meta["namespace"] = NAMESPACE
    ref = doc.get("roleRef")
    if ref and ref["name"] in upstream_names:
        ref["name"] = NAME_PREFIX + ref["name"]
    for subject in doc.get("subjects") or []:
        if subject["kind"] == "ServiceAccount":
            subject["name"] = NAME_PREFIX + subject["name"]
            subject["namespace"] = NAMESPACE
    return doc


def rbac() -> list[dict]:
    """Upstream's RBAC (``config/components/rbac``) and the visibility server's
    RoleBinding in ``kube-system``, renamed as the release names them."""
    folder = components() / "rbac"
    docs = [doc for name in _kustomization("rbac")["resources"] for doc in go_modules.load_yaml(folder / name)]
    for doc in go_modules.load_yaml(components() / "visibility" / "role_binding.yaml"):
        # Upstream's transformer moves it to kube-system, where the ConfigMap it reads is.
        docs.append({**doc, "metadata": {**doc["metadata"], "namespace": "kube-system"}})
    names = {doc["metadata"]["name"] for doc in docs}
    return [_renamed(doc, names) for doc in docs]


def selected_hooks() -> set[str]:
    """The webhooks upstream gives a namespace selector (the pod and job kinds')."""
    found = set()
    for replacement in _kustomization("webhook")["replacements"]:
        found.add(re.sub(r"^webhooks\.\[name=([^\]]+)\].*$", r"\1", replacement["source"]["fieldPath"]))
        for target in replacement["targets"]:
            found.update(m.group(1) for path in target["fieldPaths"] if (m := _SELECTED_HOOK.match(path)))
    return found


def webhook_configurations(port: int, ca_bundle: bytes, namespace_selector: dict) -> list[dict]:
    """The module's two webhook configurations, calling the local manager, their job and
    pod webhooks limited to ``namespace_selector`` (``managedJobsNamespaceSelector``)."""
    selected = selected_hooks()
    configs = []
    for doc in go_modules.load_yaml(components() / "webhook" / "manifests.yaml"):
        doc = copy.deepcopy(doc)
        doc["metadata"] = {"name": WEBHOOK_CONFIGURATIONS[doc["kind"]]}
        for hook in doc["webhooks"]:
            path = hook["clientConfig"]["service"]["path"]
            hook["clientConfig"] = {"url": f"https://{LOCAL_ADDRESS}:{port}{path}", "caBundle": _b64(ca_bundle)}
            if hook["name"] in selected:
                hook["namespaceSelector"] = copy.deepcopy(namespace_selector)
        configs.append(doc)
    return configs


def visibility_objects(port: int, ca_bundle: bytes) -> list[dict]:
    """Upstream's visibility Service, as an ExternalName for ``LOCAL_ADDRESS`` (see the
    module docstring), and its APIServices, verifying the server by ``ca_bundle``."""
    folder = components() / "visibility"
    objects = []
    for name in _kustomization("visibility")["resources"]:
        for doc in go_modules.load_yaml(folder / name):
            doc = copy.deepcopy(doc)
            if doc["kind"] == "Service":
                doc["metadata"]["name"] = VISIBILITY_SERVICE
                doc["spec"] = {"type": "ExternalName", "externalName": LOCAL_ADDRESS}
            elif doc["kind"] == "APIService":
                spec = doc["spec"]
                spec.pop("insecureSkipTLSVerify", None)
                spec["caBundle"] = _b64(ca_bundle)
                spec["service"] = {"name": VISIBILITY_SERVICE, "namespace": NAMESPACE, "port": port}
            else:
                continue
            objects.append(doc)
    return objects


def apiservice_names() -> list[str]:
    return [o["metadata"]["name"] for o in visibility_objects(0, b"") if o["kind"] == "APIService"]


def suite_configuration() -> dict:
    """The Configuration of ``SUITE_FILE`` (the Helm chart's ``managerConfig``)."""
    values = yaml.safe_load(SUITE_FILE.read_text())
    return yaml.safe_load(values["managerConfig"]["controllerManagerConfigYaml"])


def configuration(webhook_port: int, health_port: int, visibility_port: int, webhook_cert_dir: Path) -> dict:
    """The suite's Configuration with what differs for a process on a shared machine:
    its own ports on 127.0.0.1, certificates from the control plane, no metrics
    server and no leader election (one manager per cluster)."""
    config = suite_configuration()
    config["namespace"] = NAMESPACE
    config["health"] = {"healthProbeBindAddress": f"{LOCAL_ADDRESS}:{health_port}"}
    config["metrics"] = {"bindAddress": "0"}
    config["webhook"] = {"host": LOCAL_ADDRESS, "port": webhook_port, "certDir": str(webhook_cert_dir)}
    config["leaderElection"] = {"leaderElect": False}
    config["internalCertManagement"] = {"enable": False}
    config["visibilityServer"] = {"bindAddress": LOCAL_ADDRESS, "bindPort": visibility_port}
    return config


def namespace() -> dict:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def install_crds(cp, timeout: float = 60) -> None:
    """Server-side apply of the module's CRDs (the Workload CRD exceeds client-side
    apply's annotation limit), without conversion webhooks; waits until they are served."""
    objects = crds()
    cp.apply_objects(objects)
    # Polled, not `kubectl wait`: a CRD just created may have no conditions yet, which
    # `kubectl wait` takes for an error rather than a reason to wait.
    names = [f"crd/{crd['metadata']['name']}" for crd in objects]
    deadline = time.monotonic() + timeout
    while True:
        found = json.loads(cp.kubectl("get", *names, "-o", "json").stdout)["items"]
        waiting = [crd["metadata"]["name"] for crd in found if not _established(crd)]
        if not waiting:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"Kueue's CRDs were not established in {timeout:.0f}s: {', '.join(waiting)}")
        time.sleep(0.2)


def _established(crd: dict) -> bool:
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c["type"] == "Established" and c["status"] == "True" for c in conditions)


class Kueue:
    """Starts Kueue's manager as a child process of the control plane (``ControlPlane.start``)."""

    name = "kueue"

    def __init__(self, cp) -> None:
        self.cp = cp
        self.home = cp.run_dir / "kueue"

    def start(self) -> None:
        webhook_port, health_port, visibility_port = free_ports(3)
        self.home.mkdir(parents=True, exist_ok=True)
        webhook_certs = pki.webhook_secret_data(
            "kueue-webhook-ca", f"{WEBHOOK_SERVICE}.{NAMESPACE}.svc", [LOCAL_ADDRESS]
        )
        # The aggregator names the server <service>.<namespace>.svc whatever address it dials.
        visibility_certs = pki.webhook_secret_data(
            "kueue-visibility-ca", f"{VISIBILITY_SERVICE}.{NAMESPACE}.svc", [LOCAL_ADDRESS]
        )
        folders = {
            "webhook": self._mount(webhook_certs, "webhook-certs"),
            "visibility": self._mount(visibility_certs, "visibility-certs"),
            "metrics": self._mount(webhook_certs, "metrics-certs"),
        }
        config = configuration(webhook_port, health_port, visibility_port, folders["webhook"])
        config_file = self.home / "controller_manager_config.yaml"
        config_file.write_text(yaml.safe_dump(config, sort_keys=False))
        self.cp.apply_objects(
            [
                namespace(),
                *rbac(),
                *crds_with_conversion(webhook_port, webhook_certs["ca.crt"]),
                *webhook_configurations(webhook_port, webhook_certs["ca.crt"], config["managedJobsNamespaceSelector"]),
                *visibility_objects(visibility_port, visibility_certs["ca.crt"]),
            ]
        )
        kubeconfig, _ = self.cp.service_account_kubeconfig(
            NAMESPACE, SERVICE_ACCOUNT, "kueue", duration=f"{TOKEN_SECONDS}s"
        )
        for mount_point in (VISIBILITY_CERT_DIR, METRICS_CERT_DIR):
            mount_point.mkdir(parents=True, exist_ok=True)
        self.cp.start_process(
            self.name,
            processes.with_own_mounts(
                {VISIBILITY_CERT_DIR: folders["visibility"], METRICS_CERT_DIR: folders["metrics"]},
                [
                    str(self.cp.bins.kueue),
                    f"--config={config_file}",
                    # A flag, not $KUBECONFIG: the visibility server's delegated authentication
                    # and authorization read the kubeconfig from this flag, else look for a pod's.
                    f"--kubeconfig={kubeconfig}",
                    "--zap-log-level=2",
                ],
            ),
            env={"PATH": "/usr/bin:/bin"},
        )
        self.cp.wait_http(f"http://{LOCAL_ADDRESS}:{health_port}/readyz", self.name, timeout=120)
        # The aggregator's own check: it reached the visibility server and verified it.
        self.cp.kubectl(
            "wait",
            "--for=condition=Available",
            "--timeout=60s",
            *(f"apiservice/{name}" for name in apiservice_names()),
        )

    def _mount(self, certs: dict[str, bytes], folder: str) -> Path:
        """What the kubelet's Secret volume would do for the manager's Deployment."""
        path = self.home / folder
        path.mkdir(exist_ok=True)
        for key in ("tls.crt", "tls.key"):
            (path / key).write_bytes(certs[key])
            (path / key).chmod(0o600)
        return path


def remove(cp) -> None:
    """A cluster started without Kueue (after one with it, on kept etcd data) must not
    send jobs and pods to webhooks nobody serves, nor proxy to a visibility server
    that is gone (discovery would then fail for every client). The CRDs lose their
    conversion webhook when ``install_crds`` applies them again."""
    for kind, name in WEBHOOK_CONFIGURATIONS.items():
        cp.kubectl("delete", kind.lower(), name, "--ignore-not-found")
    cp.kubectl("delete", "apiservice", *apiservice_names(), "--ignore-not-found")
