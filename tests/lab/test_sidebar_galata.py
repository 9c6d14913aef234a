"""The Galata (Playwright) specs in ui-tests/, run against a jupyter lab that pytest starts.

The server runs this checkout's extension as a freshly provisioned user with the
jobs API's credentials, configured with ``jupyterlab.galata.configure_jupyter_server``;
``npx playwright test`` drives Debian's headless Chromium (ui-tests/playwright.config.js).
Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid

import pytest
import pytest_asyncio
from jobs_support import IMAGE, make_user
from sidebar_support import ARTIFACTS, REPO, remove_namespace, start_lab

pytestmark = [pytest.mark.browser, pytest.mark.cluster]
pytest_plugins = ("hub_availability",)  # the hub's availability service, one per session
UI_TESTS = REPO / "ui-tests"


@pytest_asyncio.fixture
async def researcher(control_plane, core_v1, tmp_path):
    user = await make_user(control_plane, core_v1, tmp_path, f"gala{uuid.uuid4().hex[:4]}")
    yield user
    remove_namespace(core_v1, user.namespace)


@pytest.mark.timeout(900)
def test_galata_specs_pass(researcher, hub_availability, tmp_path):
    if not (UI_TESTS / "node_modules" / "@jupyterlab" / "galata").is_dir():
        pytest.fail("ui-tests/node_modules is missing: run `make install` "
                    "(PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci in ui-tests)")
    ARTIFACTS.mkdir(exist_ok=True)
    env = {**researcher.environment(), **hub_availability.environment(researcher.name),
           "JUPYTER_IMAGE_SPEC": IMAGE}
    with start_lab(tmp_path / "lab", env, galata=True) as lab:
        result = subprocess.run(
            [shutil.which("npx") or "npx", "playwright", "test"], cwd=UI_TESTS, timeout=800,
            capture_output=True, text=True,
            env={**os.environ, "TARGET_URL": lab.url.rstrip("/"), "ARTIFACTS_DIR": str(ARTIFACTS),
                 "GALATA_OUTPUT_DIR": str(tmp_path / "galata"), "PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD": "1"})
    output = result.stdout[-6000:] + result.stderr[-3000:]
    assert result.returncode == 0, output
    assert "3 passed" in result.stdout, output
