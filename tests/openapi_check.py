"""Hold REST responses to server_ext/jupyter_mlops/openapi.json (OpenAPI 3.0 -> JSON Schema)."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import jsonschema

OPENAPI = Path(__file__).resolve().parent.parent / "server_ext" / "jupyter_mlops" / "openapi.json"


def json_schema(node):
    """OpenAPI 3.0's ``nullable`` becomes a JSON Schema type union; the rest is the same."""
    if isinstance(node, list):
        return [json_schema(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: json_schema(v) for k, v in node.items() if k != "nullable"}
    if node.get("nullable"):
        if "type" in out:
            out["type"] = [out["type"], "null"]
        else:
            out = {"anyOf": [out, {"type": "null"}]}
    return out


@cache
def document() -> dict:
    return json.loads(OPENAPI.read_text())


def _resolve(node: dict) -> dict:
    while "$ref" in node:
        target = document()
        for key in node["$ref"].lstrip("#/").split("/"):
            target = target[key]
        node = target
    return node


def check(method: str, template: str, status: int, body) -> None:
    """Assert ``body`` (parsed JSON) is what the document promises for this operation and status."""
    operation = document()["paths"][template][method.lower()]
    assert str(status) in operation["responses"], (
        f"{method} {template} answered {status}, which the document does not list"
    )
    response = _resolve(operation["responses"][str(status)])
    schema = response.get("content", {}).get("application/json", {}).get("schema")
    if schema is None:
        return
    root = json_schema({"components": document()["components"], **schema})
    jsonschema.validate(body, root, cls=jsonschema.Draft7Validator)


def json_schema_of(component: str) -> dict:
    """A component schema (e.g. ``WatchEvent``) as a self-contained JSON Schema."""
    return json_schema({"components": document()["components"], "$ref": f"#/components/schemas/{component}"})
