"""Per-user namespaces: the Namespace, ServiceAccount and RoleBinding a user's notebook acts
with, and the NetworkPolicies that close it to other users (``network_policies``).

The hub provisions them on a user's first spawn; the notebook pod then runs
in that namespace as that service account, and the jobs API submits jobs
with the pod's mounted token. What the account may do is the ClusterRole
``jupyterhub-mlops:user`` (cluster/manifests/rbac.yaml), bound only inside
the user's own namespace, so the API server's RBAC keeps users apart.

Builders are pure functions (tested as dicts); ``ensure_user_namespace``
creates what is missing and is idempotent (409 means already there: an object
that exists is left as it is, but for a LocalQueue pointing at another group's line,
which ``ensure_local_queue`` repoints).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from mlops_contract.labels import owner_labels
from mlops_contract.namespaces import NAMESPACE_PREFIX, user_namespace
from mlops_contract.queueing import KUEUE_GROUP, KUEUE_VERSION

MANAGED_BY = {"app.kubernetes.io/managed-by": "jupyterhub-mlops"}
USER_CLUSTER_ROLE = "jupyterhub-mlops:user"
SERVICE_ACCOUNT = "jupyter-mlops"
WORKFLOW_SERVICE_ACCOUNT = "mlops-workflow"
"""What a user's Argo workflow steps run as (``spec.serviceAccountName``, set by the jobs
API, which learns the name from ``MLOPS_WORKFLOW_SERVICE_ACCOUNT``)."""
KATIB_INJECTION_LABEL = {"katib.kubeflow.org/metrics-collector-injection": "enabled"}
"""Katib's Experiment webhook refuses every Experiment in a namespace without this
label, and its pod webhook injects the metrics collector only into trial pods of such
namespaces; every user namespace carries it. Katib's pod webhook then sees every pod
created there: the local cluster, and the operator docs (helm-values/README.md), give
that webhook an object selector that leaves notebook pods out, so that nobody's
notebook depends on Katib being up."""
WORKFLOW_EXECUTOR_CLUSTER_ROLE = "jupyterhub-mlops:workflow-executor"
"""Argo's executor role: a step's ``wait`` container reports its outputs as a
WorkflowTaskResult, and exits 64 (failing the step) when it may not."""


class ProvisioningError(RuntimeError):
    """The hub could not create a user's namespace, account or binding; says which and why."""


def user_labels(username: str) -> dict:
    """The labels of every object provisioned for ``username``."""
    return {**owner_labels(username), **MANAGED_BY}


def namespace_manifest(name: str, username: str, labels: dict | None = None) -> dict:
    """``labels``: the operator's extra namespace labels (Pod Security, network access)."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {**(labels or {}), **KATIB_INJECTION_LABEL, **user_labels(username)}},
    }


def service_account_manifest(namespace: str, username: str, name: str = SERVICE_ACCOUNT) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": user_labels(username),
        },
    }


def role_binding_manifest(
    namespace: str,
    username: str,
    service_account: str = SERVICE_ACCOUNT,
    cluster_role: str = USER_CLUSTER_ROLE,
) -> dict:
    """Binds ``cluster_role`` to the service account in ``namespace`` only."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {
            "name": service_account,
            "namespace": namespace,
            "labels": user_labels(username),
        },
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": cluster_role,
        },
        "subjects": [{"kind": "ServiceAccount", "name": service_account, "namespace": namespace}],
    }


def account_steps(core, rbac, namespace: str, username: str, account: str, cluster_role: str, timeout: float) -> list:
    """(what, create) for a service account of the user's namespace and the RoleBinding
    that gives it ``cluster_role`` there."""
    return [
        (
            f"service account {namespace}/{account}",
            lambda: core.create_namespaced_service_account(
                namespace,
                service_account_manifest(namespace, username, account),
                _request_timeout=timeout,
            ),
        ),
        (
            f"role binding {namespace}/{account}",
            lambda: rbac.create_namespaced_role_binding(
                namespace,
                role_binding_manifest(namespace, username, account, cluster_role),
                _request_timeout=timeout,
            ),
        ),
    ]


@dataclass(frozen=True)
class UserNamespace:
    namespace: str
    service_account: str


