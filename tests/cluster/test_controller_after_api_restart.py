"""Argo's workflow-controller after the API server restarts.

Argo v4.0.5's config-map watcher ends on the 410 a restarted API server answers
and then spins on its closed channel, writing an error line per turn
(52 GB of log in a quarter of an hour, filling the disk). The control plane
stops the controller before the API server and starts it after; this holds it to that.
"""

from __future__ import annotations

import time

import pytest
from mlops_cluster.argo_controller import ArgoController

from tests.mlops_testing import wait_for

pytestmark = pytest.mark.cluster
SPIN = b"invalid config map object received"


def test_a_restarted_api_server_leaves_no_spinning_workflow_controller(control_plane, core_v1):
    log = control_plane.log_dir / f"{ArgoController.name}.log"
    assert control_plane.running().get(ArgoController.name), "the session runs the controller"
    since = log.stat().st_size
    control_plane.restart_apiserver(downtime=1.0)
    wait_for(lambda: core_v1.list_namespace(_request_timeout=5) and True, timeout=60, what="the API server back")
    time.sleep(3)  # a spinning controller writes thousands of lines in this while
    with open(log, "rb") as f:
        f.seek(since)
        assert SPIN not in f.read(), "the workflow-controller spins on a closed watch"
    assert control_plane.running()[ArgoController.name]
