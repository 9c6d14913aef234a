"""Helpers and fixtures for the deployment artefacts (helm-values/, images/): the release
namespace the manifests name (``jhub``), and ``can_i`` over ``kubectl auth can-i``."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import kubernetes
import yaml

from tests.mlops_testing import create_namespace, wait_for

REPO = Path(__file__).resolve().parents[2]
HELM_VALUES = REPO / "helm-values"
RELEASE_NAMESPACE = "jhub"
"""The namespace helm-values/ assumes for the Zero-to-JupyterHub release."""
NOTEBOOK_SA = "jupyter-mlops"
"""The notebook pods' service account in each per-user namespace (values.yaml)."""


def load_all(path: Path) -> list[dict]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def release_namespace(core_v1):
    """For a fixture: the release namespace, created, yielded, deleted afterwards.

    Several test modules need it under its one name; when the previous user's
    deletion is still under way, wait for it to finish rather than reuse a
    namespace that refuses new objects.
    """

    def created():
        try:
            create_namespace(core_v1, RELEASE_NAMESPACE, labels={"jupyterhub-mlops/test": "true"})
            return True
        except kubernetes.client.ApiException as exc:
            if exc.status != 409:
                raise
            return False

    wait_for(created, timeout=90, what=f"namespace {RELEASE_NAMESPACE} to be (re-)created")
    yield RELEASE_NAMESPACE
    core_v1.delete_namespace(RELEASE_NAMESPACE)


def user_namespaces(core_v1):
    """For a fixture: two fresh per-user namespaces (alice's, bob's), labelled for Katib as
    the hub labels them, deleted afterwards."""
    from jupyterhub_mlops.provisioning import KATIB_INJECTION_LABEL

    suffix = uuid.uuid4().hex[:6]
    names = [
        create_namespace(
            core_v1, f"mlops-{who}-{suffix}", labels={"jupyterhub-mlops/test": "true", **KATIB_INJECTION_LABEL}
        )
        for who in ("alice", "bob")
    ]
    yield names
    for name in names:
        core_v1.delete_namespace(name)


def can_i(
    control_plane,
    verb: str,
    resource: str,
    *,
    namespace: str | None = None,
    as_user: str | None = None,
    identity: str = "admin",
    all_namespaces: bool = False,
    subresource: str | None = None,
) -> bool:
    """The API server's own answer to ``kubectl auth can-i``.

    ``as_user`` impersonates (e.g. ``system:serviceaccount:ns:name``) from the admin
    identity; otherwise the question is asked with ``identity``'s own token.
    """
    args = ["auth", "can-i", verb, resource]
    if namespace:
        args += ["--namespace", namespace]
    if all_namespaces:
        args.append("--all-namespaces")
    if subresource:
        args.append(f"--subresource={subresource}")
    if as_user:
        args.append(f"--as={as_user}")
    result = control_plane.kubectl(*args, identity=identity, check=False)
    answer = result.stdout.strip().splitlines()[:1]
    if answer not in (["yes"], ["no"]):
        raise AssertionError(f"kubectl {' '.join(args)}: {result.stdout} {result.stderr}")
    return answer == ["yes"]


def provision_as_hub(control_plane, namespace: str) -> None:
    """What the spawner does on a user's first spawn, with the hub's own token: create
    (POST; a 409 means done, as KubeSpawner does it), never patch or apply."""

    def create(obj: dict) -> None:
        control_plane.kubectl("create", "-f", "-", identity="hub", input=json.dumps(obj))

    create({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": NOTEBOOK_SA, "namespace": namespace}})
    create(
        {
            "apiVersion": "rbac.authorization.k8s.io/v1",
            "kind": "RoleBinding",
            "metadata": {"name": NOTEBOOK_SA, "namespace": namespace},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "jupyterhub-mlops:user",
            },
            "subjects": [{"kind": "ServiceAccount", "name": NOTEBOOK_SA, "namespace": namespace}],
        }
    )
