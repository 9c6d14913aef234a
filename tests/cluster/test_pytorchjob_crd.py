"""The PyTorchJob CRD the API server serves is the Training Operator v1.9.4 module's own.

Every control plane installs it from ``manifests/`` of the module zip in the Go
module cache (``training_operator.crds``), with or without the operator, so the
suite's PyTorchJobs always meet the real schema.
"""

from __future__ import annotations

import json

import pytest
from mlops_cluster import training_operator
from mlops_cluster.paths import CLUSTER_DIR

pytestmark = pytest.mark.cluster


def test_the_pytorchjob_crd_is_the_modules_own(control_plane):
    (upstream,) = training_operator.crds()
    name = upstream["metadata"]["name"]
    served = json.loads(control_plane.kubectl("get", "crd", name, "-o", "json").stdout)
    assert served["spec"]["group"] == upstream["spec"]["group"] == "kubeflow.org"
    assert served["spec"]["names"] == {**served["spec"]["names"], **upstream["spec"]["names"]}
    assert [v["name"] for v in served["spec"]["versions"]] == [v["name"] for v in upstream["spec"]["versions"]]
    for version, served_version in zip(upstream["spec"]["versions"], served["spec"]["versions"], strict=True):
        # The whole schema, field for field: not a stand-in's "preserve unknown fields".
        assert served_version["schema"] == version["schema"], version["name"]
        assert served_version.get("subresources") == version.get("subresources")
    assert "status" in served["spec"]["versions"][0]["subresources"]
    assert not list(CLUSTER_DIR.glob("**/*pytorchjob*.yaml")), "no hand-written PyTorchJob CRD"
