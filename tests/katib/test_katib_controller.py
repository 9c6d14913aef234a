"""Katib v0.19.0 itself on the session cluster, driven through its own API.

The session's ``control_plane`` runs Katib's controller with its webhooks, its
db-manager on MariaDB, and (through ``job_runner``) the goptuna suggestion
service and the StdOut metrics collector beside each trial's process. Nothing
here writes an Experiment's, a Trial's or a Job's status: Katib and the Job
controller do, from what the processes print. The suite's own sweeps are
tested in ``test_sweeps.py``; these tests hold the premises those rely on.
"""

from __future__ import annotations

import uuid

import kubernetes
import pytest
from jupyterhub_mlops.provisioning import KATIB_INJECTION_LABEL
from mlops_cluster import katib

from tests.jobs_support import printing_experiment_spec, runs_locally
from tests.mlops_testing import closed_port, wait_for

pytestmark = pytest.mark.cluster

GROUP, VERSION = "kubeflow.org", "v1beta1"


def experiment(name: str) -> dict:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Experiment",
        "metadata": {"name": name},
        "spec": printing_experiment_spec(),
    }


@pytest.fixture
def sweeps_namespace(core_v1, job_runner):
    """A namespace labelled as the hub labels user namespaces, whose pods run locally."""
    name = f"t-katib-{uuid.uuid4().hex[:6]}"
    core_v1.create_namespace({"metadata": {"name": name, "labels": dict(KATIB_INJECTION_LABEL)}})
    runs_locally(core_v1, name)
    yield name
    core_v1.delete_namespace(name)


def condition(obj: dict, kind: str) -> bool:
    return any(c["type"] == kind and c["status"] == "True" for c in (obj.get("status") or {}).get("conditions") or [])


def test_katib_refuses_an_experiment_where_the_namespace_lacks_its_label(admin_custom_objects, namespace):
    """Premise of the hub's namespace label: without it Katib's own webhook says no."""
    with pytest.raises(kubernetes.client.ApiException) as refused:
        admin_custom_objects.create_namespaced_custom_object(
            GROUP, VERSION, namespace, "experiments", experiment("unlabelled")
        )
    assert refused.value.status in (400, 403)
    assert "katib.kubeflow.org/metrics-collector-injection" in refused.value.body


def test_two_sweeps_at_once_are_run_and_scored_by_katib(admin_custom_objects, sweeps_namespace):
    """Two goptuna services (each binds 0.0.0.0:6789) serve at once; every trial's
    printed loss reaches Katib's database through the collector, and Katib names the
    trial with the least as optimal."""
    names = ["sweep-a", "sweep-b"]
    for name in names:
        admin_custom_objects.create_namespaced_custom_object(
            GROUP, VERSION, sweeps_namespace, "experiments", experiment(name)
        )

    def finished():
        found = [
            admin_custom_objects.get_namespaced_custom_object(GROUP, VERSION, sweeps_namespace, "experiments", name)
            for name in names
        ]
        return found if all(condition(e, "Succeeded") or condition(e, "Failed") for e in found) else None

    for done in wait_for(finished, timeout=240, interval=2, what="both experiments to end"):
        assert condition(done, "Succeeded"), done["status"]
        assert done["status"]["trialsSucceeded"] == 3
        trials = admin_custom_objects.list_namespaced_custom_object(
            GROUP,
            VERSION,
            sweeps_namespace,
            "trials",
            label_selector=f"katib.kubeflow.org/experiment={done['metadata']['name']}",
        )["items"]
        losses = {}
        for trial in trials:
            (x,) = [float(p["value"]) for p in trial["spec"]["parameterAssignments"]]
            (metric,) = trial["status"]["observation"]["metrics"]
            assert metric["name"] == "loss"
            assert float(metric["latest"]) == pytest.approx(x)
            losses[trial["metadata"]["name"]] = x
        optimal = done["status"]["currentOptimalTrial"]
        assert optimal["bestTrialName"] == min(losses, key=losses.get)
        (best,) = optimal["observation"]["metrics"]
        assert float(best["min"]) == pytest.approx(min(losses.values()))


def test_a_notebook_pod_never_waits_for_katibs_pod_webhook(core_v1, sweeps_namespace, control_plane):
    """Katib's pod webhook, as the cluster installs it but calling a port nobody
    serves (Katib down), limited to this test's namespace: a notebook pod is created
    all the same, any other pod is refused, so the hook was in force."""
    dead_port = closed_port()
    (mutating,) = [c for c in katib.webhook_configurations(dead_port) if c["kind"] == "MutatingWebhookConfiguration"]
    hook = next(h for h in mutating["webhooks"] if h["rules"][0]["resources"] == ["pods"])
    hook["namespaceSelector"] = {"matchLabels": {"kubernetes.io/metadata.name": sweeps_namespace}}
    hook["timeoutSeconds"] = 2
    config = {**mutating, "metadata": {"name": f"katib-down-{sweeps_namespace}"}, "webhooks": [hook]}
    admission = kubernetes.client.AdmissionregistrationV1Api(control_plane.api_client("admin"))
    admission.create_mutating_webhook_configuration(config)
    try:

        def pod(name: str, labels: dict) -> dict:
            return {
                "metadata": {"name": name, "labels": labels},
                "spec": {"containers": [{"name": "notebook", "image": "jupyter"}]},
            }

        def refused_plain_pod():
            try:
                core_v1.create_namespaced_pod(sweeps_namespace, pod("plain", {}))
            except kubernetes.client.ApiException as error:
                return error if "katib" in error.body else None
            core_v1.delete_namespaced_pod("plain", sweeps_namespace)
            return None

        # The API server picks up a new webhook configuration within moments.
        error = wait_for(refused_plain_pod, timeout=30, interval=0.5, what="the dead webhook to refuse a plain pod")
        assert error.status == 500
        core_v1.create_namespaced_pod(sweeps_namespace, pod("jupyter-alice", {"component": "singleuser-server"}))
    finally:
        admission.delete_mutating_webhook_configuration(config["metadata"]["name"])
