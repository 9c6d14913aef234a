"""A job in Kueue's line as the notebook and the sidebar show it, on the real Kueue.

One job, seen where a researcher looks: ``%mlops jobs`` in a real IPython kernel
with the notebook pod's environment, and the MLOps sidebar of a real JupyterLab
(its server extension acting as the same user) in headless Chromium. The job is
a 2 x 4-GPU PyTorchJob of a group with 8 GPUs, 2 of which the member's notebook
holds: Kueue keeps it in line, first, for want of quota, until the notebook
ends; then both replicas run, and both views say Running.
"""

from __future__ import annotations

import json
import os
import re

import httpx
import pytest

from tests.browser import ARTIFACTS, chromium_context, open_mlops_sidebar
from tests.jobs_support import server_config
from tests.kueue.lines import ddp, replicas
from tests.lab.lab_server import start_jupyter_lab
from tests.magics.magics_kernel import Kernel
from tests.mlops_testing import wait_for

pytestmark = [pytest.mark.cluster, pytest.mark.browser]

NAME = "ddp"
KUEUE_SAYS = "insufficient unused quota"
"""What Kueue's reason says of a group whose free quota is short of the job."""


def magics_row(kernel) -> list[str]:
    """The job's row of ``%mlops jobs``' plain-text table: kind, name, state, created[, message]."""
    shown = kernel.run("%mlops jobs")
    assert shown.ok, shown.outputs
    rows = [re.split(r"\s{2,}", line) for line in shown.text.splitlines()]
    (row,) = [row for row in rows if row[1:2] == [NAME]]
    return row


def watched(lab) -> dict:
    """The job as the sidebar's watch stream (``GET /jobs/watch``) first sends it; the
    stream ends after a second."""
    response = httpx.get(
        f"{lab.url}mlops/api/v1/jobs/watch",
        params={"timeout": 1},
        headers={"Authorization": f"token {lab.token}"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    events = [json.loads(line[len("data: ") :]) for line in response.text.splitlines() if line.startswith("data: ")]
    return next(event["job"] for event in events if event["job"]["name"] == NAME)


def test_a_queued_job_shows_its_place_in_line_in_the_magics_and_the_sidebar(lines, tmp_path):
    group = lines.group(quota=8)
    user = lines.member(group)
    notebook = lines.notebook(user, gpus=2)
    kernel = Kernel(str(tmp_path), {**os.environ, **user.environment()})
    try:
        assert kernel.run("%load_ext jupyter_mlops").ok
        wait_for(lambda: lines.running(user.namespace, "component=singleuser-server"), timeout=60, what="notebook")
        uid = ddp(NAME, gpus=4).submit(user.client(), if_not_fits="queue").get()["metadata"]["uid"]
        wait_for(lambda: lines.held_back(user.namespace, uid), timeout=30, what="Kueue to hold the job")

        kind, _, state, _, message = magics_row(kernel)
        assert (kind, state) == ("pytorchjob", "Queued")
        assert message.startswith("Queued: 1st in line. Kueue: ")
        assert KUEUE_SAYS in message

        jobs = server_config(user, user.namespace)["MlopsJobs"]
        settings = [f"--MlopsJobs.{trait}={value}" for trait, value in jobs.items()]
        with (
            start_jupyter_lab(tmp_path / "lab", extra_args=settings) as lab,
            chromium_context(tmp_path / "chromium-profile") as context,
        ):
            # The sidebar lists, then applies the watch's events over the list: both
            # must carry the place, or it shows for a moment and is gone.
            assert watched(lab)["queue"]["position"] == 1

            page = context.new_page()
            page.goto(f"{lab.url}lab?token={lab.token}")
            row = open_mlops_sidebar(page).locator(f'[data-testid="mlops-job"][data-job="pytorchjob/{NAME}"]')
            place = row.get_by_test_id("mlops-queue-place")
            place.wait_for(state="visible")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=ARTIFACTS / "lab-sidebar-queued-job.png")
            assert row.get_by_test_id("mlops-state").inner_text() == "Queued"
            assert place.inner_text() == "1st in line"
            assert KUEUE_SAYS in row.get_attribute("title")

            lines.finish(user.namespace, notebook)
            wait_for(lambda: len(lines.running(user.namespace, replicas(NAME))) == 2, timeout=90, what="replicas")
            running = row.locator('[data-testid="mlops-state"]:text-is("Running")')
            running.wait_for(state="visible")
            page.screenshot(path=ARTIFACTS / "lab-sidebar-queued-job-running.png")
            assert place.count() == 0

        wait_for(lambda: magics_row(kernel)[2] == "Running", timeout=30, what="%mlops jobs to say Running")
        assert "in line" not in " ".join(magics_row(kernel))
    finally:
        kernel.shutdown()
