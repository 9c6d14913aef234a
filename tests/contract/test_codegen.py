"""The generated REST contract files are what their generators print from the models.

Change ``contract/mlops_contract/api.py`` or ``routes.json``, then regenerate both:

    python -m mlops_contract.openapi > server_ext/jupyter_mlops/openapi.json
    python scripts/api_types.py > labextension/src/api.ts
"""

from __future__ import annotations

import json
import runpy

from mlops_contract.openapi import document

from tests.test_dependencies import REPO

OPENAPI = REPO / "server_ext" / "jupyter_mlops" / "openapi.json"
TYPESCRIPT = REPO / "labextension" / "src" / "api.ts"


def test_the_committed_openapi_document_is_generated_from_the_models():
    assert json.loads(OPENAPI.read_text()) == document(), (
        "openapi.json is stale: python -m mlops_contract.openapi > server_ext/jupyter_mlops/openapi.json"
    )


def test_the_committed_typescript_types_are_generated_from_the_document():
    generator = runpy.run_path(str(REPO / "scripts" / "api_types.py"))
    assert TYPESCRIPT.read_text() == generator["typescript"](document()), (
        "labextension/src/api.ts is stale: python scripts/api_types.py > labextension/src/api.ts"
    )


def test_every_request_model_is_in_the_document_with_its_vocabularies():
    schemas = document()["components"]["schemas"]
    assert schemas["Parameter"]["properties"]["distribution"]["enum"] == [
        "uniform",
        "loguniform",
        "normal",
        "lognormal",
    ]
    assert schemas["JobSummary"]["required"][-2:] == ["gpus", "gpu_type"]
    for name in ("PyTorchJobSpec", "SweepSpec", "WorkflowSpec", "Snapshot", "Parameter"):
        assert schemas[name]["additionalProperties"] is False, name
