"""The README's deploy commands, run as they are written against the local cluster.

The blocks are read from README.md by their markers (``<!-- deploy-commands:
NAME -->`` before a fenced ``bash`` block), so the README and this test cannot
drift: the local-cluster block (KUBECONFIG, PATH to the Helm and kubectl built
in the cache, the chart from the shared folder, a self-signed certificate),
then the install block an operator runs (``helm upgrade --install`` of the real
chart, our RBAC, NetworkPolicies and SSH Service, the TLS Secret). What differs
from an operator's shell is only where things are: the cluster is the test
session's (its run dir as ``$MLOPS_CLUSTER_RUN_DIR``), ``~`` is a scratch home
whose cache is the build cache, and the working directory is a scratch checkout
(``helm-values/`` of this one, ``../shared`` holding the chart), so the
certificate files land there, not in the repository.

The chart's pods are KWOK's (nothing runs them; tests/deploy/test_deploy_chart.py
does); here the release, its objects and ours are what is checked.
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import kubernetes
import pytest
from mlops_cluster import binaries, helm
from mlops_cluster.paths import cache_dir

from tests.deploy.deploy_support import HELM_VALUES, RELEASE_NAMESPACE, REPO, load_all
from tests.mlops_testing import wait_for

pytestmark = pytest.mark.cluster

README = REPO / "README.md"
BLOCK = re.compile(r"<!-- deploy-commands: ([\w-]+) -->\n```bash\n(.*?)\n```", re.S)
RELEASE = "jhub"


def readme_blocks() -> dict[str, str]:
    """The README's marked shell blocks, by name."""
    return dict(BLOCK.findall(README.read_text()))


def scratch_checkout(tmp: Path) -> Path:
    """A folder laid out as the README assumes (a checkout beside ``shared/``), holding
    this checkout's helm-values/ and the chart found for the tests."""
    checkout = tmp / "work" / "jupyterhub-mlops"
    checkout.mkdir(parents=True)
    (checkout / "helm-values").symlink_to(HELM_VALUES)
    chart_place = tmp / "work" / "shared" / "third_party" / f"zero-to-jupyterhub-k8s-{helm.Z2JH_VERSION}"
    chart_place.mkdir(parents=True)
    (chart_place / "jupyterhub").symlink_to(helm.z2jh_chart())
    return checkout


def scratch_home(tmp: Path) -> Path:
    """A home whose ~/.cache/jupyterhub-mlops is the build cache, wherever that is."""
    home = tmp / "home"
    (home / ".cache").mkdir(parents=True)
    (home / ".cache" / "jupyterhub-mlops").symlink_to(cache_dir())
    return home


def namespace_gone(core_v1, name: str) -> bool:
    try:
        core_v1.read_namespace(name)
    except kubernetes.client.ApiException as exc:
        if exc.status == 404:
            return True
        raise
    return False


@pytest.fixture(scope="module")
def installed(control_plane, core_v1, tmp_path_factory):
    """The local-cluster block, then the install block, in one bash -e shell; the
    release is uninstalled and its namespace deleted afterwards."""
    blocks = readme_blocks()
    assert set(blocks) == {"install", "local-cluster"}, f"README.md's marked blocks: {sorted(blocks)}"
    helm.helm_binary()  # built into the cache the first time, as make install does
    # The previous module's release namespace may still be terminating; the
    # README's --create-namespace makes it anew.
    wait_for(
        lambda: namespace_gone(core_v1, RELEASE_NAMESPACE),
        timeout=120,
        what=f"namespace {RELEASE_NAMESPACE} to be gone",
    )
    tmp = tmp_path_factory.mktemp("readme")
    env = {
        "HOME": str(scratch_home(tmp)),
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "MLOPS_CLUSTER_RUN_DIR": str(control_plane.run_dir),
    }
    # Last, which helm and kubectl the README's PATH found (the machine may have others).
    script = "\n".join(["set -euo pipefail", blocks["local-cluster"], blocks["install"], "command -v helm kubectl"])
    try:
        yield subprocess.run(
            ["bash", "-c", script], cwd=scratch_checkout(tmp), env=env, capture_output=True, text=True, timeout=540
        )
    finally:
        # The release's cluster-wide objects (the user scheduler's ClusterRole...) go with it.
        helm.helm(
            "uninstall",
            RELEASE,
            "-n",
            RELEASE_NAMESPACE,
            "--kubeconfig",
            str(control_plane.kubeconfig("admin")),
            check=False,
        )
        try:
            core_v1.delete_namespace(RELEASE_NAMESPACE)
        except kubernetes.client.ApiException as exc:
            if exc.status != 404:
                raise


