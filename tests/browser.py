"""Headless Chromium for the browser tests: Debian's /usr/bin/chromium driven by
the Playwright Python package, with a fresh profile. Playwright's own browser
downloads are never used."""

from __future__ import annotations

import contextlib
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
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


@contextlib.contextmanager
def chromium_context(profile: Path):
    """A Playwright BrowserContext of /usr/bin/chromium using the profile folder ``profile``."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make install` (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

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


def open_mlops_sidebar(page):
    """In a loaded JupyterLab page: click the MLOps tab; return the sidebar."""
    page.wait_for_selector("#jupyterlab-splash", state="detached")
    tab = page.locator('.jp-SideBar .lm-TabBar-tab[data-id="jupyter-mlops-sidebar"]')
    assert tab.get_attribute("title") == "MLOps: GPUs and jobs"
    tab.click()
    sidebar = page.locator("#jupyter-mlops-sidebar")
    sidebar.wait_for(state="visible")
    return sidebar
