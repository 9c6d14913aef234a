"""helm-values/katib.yaml: the katib-config and RBAC a real Katib needs for the suite's sweeps,
held to the contract's list of algorithms and the suite's trial kinds."""

from __future__ import annotations

import yaml
from jupyter_mlops.jobs.sweep import TRIAL_KINDS
from mlops_contract.sweep_algorithms import SWEEP_ALGORITHMS

from tests.deploy.deploy_support import HELM_VALUES

DOCUMENTS = list(yaml.safe_load_all((HELM_VALUES / "katib.yaml").read_text()))
(CONFIG_MAP,) = [d for d in DOCUMENTS if d["kind"] == "ConfigMap"]
KATIB_CONFIG = yaml.safe_load(CONFIG_MAP["data"]["katib-config.yaml"])
TRIAL_RESOURCES = {
    "pod": "Job.v1.batch",
    "pytorchjob": "PyTorchJob.v1.kubeflow.org",
    "workflow": "Workflow.v1alpha1.argoproj.io",
}
"""What each trial kind's trialSpec is, as katib-config names a kind (Kind.version.group)."""


def test_every_served_algorithm_has_its_suggestion_service_and_no_other():
    suggestions = KATIB_CONFIG["runtime"]["suggestions"]
    assert [s["algorithmName"] for s in suggestions] == list(SWEEP_ALGORITHMS)
    for s in suggestions:
        service = SWEEP_ALGORITHMS[s["algorithmName"]].service
        assert s["image"] == f"ghcr.io/kubeflow/katib/suggestion-{service}:v0.19.0"


def test_every_trial_kind_is_a_trial_resource_katibs_controller_may_create():
    assert set(TRIAL_KINDS) == set(TRIAL_RESOURCES)
    resources = KATIB_CONFIG["init"]["controller"]["trialResources"]
    assert sorted(resources) == sorted(TRIAL_RESOURCES.values())
    (role,) = [d for d in DOCUMENTS if d["kind"] == "ClusterRole"]
    granted = {
        (g, r): set(rule["verbs"]) for rule in role["rules"] for g in rule["apiGroups"] for r in rule["resources"]
    }
    # Katib's own ClusterRole covers batch Jobs and PyTorchJobs but not Workflows.
    for group, resource in (("argoproj.io", "workflows"), ("kubeflow.org", "pytorchjobs")):
        assert {"get", "list", "watch", "create", "delete"} <= granted[(group, resource)]
    (binding,) = [d for d in DOCUMENTS if d["kind"] == "ClusterRoleBinding"]
    assert binding["roleRef"]["name"] == role["metadata"]["name"]
    assert binding["subjects"] == [{"kind": "ServiceAccount", "name": "katib-controller", "namespace": "kubeflow"}]
