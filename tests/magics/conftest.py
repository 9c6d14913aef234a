"""Fixtures of the %mlops tests (every module in tests/magics/): alice's kernel and directory.

The kernel is a real ipykernel started by jupyter_client, with alice's
service-account credentials passed the way the jobs API reads them outside a
pod (``MLOPS_KUBE_SERVER``/``MLOPS_KUBE_TOKEN_FILE``/..., see
jupyter_mlops/jobs/credentials.py), as her notebook pod would have them, and
the hub's real availability service (tests/hub_availability.py) with her own
JupyterHub token.
"""

from __future__ import annotations

import pytest

from tests.magics.magics_kernel import start_notebook_kernel

# alice, bob, controller, argo_workflows, training_jobs and hub_availability are the
# session-wide fixtures tests/conftest.py registers once (never import them here: an
# imported fixture is a second definition, started a second time).


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """alice's notebook directory: a local module the cells import, and ignored files."""
    root = tmp_path_factory.mktemp("notebooks")
    (root / "models").mkdir()
    (root / "models" / "__init__.py").write_text("")
    (root / "models" / "net.py").write_text("def build():\n    return 'net'\n")
    (root / ".gitignore").write_text("data/\n")
    (root / "data").mkdir()
    (root / "data" / "huge.bin").write_bytes(b"\0" * 4096)
    (root / "notes").mkdir()
    (root / "notes" / "draft.md").write_text("not for the cluster\n")
    return root


@pytest.fixture(scope="module")
def kernel(alice, workdir, hub_availability):
    """alice's notebook kernel with the extension loaded."""
    started = start_notebook_kernel(alice, workdir, hub_availability)
    yield started
    started.shutdown()
