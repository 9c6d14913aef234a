"""The hub provisions a user's namespace, service account and role binding; idempotent under 409."""

from __future__ import annotations

import asyncio
import uuid

import kubernetes
import pytest
from jupyterhub_mlops.provisioning import (
    WORKFLOW_SERVICE_ACCOUNT,
    ProvisioningError,
    ensure_user_namespace,
)
from kubernetes_asyncio import config as async_config

pytestmark = pytest.mark.cluster


async def api_client(control_plane, identity: str):
    return await async_config.new_client_from_config(config_file=str(control_plane.kubeconfig(identity)))


async def test_ensure_is_idempotent_and_safe_concurrently(control_plane, core_v1):
    prefix = f"mlops-{uuid.uuid4().hex[:4]}-"
    async with await api_client(control_plane, "hub") as api:
        results = await asyncio.gather(*(ensure_user_namespace(api, "Dana@Lab", prefix=prefix) for _ in range(3)))
        again = await ensure_user_namespace(api, "Dana@Lab", prefix=prefix)
    assert len({r.namespace for r in results} | {again.namespace}) == 1
    namespace = again.namespace
    assert namespace.startswith(f"{prefix}dana-lab-")
    core_v1.read_namespaced_service_account("jupyter-mlops", namespace)
    rbac = kubernetes.client.RbacAuthorizationV1Api(control_plane.api_client("admin"))
    binding = rbac.read_namespaced_role_binding("jupyter-mlops", namespace)
    assert binding.role_ref.name == "jupyterhub-mlops:user"
    review = kubernetes.client.AuthorizationV1Api(control_plane.api_client("admin"))

    def allowed(verb, resource, group, ns, subresource=None, account="jupyter-mlops"):
        return review.create_subject_access_review(
            {
                "apiVersion": "authorization.k8s.io/v1",
                "kind": "SubjectAccessReview",
                "spec": {
                    "user": f"system:serviceaccount:{namespace}:{account}",
                    "resourceAttributes": {
                        "verb": verb,
                        "resource": resource,
                        "group": group,
                        "namespace": ns,
                        "subresource": subresource,
                    },
                },
            }
        ).status.allowed

    assert allowed("create", "pytorchjobs", "kubeflow.org", namespace)
    assert allowed("get", "pods", "", namespace, "log")
    assert allowed("patch", "configmaps", "", namespace)
    assert not allowed("create", "pods", "", namespace), "jobs, not bare pods"
    assert not allowed("list", "pytorchjobs", "kubeflow.org", "default"), "own namespace only"
    # Workflow steps run as their own account: Argo's executor role, nothing more.
    core_v1.read_namespaced_service_account(WORKFLOW_SERVICE_ACCOUNT, namespace)
    steps = {"account": WORKFLOW_SERVICE_ACCOUNT}
    assert allowed("create", "workflowtaskresults", "argoproj.io", namespace, **steps)
    assert allowed("patch", "workflowtaskresults", "argoproj.io", namespace, **steps)
    assert not allowed("create", "workflows", "argoproj.io", namespace, **steps)
    assert not allowed("get", "configmaps", "", namespace, **steps)
    assert not allowed("create", "workflowtaskresults", "argoproj.io", "default", **steps)
    assert not allowed("create", "workflowtaskresults", "argoproj.io", namespace), (
        "the notebook's account does not write step results"
    )
    core_v1.delete_namespace(namespace)


async def test_without_the_permission_the_error_names_what_and_why(control_plane):
    async with await api_client(control_plane, "alice") as api:
        with pytest.raises(ProvisioningError, match="may not create namespace"):
            await ensure_user_namespace(api, "eve", prefix=f"mlops-{uuid.uuid4().hex[:4]}-")
