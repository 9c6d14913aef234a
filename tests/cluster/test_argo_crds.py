"""The Argo CRDs are upstream's, read from the argo-workflows v4.0.5 Go module at start time.

The real Workflow CRD has no status subresource (the workflow-controller
updates the whole object), so a client writing ``/status`` gets 404, as on a
real cluster. The session's cluster also runs the real workflow-controller.
"""

from __future__ import annotations

import kubernetes
import pytest
import yaml
from mlops_cluster import argo_controller
from mlops_cluster.paths import CLUSTER_DIR

pytestmark = [pytest.mark.cluster, pytest.mark.slow]


def test_the_argo_crds_are_the_modules_full_ones(control_plane):
    api = kubernetes.client.ApiextensionsV1Api(control_plane.api_client("admin"))
    for path in argo_controller.crd_files():
        upstream = yaml.safe_load(path.read_text())
        served = api.read_custom_resource_definition(upstream["metadata"]["name"]).to_dict()
        (version,) = upstream["spec"]["versions"]
        (served_version,) = served["spec"]["versions"]
        assert served["spec"]["names"]["kind"] == upstream["spec"]["names"]["kind"]
        assert served_version["name"] == version["name"]
        # The full schema, not a stand-in's "preserve unknown fields".
        properties = served_version["schema"]["open_apiv3_schema"]["properties"]
        assert set(properties) == set(version["schema"]["openAPIV3Schema"]["properties"])
        has_status = (served_version.get("subresources") or {}).get("status") is not None
        assert has_status == ("status" in (version.get("subresources") or {})), path.name
        if upstream["spec"]["names"]["kind"] == "Workflow":
            assert not has_status
    assert not list(CLUSTER_DIR.glob("**/*argoproj.io*.yaml")), "no hand-written Argo CRD"


def test_writing_a_workflows_status_subresource_is_404(control_plane, namespace):
    custom = kubernetes.client.CustomObjectsApi(control_plane.api_client("admin"))
    workflow = {
        "apiVersion": "argoproj.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "wf"},
        # suspend: the controller leaves it alone while we look.
        "spec": {"entrypoint": "wait", "templates": [{"name": "wait", "suspend": {}}]},
    }
    custom.create_namespaced_custom_object("argoproj.io", "v1alpha1", namespace, "workflows", workflow)
    with pytest.raises(kubernetes.client.ApiException) as refused:
        custom.patch_namespaced_custom_object_status(
            "argoproj.io", "v1alpha1", namespace, "workflows", "wf", {"status": {"phase": "Succeeded"}}
        )
    assert refused.value.status == 404


def test_the_real_workflow_controller_runs(control_plane):
    assert control_plane.running()["workflow-controller"]
