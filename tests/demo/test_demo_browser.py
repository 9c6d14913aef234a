"""The whole story of `make demo`, in headless Chromium against the stack
`python -m demo` starts:

1. log in on the Hub's page;
2. the spawn page shows GPU profiles with live availability from the
   simulated fleet, where seeded pods of other users hold some GPUs;
3. start a one-GPU server and land in JupyterLab with the MLOps sidebar;
4. in a notebook, write train.py and submit a Hera workflow with
   ``%%mlops workflow``; from the sidebar's Submit forms, a PyTorchJob and a
   Katib sweep of train.py;
5. watch all three reach Succeeded in the sidebar's "My jobs" (KWOK Stages
   stand in for Argo, the Training Operator and Katib in the demo);
6. register an SSH key in the sidebar's SSH panel and run the command it
   shows with the real OpenSSH client: the shell is on that same server (it
   sees the train.py the notebook wrote).

Screenshots of each step go to test-artifacts/demo-*.png.
"""

from __future__ import annotations

import re
import shlex
import subprocess
import uuid

import pytest

from tests.browser import ARTIFACTS, chromium_context, open_mlops_sidebar
from tests.demo.demo_stack import running_demo

pytestmark = [pytest.mark.slow, pytest.mark.browser]
USER = "bob"
JOBS = {"pytorchjob": "demo-train", "sweep": "demo-sweep", "workflow": "demo-pipeline"}
WORKFLOW_CELL = (
    "%%mlops workflow\n"
    "from hera.workflows import Container, Steps, Workflow\n"
    f'with Workflow(name="{JOBS["workflow"]}", entrypoint="pipeline") as wf:\n'
    '    prepare = Container(name="prepare", image="python:3.12-slim", command=["python", "-c", "print(1)"])\n'
    '    train = Container(name="train", image="python:3.12-slim", command=["python", "train.py"])\n'
    '    with Steps(name="pipeline"):\n'
    "        prepare()\n"
    "        train()\n"
)


@pytest.fixture
def demo(tmp_path):
    with running_demo(tmp_path) as demo:
        yield demo


@pytest.fixture
def browser_context(tmp_path):
    with chromium_context(tmp_path / "chromium-profile") as context:
        yield context


def shot(page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=ARTIFACTS / f"demo-{name}.png")


def run_cell(page, source: str):
    """Type ``source`` into the notebook's last cell, run it, return the cell."""
    cells = page.locator(".jp-Notebook .jp-Cell")
    # Running a cell adds an empty one below it: keep the index, not "last".
    cell = cells.nth(cells.count() - 1)
    cell.locator(".cm-content").click()
    # insert_text types no key events, so the editor adds no indentation of its own.
    page.keyboard.insert_text(source)
    page.keyboard.press("Shift+Enter")
    return cell


def cell_output(cell, expected: str, timeout_ms: int = 120_000) -> str:
    """Wait until the cell's output shows ``expected``; return the output's text."""
    cell.locator(".jp-OutputArea").get_by_text(expected).first.wait_for(timeout=timeout_ms)
    return cell.locator(".jp-OutputArea").inner_text()


@pytest.mark.timeout(1200)  # a stack, JupyterLab's first load and three jobs on a shared machine
def test_the_whole_demo_story_in_the_browser(demo, browser_context, tmp_path):
    page = browser_context.new_page()
    page.on("pageerror", lambda error: print(f"page error: {error}"))
    try:
        story(page, demo, tmp_path)
    except Exception:
        shot(page, "failed")  # where the story stopped
        raise


