"""helm-values/rbac.yaml on the real API server: each identity can do what it must
and nothing more.

Identities: the hub pod's service account of a Zero-to-JupyterHub release
(``system:serviceaccount:jhub:hub``, bound by the file itself), the local cluster's
``hub`` identity (bound to the same role by cluster/manifests/rbac.yaml), and a
researcher's notebook service account in a per-user namespace, provisioned by the
hub identity exactly as the spawner does it (namespace, service account, role binding).
"""

from __future__ import annotations

import json
import subprocess

import kubernetes
import pytest

from tests.deploy import deploy_support
from tests.deploy.deploy_support import HELM_VALUES, NOTEBOOK_SA, can_i, load_all, provision_as_hub
from tests.mlops_testing import wait_for

pytestmark = pytest.mark.cluster

RBAC = HELM_VALUES / "rbac.yaml"
HUB_SA = "system:serviceaccount:jhub:hub"


@pytest.fixture
def user_namespaces(control_plane, core_v1):
    yield from deploy_support.user_namespaces(core_v1)


def sa(namespace: str, name: str = NOTEBOOK_SA) -> str:
    return f"system:serviceaccount:{namespace}:{name}"


def test_rbac_applies_server_side_and_is_what_the_local_cluster_runs(control_plane):
    control_plane.apply(RBAC)
    rbac = kubernetes.client.RbacAuthorizationV1Api(control_plane.api_client("admin"))
    for doc in load_all(RBAC):
        if doc["kind"] == "ClusterRole":
            live = rbac.read_cluster_role(doc["metadata"]["name"])
            live_rules = [control_plane_rule(r) for r in live.rules]
            assert live_rules == [normalized_rule(r) for r in doc["rules"]]
    # One source of truth: the local identities' file binds, and defines no role.
    local = load_all(HELM_VALUES.parent / "cluster" / "manifests" / "rbac.yaml")
    assert {d["kind"] for d in local} <= {"ClusterRoleBinding", "RoleBinding"}
    assert {d["roleRef"]["name"] for d in local} <= {
        d["metadata"]["name"] for d in load_all(RBAC) if d["kind"] == "ClusterRole"
    }


def normalized_rule(rule: dict) -> dict:
    return {k: sorted(rule.get(k) or []) for k in ("apiGroups", "resources", "verbs", "resourceNames")}


def control_plane_rule(rule) -> dict:
    return {
        "apiGroups": sorted(rule.api_groups or []),
        "resources": sorted(rule.resources or []),
        "verbs": sorted(rule.verbs or []),
        "resourceNames": sorted(rule.resource_names or []),
    }


# ----------------------------------------------------------------------------- hub
HUB_MUST = [
    # GPU inventory and KubeSpawner's reflectors: cluster-wide watches.
    ("watch", "nodes", None),
    ("list", "nodes", None),
    ("watch", "pods", "*"),
    ("list", "pods", "*"),
    ("list", "events", "*"),
    # Notebook pods and home volumes in the users' namespaces.
    ("create", "pods", "mlops-anyone"),
    ("delete", "pods", "mlops-anyone"),
    ("create", "persistentvolumeclaims", "mlops-anyone"),
    # Per-user provisioning.
    ("create", "namespaces", None),
    ("create", "serviceaccounts", "mlops-anyone"),
    ("create", "rolebindings", "mlops-anyone"),
    ("bind", "clusterroles.rbac.authorization.k8s.io/jupyterhub-mlops:user", None),
    ("bind", "clusterroles.rbac.authorization.k8s.io/jupyterhub-mlops:workflow-executor", None),
    ("create", "networkpolicies.networking.k8s.io", "mlops-anyone"),
    # Job metrics.
    ("watch", "pytorchjobs.kubeflow.org", "*"),
    ("list", "experiments.kubeflow.org", "*"),
    ("list", "workflows.argoproj.io", "*"),
]
HUB_MUST_NOT = [
    ("get", "secrets", "kube-system"),
    ("list", "secrets", "*"),
    ("get", "secrets", "mlops-anyone"),
    ("delete", "namespaces", None),
    ("update", "namespaces", None),
    ("create", "serviceaccounts/token", "kube-system"),
    ("create", "pods/exec", "mlops-anyone"),
    ("patch", "nodes", None),
    ("delete", "nodes", None),
    ("create", "clusterrolebindings", None),
    ("create", "clusterroles", None),
    ("escalate", "clusterroles", None),
    ("create", "roles", "mlops-anyone"),
    ("bind", "clusterroles.rbac.authorization.k8s.io/cluster-admin", None),
    ("bind", "clusterroles.rbac.authorization.k8s.io/edit", None),
    ("update", "rolebindings", "mlops-anyone"),
    ("delete", "rolebindings", "mlops-anyone"),
    ("create", "pytorchjobs.kubeflow.org", "mlops-anyone"),
    ("create", "workflows.argoproj.io", "mlops-anyone"),
    ("update", "configmaps", "kube-system"),
    ("create", "deployments.apps", "kube-system"),
]


