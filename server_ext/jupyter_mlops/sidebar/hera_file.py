"""A Hera workflow from a .py file under the server's root, for the sidebar.

The file runs in a child Python (``jobs.hera_file.run_in_child``: never inside
the server process); the one ``hera.workflows.Workflow`` it defines at module
level is returned as a manifest (``Workflow.to_dict()``), to submit through
the jobs API like any other workflow.
"""

from __future__ import annotations

from pathlib import Path

from ..jobs.errors import InvalidSpec
from ..jobs.hera_file import run_in_child


def inside_root(root_dir: str, path: object, field: str = "path") -> Path:
    """``path`` (relative to the server's root; any JSON value a body held) resolved;
    ``InvalidSpec`` if it is not a path or leaves the root."""
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
    workflows = list(run_in_child(file, timeout).values())
    if len(workflows) != 1:
        raise InvalidSpec(
            "path",
            f"{file.name} defines {len(workflows)} Hera Workflows at module "
            "level; the sidebar submits a file that defines exactly one",
        )
    return workflows[0]
