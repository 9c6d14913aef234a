"""Hera workflows from Python code: run a file (or take a namespace) and collect its Workflows.

One loader for every way a workflow file comes in. The kernel (``%mlops
workflow submit file.py``) runs the file in its own process: it is the user's
own code in the user's own kernel. The notebook server (the sidebar's "submit
a Hera file") must not run a user's file inside itself, so it runs the same
loader in a child Python (``run_in_child``) and reads the manifests back.

A file runs with ``__name__`` set to ``RUN_NAME``, so a trailing ``if
__name__ == "__main__": w.create()`` does not submit it a second time. The
Workflows it defines are its module-level ``hera.workflows.Workflow`` values
whose names do not start with ``_``.

Run as ``python -m jupyter_mlops.jobs.hera_file FILE``: prints, on its last
line, a JSON object of the file's Workflow manifests by variable name.
"""

from __future__ import annotations

import json
import runpy
import subprocess
import sys
from pathlib import Path

from .errors import InvalidSpec

RUN_NAME = "__mlops_submit__"


def run_file(path: str | Path) -> dict:
    """Run a Python file as a module named ``RUN_NAME``; its globals."""
    return runpy.run_path(str(path), run_name=RUN_NAME)


def workflows_in(namespace: dict) -> dict:
    """The Hera ``Workflow`` objects of ``namespace`` by variable name (private names left out).

    ``InvalidSpec`` when Hera is not installed here.
    """
    try:
        from hera.workflows import Workflow
    except ImportError:
        raise InvalidSpec("hera", "Hera is not installed in this Python environment: pip install hera") from None
    return {
        name: value for name, value in namespace.items() if isinstance(value, Workflow) and not name.startswith("_")
    }


def run_in_child(file: Path, timeout: float) -> dict[str, dict]:
    """The Workflow manifests ``file`` defines, by variable name, from a child Python run in
    the file's folder with this process's environment; ``InvalidSpec`` (field ``path``)
    when it fails or takes over ``timeout`` seconds."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", __name__, str(file)],
            cwd=file.parent,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        raise InvalidSpec(
            "path",
            f"running {file.name} took over {timeout:.0f}s; keep slow work out of module level",
        ) from None
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no error output"])[-1]
        raise InvalidSpec("path", f"running {file.name} failed: {last}")
    return json.loads(done.stdout.strip().rsplit("\n", 1)[-1] or "{}")


def _main(path: str) -> None:
    found = workflows_in(run_file(path))
    # On a line of its own: whatever the file printed comes before it.
    print("\n" + json.dumps({name: w.to_dict() for name, w in found.items()}))


if __name__ == "__main__":
    _main(sys.argv[1])
