"""`make demo` in Chromium: log in on the Hub's page, start a server, land in
JupyterLab with the MLOps sidebar connected to the server extension as that
user. Screenshots of each step go to test-artifacts/demo-*.png."""

from __future__ import annotations

import re

import pytest
from browser import ARTIFACTS, chromium_context, open_mlops_sidebar
from demo_stack import running_demo

pytestmark = [pytest.mark.slow, pytest.mark.browser]


@pytest.fixture
def demo(tmp_path):
    with running_demo(tmp_path) as demo:
        yield demo


@pytest.fixture
def browser_context(tmp_path):
    with chromium_context(tmp_path / "chromium-profile") as context:
        yield context


def test_login_spawn_and_sidebar_in_the_browser(demo, browser_context):
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser_context.new_page()
    page.goto(demo.url)
    page.wait_for_url(re.compile(r"/hub/login"))
    page.fill("input[name=username]", "bob")
    page.fill("input[name=password]", demo.password)
    page.screenshot(path=ARTIFACTS / "demo-1-login.png")
    page.click("input[type=submit], button[type=submit]")

    # The spawn page: GPU profiles with live availability from the simulated
    # fleet, where the seeded pods of other users already hold some GPUs.
    page.wait_for_url(re.compile(r"/hub/spawn"))
    rows = page.locator(".mlops-gpu-profile")
    rows.first.wait_for(state="visible")
    page.screenshot(path=ARTIFACTS / "demo-2-spawn-form.png", full_page=True)
    numbers = [(int(r.locator("[data-role=free]").inner_text()), int(r.locator("[data-role=total]").inner_text()))
               for r in rows.all() if r.locator("[data-role=free]").count()]
    assert numbers and any(free < total for free, total in numbers), numbers
    one_gpu = page.locator(".mlops-gpu-profile:not(.disabled)[data-gpus='1'] input[name=profile]").first
    one_gpu.check()
    page.click("#spawn_form input[type=submit], #spawn_form button[type=submit]")

    # The Hub starts the server and, once it answers, sends bob to JupyterLab.
    page.wait_for_url(re.compile(r"/user/bob/lab"), timeout=240_000)
    sidebar = open_mlops_sidebar(page)
    connected = sidebar.get_by_test_id("mlops-connected")
    connected.wait_for(state="visible")
    page.screenshot(path=ARTIFACTS / "demo-3-lab-sidebar.png")
    assert re.fullmatch(r"Connected to jupyter_mlops \S+ as bob",
                        " ".join(connected.inner_text().split()))