def story(page, demo, tmp_path) -> None:

    # -- 1. log in ------------------------------------------------------------------------
    page.goto(demo.url)
    page.wait_for_url(re.compile(r"/hub/login"))
    page.fill("input[name=username]", USER)
    page.fill("input[name=password]", demo.password)
    shot(page, "1-login")
    page.click("input[type=submit], button[type=submit]")

    # -- 2. the spawn page: GPU profiles with live numbers from the seeded fleet -----------
    page.wait_for_url(re.compile(r"/hub/spawn"))
    cards = page.locator("fieldset.mlops-gpu-card[data-gpu-type]")  # one card per GPU type
    cards.first.wait_for(state="visible")
    shot(page, "2-spawn-form")
    numbers = [
        (int(c.locator("[data-role=free]").inner_text()), int(c.locator("[data-role=total]").inner_text()))
        for c in cards.all()
    ]
    assert numbers and any(free < total for free, total in numbers), numbers
    page.locator(".mlops-gpu-count[data-gpus='1'] input[name=profile]:not([disabled])").first.check()
    page.click("#spawn_form input[type=submit], #spawn_form button[type=submit]")

    # -- 3. JupyterLab with the MLOps sidebar, connected as the user -----------------------
    page.wait_for_url(re.compile(rf"/user/{USER}/lab"), timeout=240_000)
    sidebar = open_mlops_sidebar(page)
    connected = sidebar.get_by_test_id("mlops-connected")
    connected.wait_for(state="visible")
    assert re.fullmatch(rf"Connected to jupyter_mlops \S+ as {USER}", " ".join(connected.inner_text().split()))
    sidebar.get_by_test_id("mlops-gpu-type").first.wait_for()
    shot(page, "3-lab-sidebar")

    # -- 4a. a notebook writes train.py and submits a Hera workflow with %%mlops -----------
    marker = uuid.uuid4().hex
    page.locator('.jp-LauncherCard[data-category="Notebook"]').first.click()
    page.get_by_text("Python 3 (ipykernel) | Idle").wait_for()  # the status bar, once the kernel is up
    cell = run_cell(page, f'%%writefile train.py\nprint("accuracy=0.93")  # {marker}\n')
    cell_output(cell, "Writing train.py")
    cell = run_cell(page, "%load_ext jupyter_mlops")
    cell = run_cell(page, WORKFLOW_CELL)
    # Without --bg the magic follows the workflow until Argo's workflow-controller finishes it
    # (its steps run as local processes in bob's home, where train.py is).
    followed = cell_output(cell, "Succeeded")
    assert JOBS["workflow"] in followed, followed
    shot(page, "4-notebook-workflow")

    # -- 4b. the sidebar's Submit forms: a PyTorchJob and a Katib sweep of train.py --------
    sidebar.get_by_role("tab", name="Submit").click()
    form = sidebar.get_by_test_id("mlops-submit")
    form.get_by_label("File").fill("train.py")
    form.get_by_label("Name").fill(JOBS["pytorchjob"])
    form.get_by_label("GPUs per replica").select_option("1")
    form.get_by_label("Replicas").fill("2")
    shot(page, "5-submit-pytorchjob")
    form.get_by_role("button", name="Submit", exact=True).click()
    detail = sidebar.get_by_test_id("mlops-detail")
    detail.wait_for()
    assert detail.get_attribute("data-job") == f"pytorchjob/{JOBS['pytorchjob']}"
    detail.locator("h3").get_by_test_id("mlops-state").get_by_text("Succeeded").wait_for(timeout=120_000)
    detail.get_by_test_id("mlops-conditions").get_by_text("PyTorchJobSucceeded").wait_for()
    shot(page, "6-pytorchjob-succeeded")

    sidebar.get_by_role("tab", name="Submit").click()
    form.get_by_role("tab", name="Katib sweep").click()
    form.get_by_label("File").fill("train.py")
    form.get_by_label("Name").fill(JOBS["sweep"])
    form.get_by_label("Search space").fill("lr double 0.001 0.1\nbatch categorical 32,64")
    form.get_by_label("Trials").fill("4")
    form.get_by_role("button", name="Submit", exact=True).click()
    detail.wait_for()
    assert detail.get_attribute("data-job") == f"sweep/{JOBS['sweep']}"
    detail.locator("h3").get_by_test_id("mlops-state").get_by_text("Succeeded").wait_for(timeout=120_000)
    best = detail.get_by_test_id("mlops-best-trial")
    best.wait_for()
    assert re.search(r"lr=[0-9.]+, batch=(32|64) → accuracy 0\.\d+", best.inner_text()), best.inner_text()
    # Katib's Trials, one line each in the plot and a row each in the table.
    plot = detail.get_by_test_id("mlops-trials-plot")
    # (attached, not visible: the best trial's line may lie flat along the top)
    plot.locator("polyline").nth(3).wait_for(state="attached")
    assert plot.locator("polyline").count() == 4
    assert detail.get_by_test_id("mlops-trial").count() == 4
    shot(page, "7-sweep-succeeded")

    # -- 5. My jobs: all three Succeeded -----------------------------------------------------
    detail.get_by_role("button", name="← My jobs").click()
    jobs = sidebar.get_by_test_id("mlops-jobs")
    for kind, name in JOBS.items():
        row = jobs.locator(f'[data-testid=mlops-job][data-job="{kind}/{name}"]')
        row.get_by_test_id("mlops-state").get_by_text("Succeeded").wait_for(timeout=120_000)
    shot(page, "8-my-jobs-succeeded")

    # -- 6. ssh into that same server with a key registered in the SSH panel ------------------
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "bob@laptop", "-f", str(key)], check=True)
    sidebar.get_by_role("tab", name="SSH").click()
    ssh_panel = sidebar.get_by_test_id("mlops-ssh")
    command = ssh_panel.get_by_test_id("mlops-ssh-command").inner_text().strip()
    assert command == f"ssh -p {demo.ssh_port} {USER}@127.0.0.1", command
    keys = ssh_panel.get_by_test_id("mlops-ssh-keys")
    keys.get_by_label("Public key").fill(key.with_suffix(".pub").read_text())
    keys.get_by_role("button", name="Add key").click()
    # Listed once the gateway has stored it (the text area holds the same words before).
    keys.locator(".jp-mlops-keys li").get_by_text("bob@laptop").wait_for()
    shot(page, "9-ssh-key")

    argv = shlex.split(command)
    shell = subprocess.run(
        [
            argv[0],
            "-i",
            str(key),
            "-o",
            "BatchMode=yes",
            "-o",
            "StrictHostKeyChecking=no",
            "-o",
            "UserKnownHostsFile=/dev/null",
            *argv[1:],
            'echo $JUPYTERHUB_USER; cat "$HOME/train.py"',
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert shell.returncode == 0, shell.stderr
    user, source = shell.stdout.split("\n", 1)
    assert user == USER
    # The file the notebook wrote a minute ago: the same server, not a look-alike.
    assert marker in source, shell.stdout