def _ask(control_plane, verb, resource, namespace, **who) -> bool:
    kwargs = {"all_namespaces": True} if namespace == "*" else {"namespace": namespace}
    if "/" in resource and not resource.startswith("clusterroles"):
        resource, sub = resource.split("/", 1)
        kwargs["subresource"] = sub
    return can_i(control_plane, verb, resource, **kwargs, **who)


@pytest.mark.parametrize(
    "who", [{"as_user": HUB_SA}, {"identity": "hub"}], ids=["release-hub-serviceaccount", "local-hub-identity"]
)
def test_hub_can_do_what_it_must(control_plane, who):
    refused = [(v, r, n) for v, r, n in HUB_MUST if not _ask(control_plane, v, r, n, **who)]
    assert not refused, f"the hub lacks rights it needs: {refused}"


@pytest.mark.parametrize(
    "who", [{"as_user": HUB_SA}, {"identity": "hub"}], ids=["release-hub-serviceaccount", "local-hub-identity"]
)
def test_hub_can_do_nothing_more(control_plane, who):
    granted = [(v, r, n) for v, r, n in HUB_MUST_NOT if _ask(control_plane, v, r, n, **who)]
    assert not granted, f"the hub holds rights it must not: {granted}"


def test_hub_cannot_escalate_through_a_role_binding(control_plane, namespace):
    """The API server refuses a binding that grants more than the hub holds."""
    for role in ("cluster-admin", "admin", "edit", "view"):
        result = control_plane.kubectl(
            "create",
            "rolebinding",
            "grab",
            f"--clusterrole={role}",
            f"--serviceaccount={namespace}:default",
            "-n",
            namespace,
            identity="hub",
            check=False,
        )
        assert result.returncode != 0, f"the hub bound {role}"
        assert "forbidden" in result.stderr.lower(), result.stderr
    # ...while handing out the user role works (see provision_as_hub).
    provision_as_hub(control_plane, namespace)


# --------------------------------------------------------------------- researcher
USER_MUST = [
    ("create", "pytorchjobs.kubeflow.org"),
    ("delete", "pytorchjobs.kubeflow.org"),
    ("patch", "pytorchjobs.kubeflow.org"),
    ("watch", "pytorchjobs.kubeflow.org"),
    ("create", "experiments.kubeflow.org"),
    ("delete", "experiments.kubeflow.org"),
    ("list", "trials.kubeflow.org"),
    ("watch", "trials.kubeflow.org"),
    ("create", "workflows.argoproj.io"),
    ("delete", "workflows.argoproj.io"),
    ("create", "configmaps"),
    ("delete", "configmaps"),
    ("get", "configmaps"),
    ("get", "pods/log"),
    ("list", "pods"),
    ("watch", "pods"),
    ("list", "events"),
]
USER_MUST_NOT_IN_OWN = [
    ("get", "secrets"),
    ("list", "secrets"),
    ("create", "pods"),
    ("create", "pods/exec"),
    ("update", "configmaps"),
    ("create", "rolebindings"),
    ("create", "roles"),
    ("delete", "trials.kubeflow.org"),
    ("create", "serviceaccounts/token"),
    ("patch", "pytorchjobs.kubeflow.org/status"),
    ("create", "deployments.apps"),
    # Step results are the workflow account's to write (jupyterhub-mlops:workflow-executor).
    ("create", "workflowtaskresults.argoproj.io"),
]


