"""The availability service managed by JupyterHub 5.5, as Zero-to-JupyterHub 4.4 deploys it.

The notebook-side tests (magics, sidebar) share one hub from tests/hub_availability.py
on the development virtualenv's JupyterHub 6; this module starts the same hub and
service from the hub image's virtualenv (JupyterHub 5.5, ``mlops_cluster.hub_image``)
and asks it what a notebook pod asks, with the notebook side's own client.
"""

from __future__ import annotations

import pytest
import requests
from jupyter_mlops.jobs.availability import AvailabilityClient, TokenRefused
from mlops_cluster import hub_image

from tests.hub_availability import USER_GPU_CAP, running_hub_availability

pytestmark = pytest.mark.cluster

A100 = "NVIDIA-A100-SXM4-80GB"


@pytest.fixture(scope="module")
def hub(control_plane, tmp_path_factory):
    with running_hub_availability(
        control_plane, tmp_path_factory.mktemp("hub-5"), python=str(hub_image.python())
    ) as running:
        yield running


def test_the_hub_is_the_hub_images_jupyterhub(hub):
    pinned = next(
        line.split("==")[1]
        for line in hub_image.CONSTRAINTS.read_text().splitlines()
        if line.startswith("jupyterhub==")
    )
    assert pinned.startswith("5.")
    assert requests.get(f"{hub.hub_url}/hub/api/", timeout=30).json()["version"] == pinned


def test_a_notebook_reads_the_live_inventory_and_its_own_cap(hub):
    env = hub.environment("alice")
    snapshot = AvailabilityClient(env["MLOPS_AVAILABILITY_URL"], env["JUPYTERHUB_API_TOKEN"]).snapshot()
    assert snapshot["in_sync"]
    assert snapshot["gpu_types"][A100]["total"] == 16  # cluster/fleet.yaml: two nodes of 8
    assert snapshot["user"]["owner"] == "alice"
    assert snapshot["user"]["cap"] == USER_GPU_CAP


def test_a_token_the_hub_does_not_know_is_refused_with_a_sentence(hub):
    with pytest.raises(TokenRefused, match="Restart your server"):
        AvailabilityClient(hub.url, "not-a-token").snapshot()
