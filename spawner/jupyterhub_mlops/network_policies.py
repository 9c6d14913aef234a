"""The NetworkPolicies of a per-user namespace, built as dicts.

GPUKubeSpawner creates them with the namespace (``provisioning``), so a
researcher's notebook and jobs are closed to everyone else from the first spawn:

- ``jupyterhub-mlops-notebooks``: a notebook pod's sshd (2222) admits the hub
  pod alone (where the SSH gateway runs); its server port admits the proxy
  (users' traffic) and the hub (JupyterHub checks that a starting server
  answers, and the gateway's ``-L ...:notebook:8888`` goes from there).
- ``jupyterhub-mlops-jobs``: a job's pods (PyTorchJob replicas, Katib trials,
  Argo steps: every pod that is not a notebook) admit the pods of their own
  namespace: the PyTorch rendezvous, Katib's metrics collector, the user's
  notebook reaching TensorBoard.
- ``jupyterhub-mlops-katib-suggestions``: a sweep's suggestion service (the pod
  Katib runs per Experiment in the user's namespace) admits Katib's controller,
  from Katib's namespace, on the suggestion port: the controller asks it for
  every trial's parameters.
- ``jupyterhub-mlops-egress``: every pod may go anywhere but the cloud metadata
  address. This replaces the chart's privileged iptables init container
  (``singleuser.cloudMetadata.blockWithIptables``), which Pod Security
  ``baseline`` refuses in the users' namespaces.

Sources are named by namespace *and* labels: a researcher can put any label on
a job's pods in their own namespace, but cannot put a pod into the release
namespace. The labels are those Zero-to-JupyterHub gives its pods
(``app``, ``release``, ``component``).
"""

from __future__ import annotations

from mlops_contract.jobs import SUGGESTION_POD_LABEL
from mlops_contract.sweep_algorithms import SUGGESTION_PORT

NOTEBOOK_COMPONENT = "singleuser-server"
"""KubeSpawner's ``component`` label of notebook pods."""
SSHD_PORT = 2222
NOTEBOOK_PORT = 8888
CLOUD_METADATA = "169.254.169.254/32"
PART_OF = {"app.kubernetes.io/part-of": "jupyterhub-mlops"}
KATIB_CONTROLLER = {"katib.kubeflow.org/component": "controller"}
"""The labels of Katib's controller pods (Katib's own manifests)."""


def release_pod(release_namespace: str, release_labels: dict, component: str) -> dict:
    """A NetworkPolicy peer: the release's pod of ``component``, in the release namespace."""
    return {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": release_namespace}},
        "podSelector": {"matchLabels": {**release_labels, "component": component}},
    }


def _policy(name: str, namespace: str, labels: dict, spec: dict) -> dict:
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace, "labels": {**labels, **PART_OF}},
        "spec": spec,
    }


def user_namespace_policies(
    namespace: str,
    release_namespace: str,
    release_labels: dict,
    labels: dict | None = None,
    katib_namespace: str = "kubeflow",
) -> list[dict]:
    """The four policies of a user's namespace (see the module docstring).

    ``release_labels``: the labels the chart puts on the hub and proxy pods
    besides ``component`` (``{"app": "jupyterhub", "release": "jhub"}``).
    """
    labels = labels or {}
    hub = release_pod(release_namespace, release_labels, "hub")
    proxy = release_pod(release_namespace, release_labels, "proxy")
    tcp = lambda port: {"protocol": "TCP", "port": port}  # noqa: E731
    notebooks = {"matchLabels": {"component": NOTEBOOK_COMPONENT}}
    return [
        _policy(
            "jupyterhub-mlops-notebooks",
            namespace,
            labels,
            {
                "podSelector": notebooks,
                "policyTypes": ["Ingress"],
                "ingress": [
                    {"from": [hub], "ports": [tcp(SSHD_PORT), tcp(NOTEBOOK_PORT)]},
                    {"from": [proxy], "ports": [tcp(NOTEBOOK_PORT)]},
                ],
            },
        ),
        _policy(
            "jupyterhub-mlops-jobs",
            namespace,
            labels,
            {
                "podSelector": {
                    "matchExpressions": [{"key": "component", "operator": "NotIn", "values": [NOTEBOOK_COMPONENT]}]
                },
                "policyTypes": ["Ingress"],
                "ingress": [{"from": [{"podSelector": {}}]}],
            },
        ),
        _policy(
            "jupyterhub-mlops-katib-suggestions",
            namespace,
            labels,
            {
                "podSelector": {"matchExpressions": [{"key": SUGGESTION_POD_LABEL, "operator": "Exists"}]},
                "policyTypes": ["Ingress"],
                "ingress": [
                    {
                        "from": [
                            {
                                "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": katib_namespace}},
                                "podSelector": {"matchLabels": KATIB_CONTROLLER},
                            }
                        ],
                        "ports": [tcp(SUGGESTION_PORT)],
                    }
                ],
            },
        ),
        _policy(
            "jupyterhub-mlops-egress",
            namespace,
            labels,
            {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [
                    {"to": [{"namespaceSelector": {}}]},
                    {
                        "to": [
                            {"ipBlock": {"cidr": "0.0.0.0/0", "except": [CLOUD_METADATA]}},
                            {"ipBlock": {"cidr": "::/0"}},
                        ]
                    },
                ],
            },
        ),
    ]
