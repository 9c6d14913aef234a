"""The suite's NetworkPolicies on the real API server: helm-values/networkpolicies/hub.yaml
and ssh-service.yaml in the release namespace, and those GPUKubeSpawner creates in each
user namespace (jupyterhub_mlops.network_policies).

The manifests are applied server-side (the API server validates and defaults them;
the per-user ones created with the hub's own token, as the spawner does), real pods are
created with the labels the chart and KubeSpawner give them, and what the stored
policies admit is then read off the NetworkPolicy model (the local cluster has no
network plugin to enforce them; the model has its own tests).
"""

from __future__ import annotations

import copy
import json
import uuid

import kubernetes
import pytest
from jupyterhub_mlops.network_policies import user_namespace_policies

from tests.deploy import deploy_support
from tests.deploy.deploy_support import HELM_VALUES
from tests.deploy.network_policy_model import Endpoint, admits
from tests.mlops_testing import create_namespace

pytestmark = pytest.mark.cluster

POLICIES = HELM_VALUES / "networkpolicies"
RELEASE = {"app": "jupyterhub", "release": "jhub"}
NOTEBOOK = {**RELEASE, "component": "singleuser-server"}


@pytest.fixture(scope="module")
def release_namespace(control_plane, core_v1):
    yield from deploy_support.release_namespace(core_v1)


@pytest.fixture(scope="module")
def user_namespaces(control_plane, core_v1):
    yield from deploy_support.user_namespaces(core_v1)


@pytest.fixture(scope="module")
def katib_namespace(control_plane, core_v1):
    """Where Katib's controller runs (``kubeflow`` in a deployment; a name of this test's
    own here, so the session's real Katib is not disturbed)."""
    name = create_namespace(core_v1, f"mlops-katib-{uuid.uuid4().hex[:6]}", labels={"jupyterhub-mlops/test": "true"})
    yield name
    core_v1.delete_namespace(name)


@pytest.fixture(scope="module")
def deployed(control_plane, core_v1, release_namespace, user_namespaces, katib_namespace):
    """Policies applied, pods created; returns (policies, namespace labels, pods by name)."""
    alice, bob = user_namespaces
    control_plane.kubectl(
        "apply",
        "--server-side",
        "-n",
        release_namespace,
        "-f",
        str(POLICIES / "hub.yaml"),
        "-f",
        str(HELM_VALUES / "ssh-service.yaml"),
    )
    for ns in user_namespaces:
        for policy in user_namespace_policies(ns, release_namespace, RELEASE, katib_namespace=katib_namespace):
            control_plane.kubectl("create", "-f", "-", identity="hub", input=json.dumps(policy))
    pods = {
        "hub": (release_namespace, {**RELEASE, "component": "hub"}),
        "proxy": (release_namespace, {**RELEASE, "component": "proxy"}),
        "alice-notebook": (alice, {**NOTEBOOK, "hub.jupyter.org/username": "alice"}),
        "alice-worker": (alice, {"training.kubeflow.org/job-name": "train"}),
        "bob-notebook": (bob, {**NOTEBOOK, "hub.jupyter.org/username": "bob"}),
        # A job pod of bob's wearing the hub's labels: researchers choose their pods' labels.
        "bob-impostor": (bob, {**RELEASE, "component": "hub"}),
        # Katib's controller, and the suggestion service it runs per sweep (labels as
        # Katib v0.19 puts them on the suggestion Deployment's pods).
        "katib-controller": (katib_namespace, {"katib.kubeflow.org/component": "controller"}),
        "alice-suggestion": (
            alice,
            {
                "katib.kubeflow.org/experiment": "lr",
                "katib.kubeflow.org/suggestion": "lr",
                "katib.kubeflow.org/deployment": "lr-random",
            },
        ),
        "bob-katib-impostor": (bob, {"katib.kubeflow.org/component": "controller"}),
    }
    for name, (ns, labels) in pods.items():
        core_v1.create_namespaced_pod(
            ns,
            {
                "metadata": {"name": name, "labels": labels},
                "spec": {"containers": [{"name": "c", "image": "busybox:1.37"}]},
            },
        )
    stored = kubernetes.client.NetworkingV1Api(control_plane.api_client("admin"))
    namespaces = [release_namespace, *user_namespaces, katib_namespace]
    policies = [
        kubernetes.client.ApiClient().sanitize_for_serialization(p)
        for ns in namespaces
        for p in stored.list_namespaced_network_policy(ns).items
    ]
    ns_labels = {ns: core_v1.read_namespace(ns).metadata.labels for ns in namespaces}
    endpoints = {}
    for name, (ns, _) in pods.items():
        pod = core_v1.read_namespaced_pod(name, ns)
        endpoints[name] = Endpoint(ns, pod.metadata.labels, pod.status.pod_ip or "10.255.255.1")
    return policies, ns_labels, endpoints


