"""A sweep's events come from its trials too, found by a metadata-only list of them."""

from __future__ import annotations

import kubernetes
import pytest
from jupyter_mlops.jobs.client import JobsClient
from jupyter_mlops.jobs.credentials import KubeCredentials
from jupyter_mlops.jobs.kube import KubeClient
from jupyter_mlops.jobs.resources import TRIALS

pytestmark = pytest.mark.cluster

GROUP, VERSION = "kubeflow.org", "v1beta1"


def _trial(name: str, experiment: str) -> dict:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "Trial",
        "metadata": {"name": name, "labels": {"katib.kubeflow.org/experiment": experiment}},
        "spec": {"parameterAssignments": [{"name": "x", "value": "1.0"}]},
    }


def test_sweep_events_name_its_trials_listed_by_metadata_only(control_plane, namespace):
    custom = kubernetes.client.CustomObjectsApi(control_plane.api_client("admin"))
    for name, experiment in (("mine-a", "mine"), ("mine-b", "mine"), ("other-a", "other")):
        custom.create_namespaced_custom_object(GROUP, VERSION, namespace, "trials", _trial(name, experiment))
    credentials = KubeCredentials(
        control_plane.server, namespace, str(control_plane.ca_file), token=control_plane.token("admin")
    )
    kube = KubeClient(credentials)
    try:
        listed = kube.list_metadata(TRIALS, namespace, label_selector="katib.kubeflow.org/experiment=mine")
        assert sorted(m["name"] for m in listed) == ["mine-a", "mine-b"]
        assert all(set(m) >= {"name", "namespace", "labels"} for m in listed)
        handle = JobsClient(kube).handle("sweep", "mine")  # no Experiment needed for its sources
        assert handle.kind.event_sources(handle, []) == {"mine", "mine-a", "mine-b"}
    finally:
        kube.close()
