"""The REST API's one OpenAPI document: the routes (``routes.json``) with the models' schemas.

``routes.json`` declares the paths, their statuses and the few schemas no
handler validates (details the jobs API reads from Kubernetes); every document
a request or a list carries is a model of ``api`` and appears here through
pydantic's JSON Schema, written in OpenAPI 3.0's dialect (``nullable``).

    python -m mlops_contract.openapi > server_ext/jupyter_mlops/openapi.json

``tests/contract/test_codegen.py`` fails when the committed file is not what this prints.
"""

from __future__ import annotations

import json
import typing
from importlib.resources import files

from pydantic.json_schema import models_json_schema

from . import api

REF = "#/components/schemas/{model}"
ENUMS = {
    "Kind": api.Kind,
    "State": api.State,
    "IfNotFits": api.IfNotFits,
    "Distribution": api.Distribution,
    "Algorithm": api.Algorithm,
}
"""Vocabularies named as components of their own (the sidebar's types use them)."""


def document() -> dict:
    doc = json.loads(files(__package__).joinpath("routes.json").read_text())
    _, generated = models_json_schema([(m, "validation") for m in api.SCHEMAS], ref_template=REF)
    schemas = {name: _openapi30(schema) for name, schema in generated["$defs"].items()}
    schemas.update({name: {"type": "string", "enum": list(typing.get_args(t))} for name, t in ENUMS.items()})
    clash = schemas.keys() & doc["components"]["schemas"].keys()
    assert not clash, f"routes.json declares {sorted(clash)}, which models declare"
    doc["components"]["schemas"] = dict(sorted({**doc["components"]["schemas"], **schemas}.items()))
    return doc


def _openapi30(node):
    """JSON Schema 2020-12 as pydantic writes it -> OpenAPI 3.0: ``nullable``, no ``const``/titles."""
    if isinstance(node, list):
        return [_openapi30(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: _openapi30(v) for k, v in node.items() if k != "title"}
    if "const" in out:
        out["enum"] = [out.pop("const")]
    options = out.get("anyOf")
    if options and {"type": "null"} in options:
        rest = [o for o in options if o != {"type": "null"}]
        del out["anyOf"]
        if len(rest) == 1 and "$ref" not in rest[0]:
            out = {**rest[0], **out}
        elif len(rest) == 1:
            out["allOf"] = rest
        else:
            out["anyOf"] = rest
        out["nullable"] = True
    return out


def main() -> None:
    print(json.dumps(document(), indent=2, ensure_ascii=False))


if __name__ == "__main__":
    main()
