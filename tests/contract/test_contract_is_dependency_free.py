"""The contract package imports nothing but the standard library, pydantic and itself,
so either side can import it without the other's runtime. pydantic is no burden:
JupyterHub (in both images) and Hera require it."""

from __future__ import annotations

import sys

from tests.test_dependencies import REPO, imported_modules

ALLOWED = {"mlops_contract", "pydantic"}


def test_the_contract_imports_only_the_standard_library_and_pydantic():
    package = REPO / "contract" / "mlops_contract"
    foreign = imported_modules(package) - set(sys.stdlib_module_names) - ALLOWED
    assert not foreign, f"mlops_contract imports {sorted(foreign)}"