async def ensure_user_namespace(
    api_client,
    username: str,
    *,
    prefix: str = NAMESPACE_PREFIX,
    service_account: str = SERVICE_ACCOUNT,
    cluster_role: str = USER_CLUSTER_ROLE,
    labels: dict | None = None,
    network_policies: Sequence[dict] = (),
    local_queues: Sequence[dict] = (),
    timeout: float = 10.0,
) -> UserNamespace:
    """Create the user's Namespace, ServiceAccount, RoleBinding,
    ``network_policies`` and Kueue ``local_queues`` (dicts naming their
    namespace) if missing.

    ``api_client`` is a ``kubernetes_asyncio`` ApiClient of the hub's identity.
    Safe to call on every spawn and concurrently (409 counts as done).
    Raises ``ProvisioningError`` naming the object and the reason otherwise.
    """
    from kubernetes_asyncio import client as k8s

    core, rbac = k8s.CoreV1Api(api_client), k8s.RbacAuthorizationV1Api(api_client)
    networking = k8s.NetworkingV1Api(api_client)
    namespace = user_namespace(username, prefix)
    steps: list[tuple[str, Callable[[], Awaitable[Any]]]] = [
        (
            f"namespace {namespace}",
            lambda: core.create_namespace(namespace_manifest(namespace, username, labels), _request_timeout=timeout),
        ),
    ]
    steps += account_steps(core, rbac, namespace, username, service_account, cluster_role, timeout)
    # Workflow steps run as an account of their own: what Argo's executor needs (it reports
    # each step's outputs as a WorkflowTaskResult) and none of the notebook's rights.
    steps += account_steps(
        core, rbac, namespace, username, WORKFLOW_SERVICE_ACCOUNT, WORKFLOW_EXECUTOR_CLUSTER_ROLE, timeout
    )
    steps += [
        (
            f"network policy {namespace}/{policy['metadata']['name']}",
            lambda policy=policy: networking.create_namespaced_network_policy(  # type: ignore[misc]
                namespace, policy, _request_timeout=timeout
            ),
        )
        for policy in network_policies
    ]
    custom = k8s.CustomObjectsApi(api_client)
    steps += [
        (
            f"Kueue LocalQueue {namespace}/{queue['metadata']['name']}",
            lambda queue=queue: ensure_local_queue(custom, namespace, queue, timeout),  # type: ignore[misc]
        )
        for queue in local_queues
    ]
    for what, create in steps:
        try:
            await create()
        except k8s.ApiException as exc:
            if exc.status == 409:
                continue
            if exc.status == 403:
                raise ProvisioningError(
                    f"the hub may not create {what}: grant its role the permission "
                    f"(helm-values RBAC / cluster/manifests/rbac.yaml): {exc.reason}"
                ) from exc
            raise ProvisioningError(f"creating {what} failed: {exc.status} {exc.reason}") from exc
        except (asyncio.TimeoutError, OSError) as exc:
            raise ProvisioningError(
                f"creating {what} failed: the API server did not answer ({type(exc).__name__})"
            ) from exc
    return UserNamespace(namespace, service_account)


async def ensure_local_queue(custom, namespace: str, queue: dict, timeout: float) -> None:
    """Create ``queue``, or repoint the LocalQueue of that name at ``queue``'s ClusterQueue.

    A user whose group changed keeps their namespace, and its LocalQueues still point at
    the old group's line. Kueue makes ``spec.clusterQueue`` immutable, so the queue is
    deleted (only the one read, by its uid) and made again: workloads waiting in it keep
    their queue name and join the new group's line; admitted ones keep running on the
    quota that admitted them.
    """
    from kubernetes_asyncio import client as k8s

    name = queue["metadata"]["name"]
    args = (KUEUE_GROUP, KUEUE_VERSION, namespace, "localqueues")
    try:
        await custom.create_namespaced_custom_object(*args, queue, _request_timeout=timeout)
        return
    except k8s.ApiException as exc:
        if exc.status != 409:
            raise
    current = await custom.get_namespaced_custom_object(*args, name, _request_timeout=timeout)
    if current["spec"].get("clusterQueue") == queue["spec"]["clusterQueue"]:
        return
    await custom.delete_namespaced_custom_object(
        *args,
        name,
        body={"preconditions": {"uid": current["metadata"]["uid"]}},
        _request_timeout=timeout,
    )
    await custom.create_namespaced_custom_object(*args, queue, _request_timeout=timeout)