def test_user_service_account_runs_jobs_in_its_own_namespace_only(control_plane, user_namespaces):
    alice_ns, bob_ns = user_namespaces
    for ns in user_namespaces:
        provision_as_hub(control_plane, ns)
    alice = sa(alice_ns)

    def ask(verb, resource, namespace):
        return _ask(control_plane, verb, resource, namespace, as_user=alice)

    wait_for(lambda: ask("create", "pytorchjobs.kubeflow.org", alice_ns), what="the binding")
    refused = [(v, r) for v, r in USER_MUST if not ask(v, r, alice_ns)]
    assert not refused, f"alice's notebook cannot do what jobs need: {refused}"
    granted = [(v, r) for v, r in USER_MUST_NOT_IN_OWN if ask(v, r, alice_ns)]
    assert not granted, f"alice's notebook holds rights it must not: {granted}"
    in_bobs = [(v, r) for v, r in USER_MUST if ask(v, r, bob_ns)]
    assert not in_bobs, f"alice's notebook reaches into bob's namespace: {in_bobs}"
    cluster_wide = [
        (v, r, n)
        for v, r, n in [
            ("list", "nodes", None),
            ("get", "nodes", None),
            ("list", "namespaces", None),
            ("list", "pods", "*"),
            ("list", "pytorchjobs.kubeflow.org", "*"),
        ]
        if _ask(control_plane, v, r, n, as_user=alice)
    ]
    assert not cluster_wide, f"alice's notebook sees beyond its namespace: {cluster_wide}"


def test_user_token_submits_a_job_at_home_and_is_refused_next_door(control_plane, user_namespaces):
    """The same isolation through real requests with the service account's real token."""
    alice_ns, bob_ns = user_namespaces
    for ns in user_namespaces:
        provision_as_hub(control_plane, ns)
    token = control_plane.kubectl("create", "token", NOTEBOOK_SA, "-n", alice_ns, "--duration=10m").stdout.strip()

    def as_alice(*args, stdin=None):
        argv = [
            str(control_plane.bins.kubectl),
            f"--server={control_plane.server}",
            f"--certificate-authority={control_plane.ca_file}",
            f"--token={token}",
            *args,
        ]
        return subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=60)

    container = {"name": "pytorch", "image": "pytorch/pytorch:2.5.1-cuda12.4-cudnn9-runtime"}
    job = {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": {"name": "train"},
        "spec": {"pytorchReplicaSpecs": {"Master": {"replicas": 1, "template": {"spec": {"containers": [container]}}}}},
    }
    home = wait_for(
        lambda: (r := as_alice("create", "-n", alice_ns, "-f", "-", stdin=json.dumps(job))).returncode == 0 and r,
        what="alice's job to be accepted",
    )
    assert "created" in home.stdout
    for args in (
        ("create", "-n", bob_ns, "-f", "-"),
        ("get", "pytorchjobs", "-n", bob_ns),
        ("get", "secrets", "-n", alice_ns),
        ("get", "nodes"),
    ):
        denied = as_alice(*args, stdin=json.dumps(job))
        assert denied.returncode != 0 and "forbidden" in denied.stderr.lower(), (args, denied)


# ------------------------------------------------------------ release namespace
@pytest.fixture
def release_namespace(control_plane, core_v1):
    yield from deploy_support.release_namespace(core_v1)


def test_gateway_storage_is_granted_in_the_release_namespace_only(control_plane, release_namespace, namespace):
    control_plane.kubectl(
        "apply", "--server-side", "-n", release_namespace, "-f", str(HELM_VALUES / "rbac-release-namespace.yaml")
    )
    gateway_secret = "secrets/jupyterhub-mlops-ssh-gateway"

    def ask(verb, resource, ns):
        return can_i(control_plane, verb, resource, namespace=ns, as_user=HUB_SA)

    wait_for(lambda: ask("update", gateway_secret, release_namespace), what="the binding")
    for verb, resource in [
        ("get", gateway_secret),
        ("create", "secrets"),
        ("get", "configmaps"),
        ("create", "configmaps"),
        ("update", "configmaps"),
    ]:
        assert ask(verb, resource, release_namespace), (verb, resource)
    for verb, resource, ns in [
        ("get", "secrets/hub", release_namespace),
        ("list", "secrets", release_namespace),
        ("delete", gateway_secret, release_namespace),
        ("get", gateway_secret, namespace),
        ("create", "secrets", namespace),
        ("create", "configmaps", namespace),
        ("get", "configmaps", namespace),
    ]:
        assert not ask(verb, resource, ns), (verb, resource, ns)
