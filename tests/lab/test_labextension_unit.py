"""The labextension's own unit tests (`npm test` in labextension/) and its type check, run from pytest."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

LABEXTENSION = Path(__file__).resolve().parents[2] / "labextension"


def npm(*args: str) -> subprocess.CompletedProcess:
    if not (LABEXTENSION / "node_modules").is_dir():
        pytest.fail("labextension/node_modules is missing: run `make install` (npm ci in labextension)")
    return subprocess.run([shutil.which("npm") or "npm", *args], cwd=LABEXTENSION, capture_output=True,
                          text=True, timeout=300)


def test_npm_unit_tests_pass():
    result = npm("test")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout and "# pass " in result.stdout


def test_typescript_is_lint_clean():
    result = npm("run", "lint")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