def test_the_readme_blocks_run_as_written(installed):
    assert installed.returncode == 0, installed.stdout[-3000:] + installed.stderr[-3000:]
    found = [Path(line).resolve() for line in installed.stdout.splitlines()[-2:]]
    assert found == [helm.helm_binary().resolve(), binaries.expected().kubectl.resolve()]


def test_helm_reports_the_release_deployed_from_the_4_4_chart(installed, control_plane):
    assert installed.returncode == 0, installed.stderr[-3000:]
    status = helm.helm(
        "status", RELEASE, "-n", RELEASE_NAMESPACE, "-o", "json", "--kubeconfig", str(control_plane.kubeconfig("admin"))
    )
    assert json.loads(status.stdout)["info"]["status"] == "deployed"
    listed = helm.helm(
        "list", "-n", RELEASE_NAMESPACE, "-o", "json", "--kubeconfig", str(control_plane.kubeconfig("admin"))
    )
    (release,) = json.loads(listed.stdout)
    assert (release["name"], release["chart"]) == (RELEASE, f"jupyterhub-{helm.Z2JH_VERSION}")


def test_the_release_namespace_holds_the_hub_and_the_suites_objects(installed, control_plane, core_v1):
    assert installed.returncode == 0, installed.stderr[-3000:]
    client = control_plane.api_client("admin")
    hub = kubernetes.client.AppsV1Api(client).read_namespaced_deployment("hub", RELEASE_NAMESPACE)
    # Installed by Helm (not applied from a rendering): it owns the object.
    assert hub.metadata.annotations["meta.helm.sh/release-name"] == RELEASE
    rbac = kubernetes.client.RbacAuthorizationV1Api(client)
    cluster_roles = {o["metadata"]["name"] for o in load_all(HELM_VALUES / "rbac.yaml") if o["kind"] == "ClusterRole"}
    assert cluster_roles <= {r.metadata.name for r in rbac.list_cluster_role().items}
    ours = load_all(HELM_VALUES / "rbac-release-namespace.yaml")
    ours += load_all(HELM_VALUES / "networkpolicies" / "hub.yaml") + load_all(HELM_VALUES / "ssh-service.yaml")
    names = {
        kind: {o["metadata"]["name"] for o in ours if o["kind"] == kind}
        for kind in ("RoleBinding", "NetworkPolicy", "Service")
    }
    assert names["RoleBinding"] and names["NetworkPolicy"] and names["Service"]
    present = {
        "RoleBinding": rbac.list_namespaced_role_binding(RELEASE_NAMESPACE).items,
        "NetworkPolicy": kubernetes.client.NetworkingV1Api(client)
        .list_namespaced_network_policy(RELEASE_NAMESPACE)
        .items,
        "Service": core_v1.list_namespaced_service(RELEASE_NAMESPACE).items,
    }
    for kind, wanted in names.items():
        assert wanted <= {o.metadata.name for o in present[kind]}, kind
    tls = core_v1.read_namespaced_secret("jupyterhub-tls", RELEASE_NAMESPACE)
    assert tls.type == "kubernetes.io/tls" and set(tls.data) == {"tls.crt", "tls.key"}
