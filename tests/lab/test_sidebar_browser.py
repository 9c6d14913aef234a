"""The sidebar with its server extension disabled, in a real JupyterLab in Chromium.

With the jupyter_mlops server extension off, the sidebar must say that it
could not reach it (and why: 404), must say how to check, and must not claim
a connection. (The connected sidebar and everything else it shows are driven
by the Galata specs in ui-tests/, run by test_sidebar_galata.py.)
"""

from __future__ import annotations

import re

import pytest

from tests.browser import ARTIFACTS, chromium_context, open_mlops_sidebar
from tests.lab.lab_server import start_jupyter_lab

pytestmark = pytest.mark.browser


def test_sidebar_says_so_when_the_server_extension_is_disabled(tmp_path):
    disabled = "--ServerApp.jpserver_extensions=jupyter_mlops=False"
    with (
        start_jupyter_lab(tmp_path / "lab", extra_args=[disabled]) as lab,
        chromium_context(tmp_path / "chromium-profile") as context,
    ):
        # The premise: the endpoint is really gone, while JupyterLab still serves.
        status, _ = lab.get_json("mlops/api/v1/info")
        assert status == 404

        page = context.new_page()
        page.goto(f"{lab.url}lab?token={lab.token}")
        sidebar = open_mlops_sidebar(page)
        alert = sidebar.get_by_role("alert").filter(has_text="Could not reach the MLOps server extension")
        alert.wait_for(state="visible")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=ARTIFACTS / "lab-sidebar-extension-disabled.png")

        text = " ".join(alert.inner_text().split())
        assert text.startswith("Could not reach the MLOps server extension")
        assert re.search(r"\b404\b|Not Found", text), text
        assert "jupyter server extension list" in text
        assert sidebar.get_by_test_id("mlops-connected").count() == 0
