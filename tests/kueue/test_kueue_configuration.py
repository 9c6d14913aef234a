"""The suite's Kueue Configuration (helm-values/kueue.yaml) against the facts it must
agree with: the labels the hub gives user namespaces, the GPU resources, the job
kinds the suite submits. Kueue itself validates the file at every local start."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from jupyterhub_mlops.provisioning import namespace_manifest
from mlops_cluster import helm, kueue
from mlops_contract.placement import GPU_RESOURCE


def selects(selector: dict, labels: dict) -> bool:
    """A Kubernetes label selector's verdict on ``labels``."""
    if any(labels.get(key) != value for key, value in (selector.get("matchLabels") or {}).items()):
        return False
    for expression in selector.get("matchExpressions") or []:
        value = labels.get(expression["key"])
        verdict = {
            "Exists": value is not None,
            "DoesNotExist": value is None,
            "In": value is not None and value in expression.get("values", []),
            "NotIn": value is None or value not in expression.get("values", []),
        }[expression["operator"]]
        if not verdict:
            return False
    return True


def test_kueue_manages_exactly_the_namespaces_the_hub_provisions_for_users():
    selector = kueue.suite_configuration()["managedJobsNamespaceSelector"]
    user = namespace_manifest("mlops-alice", "alice", labels={"pod-security.kubernetes.io/enforce": "baseline"})
    assert selects(selector, user["metadata"]["labels"])
    for other in ({"kubernetes.io/metadata.name": "kube-system"}, {"app.kubernetes.io/managed-by": "Helm"}):
        assert not selects(selector, other)


def test_only_gpus_are_queued():
    config = kueue.suite_configuration()
    excluded = config["resources"]["excludeResourcePrefixes"]
    assert config["manageJobsWithoutQueueName"] is False
    for queued in (GPU_RESOURCE, "nvidia.com/mig-1g.10gb"):
        assert not any(queued.startswith(prefix) for prefix in excluded)
    for scheduler_only in ("cpu", "memory", "ephemeral-storage", "pods"):
        assert any(scheduler_only.startswith(prefix) for prefix in excluded)


def test_the_suites_workload_kinds_are_integrated():
    frameworks = kueue.suite_configuration()["integrations"]["frameworks"]
    assert set(frameworks) == {"batch/job", "kubeflow.org/pytorchjob", "pod"}


def test_the_local_manager_changes_only_what_a_shared_machine_needs():
    suite = kueue.suite_configuration()
    local = kueue.configuration(9443, 8081, 8082, Path("/certs"))
    local_only = {"namespace", "health", "metrics", "webhook", "leaderElection", "internalCertManagement"}
    assert {key: value for key, value in local.items() if key not in local_only | {"visibilityServer"}} == suite
    assert local["visibilityServer"] == {"bindAddress": "127.0.0.1", "bindPort": 8082}


def test_job_and_pod_webhooks_see_only_the_managed_namespaces():
    """As Kueue's Helm chart does with managedJobsNamespaceSelector: a pod elsewhere
    (kube-system, the hub's namespace) never waits for Kueue's webhooks."""
    selector = kueue.suite_configuration()["managedJobsNamespaceSelector"]
    configs = kueue.webhook_configurations(9443, b"ca", selector)
    hooks = {hook["name"]: hook for config in configs for hook in config["webhooks"]}
    for name in ("mpod.kb.io", "vpod.kb.io", "mjob.kb.io", "vjob.kb.io", "mpytorchjob.kb.io", "vpytorchjob.kb.io"):
        assert hooks[name]["namespaceSelector"] == selector
        assert hooks[name]["clientConfig"]["url"].startswith("https://127.0.0.1:9443/")
    # Kueue's own cluster-scoped kinds keep upstream's (none).
    assert "namespaceSelector" not in hooks["vclusterqueue.kb.io"]


@pytest.mark.cluster  # the Helm CLI built into the cluster's cache, as the deploy tests use it
def test_kueues_own_chart_installs_the_suites_configuration():
    """What an operator's ``helm install -f helm-values/kueue.yaml`` creates: the manager
    reads this Configuration, and the chart scopes the pod and job webhooks to the
    namespaces Kueue manages."""
    objects = helm.render(kueue.chart(), "kueue", kueue.NAMESPACE, [kueue.SUITE_FILE])
    (config_map,) = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"] == "kueue-manager-config"]
    rendered = yaml.safe_load(config_map["data"]["controller_manager_config.yaml"])
    # The chart adds its certificate management (its own rotator, or cert-manager).
    assert {key: value for key, value in rendered.items() if key != "internalCertManagement"} == (
        kueue.suite_configuration()
    )
    selector = kueue.suite_configuration()["managedJobsNamespaceSelector"]
    hooks = {hook["name"]: hook for o in objects if o["kind"] in kueue.WEBHOOK_CONFIGURATIONS for hook in o["webhooks"]}
    for name in ("mpod.kb.io", "vpod.kb.io", "mjob.kb.io", "mpytorchjob.kb.io"):
        assert hooks[name]["namespaceSelector"] == selector
