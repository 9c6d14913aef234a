"""A Hera workflow from a .py file: run the file in a child Python, read back its Workflow.

The file runs with ``__name__`` set to ``"__mlops_submit__"``, so a trailing
``if __name__ == "__main__": w.create()`` does not submit it a second time;
the one ``hera.workflows.Workflow`` it defines at module level is returned as
a manifest (``Workflow.to_dict()``), to submit through the jobs API like any
other workflow. The child runs in the file's folder, with the server's
environment, for at most ``timeout`` seconds.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from ..jobs.errors import InvalidSpec

_READ_WORKFLOWS = """
import json, runpy, sys
from hera.workflows import Workflow
found = [v for v in runpy.run_path(sys.argv[1], run_name="__mlops_submit__").values()
         if isinstance(v, Workflow)]
print("\\n" + json.dumps([w.to_dict() for w in found]))
"""


def inside_root(root_dir: str, path: str, field: str = "path") -> Path:
    """``path`` (relative to the server's root) resolved; ``InvalidSpec`` if it leaves the root."""
    if not isinstance(path, str) or not path:
        raise InvalidSpec(field, "name a .py file, relative to the notebook server's root")
    root = Path(root_dir).resolve()
    resolved = (root / path).resolve()
    if root not in resolved.parents:
        raise InvalidSpec(field, "must be inside the notebook server's root directory")
    return resolved


def workflow_manifest(file: Path, timeout: float = 60) -> dict:
    """The manifest of the one Hera Workflow ``file`` defines; ``InvalidSpec`` saying why not."""
    if file.suffix != ".py" or not file.is_file():
        raise InvalidSpec("path", f"{file.name} is not an existing .py file")
    try:
        done = subprocess.run([sys.executable, "-c", _READ_WORKFLOWS, str(file)], cwd=file.parent,
                              capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        raise InvalidSpec("path", f"running {file.name} took over {timeout:.0f}s; keep slow work "
                                  "out of module level") from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no error output"])[-1]
        raise InvalidSpec("path", f"running {file.name} failed: {last}")
    workflows = json.loads(done.stdout.strip().rsplit("\n", 1)[-1] or "[]")
    if len(workflows) != 1:
        raise InvalidSpec("path", f"{file.name} defines {len(workflows)} Hera Workflows at module "
                                  "level; the sidebar submits a file that defines exactly one")
    return workflows[0]
