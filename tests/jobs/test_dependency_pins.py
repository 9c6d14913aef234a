"""The lab extra admits no release the jobs API cannot run with.

jobs/argo_server.py calls ``WorkflowsService(session=...)``; hera added the
``session`` argument in 5.17.0 (5.16.3's ``WorkflowsService.__init__`` has none), so
an older hera would fail at the first submission through the Argo Server.
"""

from __future__ import annotations

import inspect
from pathlib import Path

import tomllib
from hera.workflows.service import WorkflowsService
from packaging.requirements import Requirement
from packaging.version import Version

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
FIRST_WITH_SESSION = Version("5.17.0")


def test_hera_is_pinned_to_releases_whose_workflows_service_takes_a_session():
    extras = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]
    (hera,) = [Requirement(r) for r in extras["lab"] if Requirement(r).name == "hera"]
    assert not hera.specifier.contains("5.16.3"), f"{hera} admits hera 5.16, which has no session"
    assert hera.specifier.contains(str(FIRST_WITH_SESSION)), hera
    # The installed one has it, as the jobs API uses it.
    assert "session" in inspect.signature(WorkflowsService.__init__).parameters
