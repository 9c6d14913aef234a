"""The one loader of Hera workflow files: in the kernel's process and in a child Python."""

from __future__ import annotations

import pytest
from jupyter_mlops.jobs import InvalidSpec
from jupyter_mlops.jobs.hera_file import run_file, run_in_child, workflows_in

FLOW = """
from hera.workflows import Container, Workflow
print("output of the file before the manifests")
with Workflow(generate_name="train-", entrypoint="train") as train:
    Container(name="train", image="busybox", command=["python", "train.py"])
with Workflow(generate_name="eval-", entrypoint="eval") as evaluate:
    Container(name="eval", image="busybox", command=["python", "eval.py"])
_private = train
if __name__ == "__main__":
    raise SystemExit("submitted a second time")
"""


def test_the_kernel_and_the_child_collect_the_same_workflows(tmp_path):
    file = tmp_path / "flows.py"
    file.write_text(FLOW)
    here = {name: w.to_dict() for name, w in workflows_in(run_file(file)).items()}
    assert sorted(here) == ["evaluate", "train"]  # not __main__; private names left out
    assert here["train"]["spec"]["entrypoint"] == "train"
    assert run_in_child(file, timeout=60) == here


def test_a_failing_file_names_its_error(tmp_path):
    file = tmp_path / "broken.py"
    file.write_text("raise RuntimeError('no data here')\n")
    with pytest.raises(InvalidSpec, match="running broken.py failed: RuntimeError: no data here"):
        run_in_child(file, timeout=60)


def test_the_child_runs_in_the_files_folder(tmp_path):
    (tmp_path / "params.txt").write_text("train\n")
    file = tmp_path / "flow.py"
    file.write_text(
        "from hera.workflows import Container, Workflow\n"
        "entry = open('params.txt').read().strip()\n"
        "with Workflow(name='w', entrypoint=entry) as w:\n"
        "    Container(name=entry, image='busybox')\n"
    )
    assert run_in_child(file, timeout=60)["w"]["spec"]["entrypoint"] == "train"