CONNECTIONS = [
    # (source, destination, port, admitted)
    ("hub", "alice-notebook", 2222, True),  # the SSH gateway runs in the hub pod
    ("hub", "alice-notebook", 8888, True),
    ("proxy", "alice-notebook", 8888, True),
    ("hub", "alice-notebook", 22, False),
    ("proxy", "alice-notebook", 2222, False),
    ("bob-notebook", "alice-notebook", 2222, False),
    ("bob-notebook", "alice-notebook", 8888, False),
    ("bob-impostor", "alice-notebook", 2222, False),
    ("alice-worker", "alice-notebook", 2222, False),  # not even alice's own jobs
    ("alice-notebook", "alice-worker", 29500, True),  # TensorBoard, a debugger
    ("alice-worker", "alice-worker", 29500, True),  # the PyTorch rendezvous
    ("bob-notebook", "alice-worker", 29500, False),
    ("bob-impostor", "alice-worker", 29500, False),
    ("alice-notebook", "hub", 2222, True),  # anyone may knock on the gateway
    ("proxy", "hub", 10101, True),  # the availability API, via the proxy
    ("proxy", "hub", 10102, True),
    ("alice-notebook", "hub", 10101, False),
    ("alice-notebook", "hub", 10102, False),
    ("bob-impostor", "hub", 10101, False),
    ("katib-controller", "alice-suggestion", 6789, True),  # asks for each trial's values
    ("katib-controller", "alice-suggestion", 8080, False),
    ("katib-controller", "alice-worker", 29500, False),  # a suggestion's port, not a job's
    ("katib-controller", "alice-notebook", 8888, False),
    ("bob-katib-impostor", "alice-suggestion", 6789, False),
    ("bob-notebook", "alice-suggestion", 6789, False),
]


@pytest.mark.parametrize(
    ("source", "destination", "port", "admitted"), CONNECTIONS, ids=[f"{s}->{d}:{p}" for s, d, p, _ in CONNECTIONS]
)
def test_policies_admit_exactly_the_suite_traffic(deployed, source, destination, port, admitted):
    policies, ns_labels, pods = deployed
    assert admits(policies, ns_labels, pods[source], pods[destination], port) is admitted


def test_ssh_is_named_by_namespace_as_well_as_labels(deployed):
    """The model would catch a policy that names the hub by pod labels alone."""
    policies, ns_labels, pods = deployed
    loose = copy.deepcopy(policies)
    for p in loose:
        for rule in p["spec"].get("ingress") or []:
            for peer in rule.get("from") or []:
                if peer.get("podSelector", {}).get("matchLabels", {}).get("component") == "hub":
                    peer["namespaceSelector"] = {}
    assert admits(loose, ns_labels, pods["bob-impostor"], pods["alice-notebook"], 2222)
    assert not admits(policies, ns_labels, pods["bob-impostor"], pods["alice-notebook"], 2222)


def test_ssh_service_targets_the_gateway_in_the_hub_pod(control_plane, deployed, core_v1):
    _, _, pods = deployed
    svc = core_v1.read_namespaced_service("jupyterhub-mlops-ssh", "jhub")
    assert [(p.port, p.target_port) for p in svc.spec.ports] == [(2222, 2222)]
    selected = [
        n
        for n, e in pods.items()
        if e.namespace == "jhub" and all(e.labels.get(k) == v for k, v in svc.spec.selector.items())
    ]
    assert selected == ["hub"]


def test_no_pod_of_a_user_namespace_reaches_the_cloud_metadata_address(deployed):
    """The egress policy stands in for the chart's iptables init container, which Pod
    Security baseline refuses in user namespaces: every pod there is selected, and the
    metadata address is the one exception."""
    policies, _, _ = deployed
    (egress,) = [
        p
        for p in policies
        if p["metadata"]["name"] == "jupyterhub-mlops-egress" and p["metadata"]["namespace"].startswith("mlops-alice")
    ]
    assert egress["spec"]["podSelector"] == {} and egress["spec"]["policyTypes"] == ["Egress"]
    blocks = [peer["ipBlock"] for rule in egress["spec"]["egress"] for peer in rule["to"] if "ipBlock" in peer]
    assert {"cidr": "0.0.0.0/0", "except": ["169.254.169.254/32"]} in blocks
