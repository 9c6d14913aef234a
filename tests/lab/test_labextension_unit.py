"""The labextension's own unit tests (`npm test` in labextension/), its lint (ESLint and the type
check), and the type check of the Galata specs in ui-tests/, run from pytest."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LABEXTENSION = REPO / "labextension"
UI_TESTS = REPO / "ui-tests"


def npm(*args: str, folder: Path = LABEXTENSION) -> subprocess.CompletedProcess:
    if not (folder / "node_modules").is_dir():
        pytest.fail(f"{folder.name}/node_modules is missing: run `make install` (npm ci in {folder.name})")
    return subprocess.run(
        [shutil.which("npm") or "npm", *args], cwd=folder, capture_output=True, text=True, timeout=300
    )


def test_npm_unit_tests_pass():
    result = npm("test")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "# fail 0" in result.stdout and "# pass " in result.stdout


def test_typescript_is_lint_clean():
    result = npm("run", "lint")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_galata_specs_type_check():
    result = npm("run", "lint", folder=UI_TESTS)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
