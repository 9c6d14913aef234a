"""The sidebar in a real JupyterLab in headless Chromium, against the real control plane.

A researcher (a freshly provisioned namespace and service account, credentials
as their notebook pod has them, removed after the test; a JupyterHub token of
theirs for the hub's real availability service, tests/hub_availability.py)
opens the sidebar, sees the cluster's GPUs move when a pod takes some, submits
a PyTorchJob through the Submit form, watches its badge change when the
Training Operator's status is written, reads its logs, cancels it, and submits
a sweep whose trials draw the plot.

No Training Operator or Katib runs here: ``controller`` (tests/jobs_support.py)
writes what they would — pods and status through the status subresource —
and serves pod logs the way the kubelet would. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import re
import uuid

import kubernetes
import pytest
import pytest_asyncio
from jobs_support import IMAGE, controller, make_user  # noqa: F401 - fixtures
from mlops_cluster.ports import free_port
from mlops_testing import wait_for
from sidebar_support import ARTIFACTS, chromium, open_sidebar, remove_namespace, start_lab

pytestmark = [pytest.mark.browser, pytest.mark.cluster]
pytest_plugins = ("hub_availability",)  # the hub's availability service, one per session
RTX = "NVIDIA-RTX-A6000"


@pytest_asyncio.fixture
async def researcher(control_plane, core_v1, tmp_path):
    user = await make_user(control_plane, core_v1, tmp_path, f"carol{uuid.uuid4().hex[:4]}")
    yield user
    remove_namespace(core_v1, user.namespace)  # with the GPUs its pods hold


@pytest.fixture
def lab(researcher, hub_availability, tmp_path):
    env = {**researcher.environment(), **hub_availability.environment(researcher.name),
           "JUPYTER_IMAGE_SPEC": IMAGE,
           "MLOPS_SSH_HOST": "ssh.hub.example.org", "MLOPS_SSH_PORT": "2222",
           # Nothing listens there: the key panel must say so in words.
           "MLOPS_SSH_KEYS_URL": f"http://127.0.0.1:{free_port()}/services/mlops-ssh/api/keys"}
    with start_lab(tmp_path / "lab", env) as lab:
        (lab.root / "train.py").write_text("print('accuracy=0.9')\n")
        yield lab


@pytest.fixture
def browser(tmp_path):
    with chromium(tmp_path / "profile") as context:
        yield context


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"sidebar-{name}.png", full_page=True)


def shown_gpus(sidebar) -> dict[str, tuple[int, int]]:
    """{gpu type: (free, total)} as the Cluster GPUs panel shows them."""
    shown = {}
    for item in sidebar.get_by_test_id("mlops-gpu-type").all():
        free, total = re.fullmatch(r"(\d+) / (\d+) free",
                                   item.get_by_test_id("mlops-gpu-numbers").inner_text().strip()).groups()
        shown[item.get_attribute("data-gpu-type")] = (int(free), int(total))
    return shown


def gpu_pod(namespace: str, gpus: int) -> dict:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"holder-{uuid.uuid4().hex[:6]}"},
            "spec": {"nodeSelector": {"nvidia.com/gpu.product": RTX},
                     "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists"}],
                     "containers": [{"name": "c", "image": IMAGE,
                                     "resources": {"limits": {"nvidia.com/gpu": str(gpus)}}}]}}


@pytest.mark.timeout(900)  # JupyterLab's first load in Chromium is slow on a shared machine
def test_sidebar_gpus_jobs_logs_cancel_and_trials(lab, browser, researcher, controller, core_v1):  # noqa: F811
    page, sidebar = open_sidebar(browser, lab)
    ns = researcher.namespace

    # -- empty state, and the GPUs panel showing what the cluster has ------------------
    sidebar.get_by_text("You have no jobs yet").wait_for()
    sidebar.get_by_test_id("mlops-gpu-type").first.wait_for()
    status, snapshot = lab.api("gpus")
    assert status == 200, snapshot
    expected = {t: (e["free"], e["total"]) for t, e in snapshot["gpu_types"].items()}
    wait_for(lambda: shown_gpus(sidebar) == expected, timeout=30, what=f"the panel to show {expected}")
    # The fleet (cluster/fleet.yaml): 2 nodes x 4 RTX A6000; the cordoned V100 node offers nothing.
    assert shown_gpus(sidebar)[RTX][1] == 8
    assert shown_gpus(sidebar)["Tesla-V100-SXM2-32GB"] == (0, 0)
    shot(page, "gpus")

    # A pod takes 2 RTX GPUs: the panel follows without a reload.
    before = shown_gpus(sidebar)[RTX][0]
    core_v1.create_namespaced_pod(ns, gpu_pod(ns, 2))
    wait_for(lambda: shown_gpus(sidebar)[RTX][0] == before - 2, timeout=60,
             what="the panel to show 2 RTX GPUs fewer free")

    # -- submit a PyTorchJob through the form --------------------------------------------
    sidebar.get_by_role("tab", name="Submit").click()
    form = sidebar.get_by_test_id("mlops-submit")
    form.get_by_label("File").fill("train.py")
    form.get_by_label("Arguments").fill("--epochs 1")
    form.get_by_label("GPU type").select_option(RTX)
    form.get_by_label("GPUs per replica").select_option("1")
    form.get_by_label("Replicas").fill("2")
    form.get_by_role("button", name="Submit", exact=True).click()
    detail = sidebar.get_by_test_id("mlops-detail")
    detail.wait_for()
    name = detail.get_attribute("data-job").split("/", 1)[1]
    job = controller.get("pytorchjob", ns, name)
    assert job["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 1
    assert job["spec"]["pytorchReplicaSpecs"]["Master"]["template"]["spec"]["containers"][0]["resources"][
        "limits"]["nvidia.com/gpu"] == "1"
    badge = detail.locator("h3").get_by_test_id("mlops-state")
    assert badge.text_content() == "Pending"

    # -- the Training Operator's part: pods with logs, then Running through /status ------
    for replica, lines in (("Master", ["master says hi", "loss=0.5"]), ("Worker", ["worker 0 up"])):
        template = job["spec"]["pytorchReplicaSpecs"][replica]["template"]["spec"]
        controller.run_pod(ns, f"{name}-{replica.lower()}-0", template, owner=job,
                           labels={"training.kubeflow.org/job-name": name,
                                   "training.kubeflow.org/replica-type": replica.lower(),
                                   "training.kubeflow.org/replica-index": "0"},
                           log_lines=lines)
    controller.write_status("pytorchjob", ns, name, {"conditions": [
        {"type": "Created", "status": "True", "reason": "PyTorchJobCreated"},
        {"type": "Running", "status": "True", "reason": "PyTorchJobRunning",
         "message": "PyTorchJob is running."}]})
    wait_for(lambda: badge.text_content() == "Running", timeout=30, what="the badge to say Running")
    detail.get_by_test_id("mlops-conditions").get_by_text("PyTorchJobRunning").wait_for()
    detail.get_by_test_id("mlops-parts").get_by_text("worker-0").wait_for()
    shot(page, "job-running")

    # -- logs of the master, then of the worker ---------------------------------------------
    logs = detail.get_by_test_id("mlops-logs")
    logs.get_by_role("button", name="Show logs").click()
    logs.get_by_test_id("mlops-log-text").get_by_text("master says hi").wait_for()
    assert "loss=0.5" in logs.get_by_test_id("mlops-log-text").inner_text()
    logs.get_by_label("Logs of").select_option("worker-0")
    logs.get_by_test_id("mlops-log-text").get_by_text("worker 0 up").wait_for()
    assert "master says hi" not in logs.get_by_test_id("mlops-log-text").inner_text()
    shot(page, "job-logs")

    # -- cancel, confirmed in a dialog ----------------------------------------------------------
    detail.get_by_role("button", name="Cancel", exact=True).click()
    page.locator(".jp-Dialog").get_by_role("button", name="Cancel job").click()
    wait_for(lambda: badge.text_content() == "Cancelled", timeout=30, what="the badge to say Cancelled")
    assert controller.get("pytorchjob", ns, name)["spec"]["runPolicy"]["suspend"] is True

    # Back in the list, live: the job with its badge and GPUs.
    detail.get_by_role("button", name="← My jobs").click()
    row = sidebar.locator(f'[data-testid="mlops-job"][data-job="pytorchjob/{name}"]')
    row.get_by_text("Cancelled").wait_for()
    wait_for(lambda: "2 × RTX-A6000" in row.inner_text(), timeout=30, what="the row to show its GPUs")
    shot(page, "jobs-list")

    # -- a sweep through the form; Katib's trials written; the plot appears -----------------
    sidebar.get_by_role("tab", name="Submit").click()
    form.get_by_role("tab", name="Katib sweep").click()
    form.get_by_label("File").fill("train.py")
    form.get_by_label("Search space").fill("lr double 0.001 0.1\nbatch categorical 32,64")
    form.get_by_role("button", name="Submit", exact=True).click()
    detail.wait_for()
    sweep = detail.get_attribute("data-job").split("/", 1)[1]
    experiment = controller.get("sweep", ns, sweep)
    assert [p["name"] for p in experiment["spec"]["parameters"]] == ["lr", "batch"]
    trials = (("0.01", "32", "0.81"), ("0.05", "64", "0.93"), ("0.09", "32", "0.77"))
    for index, (lr, batch, accuracy) in enumerate(trials):
        trial = f"{sweep}-trial{index}"
        controller.create("trial", ns, {
            "apiVersion": "kubeflow.org/v1beta1", "kind": "Trial",
            "metadata": {"name": trial, "labels": {"katib.kubeflow.org/experiment": sweep}},
            "spec": {"parameterAssignments": [{"name": "lr", "value": lr}, {"name": "batch", "value": batch}]}})
        controller.write_status("trial", ns, trial, {
            "conditions": [{"type": "Created", "status": "True"}, {"type": "Succeeded", "status": "True"}],
            "observation": {"metrics": [{"name": "accuracy", "latest": accuracy}]}})
    controller.write_status("sweep", ns, sweep, {
        "conditions": [{"type": "Created", "status": "True"}, {"type": "Running", "status": "True"}],
        "trials": 3, "trialsSucceeded": 3,
        "currentOptimalTrial": {"bestTrialName": f"{sweep}-trial1",
                                "parameterAssignments": [{"name": "lr", "value": "0.05"},
                                                         {"name": "batch", "value": "64"}],
                                "observation": {"metrics": [{"name": "accuracy", "latest": "0.93"}]}}})
    plot = detail.get_by_test_id("mlops-trials-plot")
    plot.wait_for()
    wait_for(lambda: plot.locator("polyline").count() == 3, timeout=30, what="one line per trial")
    assert plot.locator("polyline.jp-mlops-line-best").get_attribute("data-trial") == f"{sweep}-trial1"
    axes = [t.text_content() for t in plot.locator(".jp-mlops-axis-name").all()]
    assert axes == ["lr", "batch", "accuracy"]
    best = detail.get_by_test_id("mlops-best-trial").inner_text()
    assert f"{sweep}-trial1" in best and "lr=0.05" in best and "0.93" in best
    assert detail.get_by_test_id("mlops-trial").count() == 3
    shot(page, "sweep-trials")

    # -- SSH: the exact command, and the unreachable key API said in words -----------------
    status, body = lab.api("ssh/keys")
    assert status == 503, body  # the premise: the gateway's key API does not answer
    sidebar.get_by_role("tab", name="SSH").click()
    ssh = sidebar.get_by_test_id("mlops-ssh")
    command = ssh.get_by_test_id("mlops-ssh-command").inner_text().strip()
    assert command == f"ssh -p 2222 {researcher.name}@ssh.hub.example.org"
    assert f"User {researcher.name}" in ssh.get_by_test_id("mlops-ssh-config").inner_text()
    alert = ssh.get_by_role("alert")
    alert.wait_for()
    assert "key API" in alert.inner_text() and "did not answer" in alert.inner_text()
    shot(page, "ssh")


@pytest.mark.timeout(600)
def test_sidebar_shows_server_errors_in_place(lab, browser, researcher, control_plane):
    """A job name that does not exist and an API server that refuses are said in words."""
    page, sidebar = open_sidebar(browser, lab)
    sidebar.get_by_role("tab", name="Submit").click()
    form = sidebar.get_by_test_id("mlops-submit")
    form.get_by_label("File").fill("notes.txt")
    form.get_by_role("button", name="Submit", exact=True).click()
    assert "neither a notebook" in form.get_by_role("alert").inner_text()
    # An invalid name is refused by the jobs API with the field named (400).
    form.get_by_label("File").fill("train.py")
    form.get_by_label("Name").fill("Not_A_Valid_Name")
    form.get_by_role("button", name="Submit", exact=True).click()
    form.get_by_role("alert").get_by_text("name").wait_for()
    shot(page, "submit-error")

    # RBAC: remove the researcher's rights; the jobs list says why it cannot list.
    rbac = kubernetes.client.RbacAuthorizationV1Api(control_plane.api_client("admin"))
    for binding in rbac.list_namespaced_role_binding(researcher.namespace).items:
        rbac.delete_namespaced_role_binding(binding.metadata.name, researcher.namespace)
    sidebar.get_by_role("tab", name="GPUs & jobs").click()
    alert = sidebar.get_by_test_id("mlops-jobs").get_by_role("alert")
    alert.wait_for()
    assert re.search(r"forbidden|not allowed|permission|403", alert.inner_text(), re.I), alert.inner_text()
    shot(page, "jobs-forbidden")
