"""The contract package imports nothing but the standard library and itself,
so either side can import it without the other's runtime."""

from __future__ import annotations

import sys

from test_dependencies import REPO, imported_modules


def test_the_contract_imports_only_the_standard_library():
    package = REPO / "contract" / "mlops_contract"
    foreign = imported_modules(package) - set(sys.stdlib_module_names) - {"mlops_contract"}
    assert not foreign, f"mlops_contract imports {sorted(foreign)}"
