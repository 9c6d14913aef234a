"""The chain sidebar -> server extension, in a real JupyterLab in Chromium.

The sidebar must show what ``GET /mlops/api/v1/info`` of the running
jupyter_mlops server extension answers — its version and the user the server
authenticated (a random id per browser session, so no hard-coded text can
pass). With the server extension disabled, the same sidebar must say that it
could not reach it, and must not claim a connection.
"""

from __future__ import annotations

import re

import pytest
from browser import ARTIFACTS, chromium_context, open_mlops_sidebar
from lab_server import start_jupyter_lab

pytestmark = pytest.mark.browser


@pytest.fixture
def browser_context(tmp_path):
    with chromium_context(tmp_path / "chromium-profile") as context:
        yield context


def open_lab_with_sidebar(context, lab):
    """Load JupyterLab with the token, open the MLOps sidebar."""
    page = context.new_page()
    page.goto(f"{lab.url}lab?token={lab.token}")
    return page, open_mlops_sidebar(page)


def test_sidebar_shows_what_the_server_extension_answers(tmp_path, browser_context):
    with start_jupyter_lab(tmp_path / "lab") as lab:
        page, sidebar = open_lab_with_sidebar(browser_context, lab)
        connected = sidebar.get_by_test_id("mlops-connected")
        connected.wait_for(state="visible")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / "lab-sidebar-connected.png")

        # Ask the endpoint ourselves, with the browser's own session cookie:
        # the user must be the one the server assigned to this browser.
        response = browser_context.request.get(f"{lab.url}mlops/api/v1/info")
        assert response.status == 200, response.text()
        info = response.json()
        assert info["name"] == "jupyter_mlops"
        assert info["user"], info

        shown = " ".join(connected.inner_text().split())
        assert shown == f"Connected to jupyter_mlops {info['version']} as {info['user']}"
        # Other panels may explain what is not configured in a bare jupyter lab
        # (no hub, no cluster); the connection itself raises no alarm.
        assert sidebar.get_by_role("alert").filter(
            has_text="Could not reach the MLOps server extension").count() == 0


def test_sidebar_says_so_when_the_server_extension_is_disabled(tmp_path, browser_context):
    disabled = "--ServerApp.jpserver_extensions=jupyter_mlops=False"
    with start_jupyter_lab(tmp_path / "lab", extra_args=[disabled]) as lab:
        # The premise: the endpoint is really gone, while JupyterLab still serves.
        status, _ = lab.get_json("mlops/api/v1/info")
        assert status == 404

        page, sidebar = open_lab_with_sidebar(browser_context, lab)
        alert = sidebar.get_by_role("alert").filter(
            has_text="Could not reach the MLOps server extension")
        alert.wait_for(state="visible")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / "lab-sidebar-extension-disabled.png")

        text = " ".join(alert.inner_text().split())
        assert text.startswith("Could not reach the MLOps server extension")
        assert re.search(r"\b404\b|Not Found", text), text
        assert "jupyter server extension list" in text
        assert sidebar.get_by_test_id("mlops-connected").count() == 0
