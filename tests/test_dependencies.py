"""Each side declares exactly the third-party packages it imports.

The hub side (extra ``hub``) and the notebook side (extra ``lab``) are
installed into different images; a package one of them imports but does not
declare works here only because the test environment happens to hold it, and
breaks the first image built without it. A declared package nothing imports
is weight every image carries for nothing.
"""

from __future__ import annotations

import ast
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

import pytest
import tomllib

REPO = Path(__file__).resolve().parent.parent
SIDES = {
    # extra: (package folder, distributions the side needs without importing them)
    "hub": (REPO / "spawner" / "jupyterhub_mlops", set()),
    # JupyterLab serves the prebuilt sidebar the wheel ships; nothing imports it.
    "lab": (REPO / "server_ext" / "jupyter_mlops", {"jupyterlab"}),
}
BASE = "dependencies"
CONTRACT = "mlops_contract"
OWN_PACKAGES = {CONTRACT} | {package.name for package, _ in SIDES.values()}


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_name(requirement: str) -> str:
    return normalise(re.match(r"[A-Za-z0-9_.\-]+", requirement).group(0))


def declared(extra: str) -> set[str]:
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    return {requirement_name(r) for r in project[BASE] + project["optional-dependencies"][extra]}


def imported_modules(package: Path) -> set[str]:
    """Top-level names of absolute imports in every module of ``package``."""
    names = set()
    for source in package.rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text(), filename=str(source))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


def imported_distributions(package: Path) -> set[str]:
    distributions = packages_distributions()
    found = set()
    for module in imported_modules(package) - set(sys.stdlib_module_names) - OWN_PACKAGES:
        owners = distributions.get(module)
        assert owners, f"{package.name} imports {module!r}, which no installed distribution provides"
        found.update(normalise(d) for d in owners)
    return found - {"jupyterhub-mlops"}


@pytest.mark.parametrize("extra", sorted(SIDES))
def test_each_side_declares_exactly_what_it_imports(extra):
    package, unimported = SIDES[extra]
    # Both sides import the contract, so what it imports (the base dependencies) is theirs too.
    needed = imported_distributions(package) | imported_distributions(REPO / "contract" / CONTRACT) | unimported
    have = declared(extra)
    assert not needed - have, f"extra [{extra}] lacks {sorted(needed - have)}, which {package.name} imports"
    assert not have - needed, f"extra [{extra}] declares {sorted(have - needed)}, which {package.name} never imports"


@pytest.mark.parametrize("extra", sorted(SIDES))
def test_a_side_imports_the_contract_and_never_the_other_side(extra):
    package, _ = SIDES[extra]
    others = OWN_PACKAGES - {CONTRACT, package.name}
    assert not imported_modules(package) & others, f"{package.name} imports {sorted(others)}"
