"""OpenAPI 3.1 from a design: the document, JSON Schemas of its types, and a docs page.

    from bastion.openapi import spec, to_json

    doc = spec(api)               # finalizes the design, returns JSON data
    open("openapi.json", "wb").write(to_json(doc))
"""

from bastion.openapi.docs import REDOC_SCRIPT, docs_html
from bastion.openapi.jsonschema import DIALECT, SchemaRegistry, json_schema
from bastion.openapi.output import to_json, to_yaml, write
from bastion.openapi.spec import OPENAPI_VERSION, spec

__all__ = [
    "DIALECT",
    "OPENAPI_VERSION",
    "REDOC_SCRIPT",
    "SchemaRegistry",
    "docs_html",
    "json_schema",
    "spec",
    "to_json",
    "to_yaml",
    "write",
]
