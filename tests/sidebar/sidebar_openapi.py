"""Hold the sidebar routes' answers to server_ext/jupyter_mlops/sidebar/openapi.yaml."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import jsonschema
import yaml
from openapi_check import json_schema

DOCUMENT = Path(__file__).resolve().parents[2] / "server_ext" / "jupyter_mlops" / "sidebar" / "openapi.yaml"


@cache
def document() -> dict:
    return yaml.safe_load(DOCUMENT.read_text())


def conforms(method: str, template: str, status: int, body) -> None:
    """Assert the document lists ``status`` for the operation and ``body`` matches its schema."""
    operation = document()["paths"][template][method.lower()]
    assert str(status) in operation["responses"], f"{method} {template} answered {status}, not documented"
    response = operation["responses"][str(status)]
    if "$ref" in response:
        response = document()["components"]["responses"][response["$ref"].rsplit("/", 1)[-1]]
    schema = response.get("content", {}).get("application/json", {}).get("schema")
    if schema is not None:
        root = json_schema({"components": document()["components"], **schema})
        jsonschema.validate(body, root, cls=jsonschema.Draft7Validator)
