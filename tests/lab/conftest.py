"""Fixtures for the browser tests: headless Chromium driven by Playwright.

``browser_context`` is Debian's /usr/bin/chromium driven by the Playwright
Python package, with a fresh profile; Playwright's own browser downloads are
never used. The JupyterLab under test comes from ``lab_server``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # everything runs as root here
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
# The machine is shared and JupyterLab's first load compiles a lot of
# JavaScript: generous limits, never a timing assertion.
PAGE_TIMEOUT_MS = 120_000


@pytest.fixture
def browser_context(tmp_path):
    """A Playwright BrowserContext of /usr/bin/chromium with a fresh profile."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make install` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    profile = tmp_path / "chromium-profile"
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(profile),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1280, "height": 800},
        )
        context.set_default_timeout(PAGE_TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()
