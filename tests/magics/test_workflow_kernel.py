"""%mlops workflow submit FILE and %%mlops workflow in a real kernel against the real control plane.

Argo's real workflow-controller runs the workflows; their step pods run as local processes
(``argo_workflows``, tests/jobs_support.py), from the snapshot ``--code`` ships.
"""

from __future__ import annotations

import uuid

import pytest

from tests.jobs_support import IMAGE

pytestmark = pytest.mark.cluster

PIPELINE = f"""\
from hera.workflows import Container, Steps, Workflow

with Workflow(name=NAME, entrypoint="pipeline") as pipeline:
    prepare = Container(name="prepare", image="{IMAGE}", command=["python", "prep.py"])
    train = Container(name="train", image="{IMAGE}", command=["python", "train.py"])
    with Steps(name="pipeline"):
        prepare()
        train()
"""


def test_workflow_from_a_file(kernel, alice, controller, workdir, argo_workflows):
    name = f"pipeline-{uuid.uuid4().hex[:6]}"
    (workdir / "pipeline.py").write_text(PIPELINE.replace("NAME", repr(name)))
    (workdir / "prep.py").write_text("print('prepared')\n")
    (workdir / "train.py").write_text("from models.net import build\nprint('training step', build())\nprint('done')\n")
    submitted = kernel.run("%mlops workflow submit pipeline.py --code --bg -o wf")
    assert submitted.ok, submitted.outputs
    assert submitted.text.startswith(f"workflow {name}: ")

    obj = controller.get("workflow", alice.namespace, name)
    templates = {t["name"]: t for t in obj["spec"]["templates"]}
    assert set(templates) == {"pipeline", "prepare", "train"}  # Hera's workflow, as written
    assert templates["train"]["container"]["image"] == IMAGE
    assert templates["train"]["container"]["command"][-2:] == ["python", "train.py"]
    assert "jupyterhub-mlops/snapshot" in obj["metadata"]["annotations"]  # --code shipped it

    # Argo's workflow-controller runs both steps from the shipped snapshot.
    # The kernel is given longer than the wait, so a slow workflow fails with its state.
    assert kernel.value("wf.wait(timeout=240)['state']", timeout=300) == "Succeeded"
    status = kernel.run(f"%mlops status {name}")
    assert status.text.splitlines()[0] == f"workflow {name}: Succeeded · 2 steps: 2 Succeeded"
    rows = [line.split()[:3] for line in status.text.splitlines()]
    assert ["prepare", "Pod", "Succeeded"] in rows and ["train", "Pod", "Succeeded"] in rows
    assert kernel.run(f"%mlops logs {name} --step train").stdout == "training step net\ndone\n"
    missing = kernel.run(f"%mlops logs {name} --step evaluate")
    assert missing.stderr.strip() == (
        f"UsageError: workflow {name!r} has no step 'evaluate' with a pod; known: prepare, train."
    )
    assert kernel.run(f"%mlops delete {name}").ok


def test_workflow_from_the_cell(kernel, alice, controller):
    prefix = f"cellwf-{uuid.uuid4().hex[:4]}-"
    # A variable of the notebook, used by the cell: the cell runs with the notebook's namespace.
    assert kernel.run(f"STEP_IMAGE = {IMAGE!r}").ok
    submitted = kernel.run(
        "%%mlops workflow --bg -o wf\n"
        "from hera.workflows import Container, Workflow\n"
        f"with Workflow(generate_name={prefix!r}, entrypoint='hello') as w:\n"
        "    Container(name='hello', image=STEP_IMAGE, command=['echo', 'hi'])\n"
    )
    assert submitted.ok, submitted.outputs
    name = kernel.value("wf.name")
    assert name.startswith(prefix)
    obj = controller.get("workflow", alice.namespace, name)
    container = obj["spec"]["templates"][0]["container"]
    assert (container["image"], container["command"]) == (IMAGE, ["echo", "hi"])
    assert "jupyterhub-mlops/snapshot" not in (obj["metadata"].get("annotations") or {})
    assert kernel.run(f"%mlops delete {name}").ok


@pytest.mark.parametrize(
    "source, says",
    [
        ("x = 1\n", "defines no hera.workflows.Workflow"),
        (
            "from hera.workflows import Workflow\n"
            "a = Workflow(name='a', entrypoint='m')\nb = Workflow(name='b', entrypoint='m')\n",
            "defines 2 Workflows (a, b); choose one with --var NAME.",
        ),
    ],
)
def test_cells_without_exactly_one_workflow(kernel, source, says):
    result = kernel.run(f"%%mlops workflow --bg\n{source}")
    assert not result.ok
    assert result.stderr.startswith("UsageError: the cell ") and says in result.stderr
