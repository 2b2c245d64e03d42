"""OpenAPI 3.1 from a design: the document, JSON Schemas of its types, and its docs page.

    from bastion.openapi import spec, to_json

    doc = spec(api)               # finalizes the design, returns JSON data
    open("openapi.json", "wb").write(to_json(doc))
"""

from bastion.openapi.docs import SWAGGER_UI_VERSION, DocsPage, docs_html
from bastion.openapi.jsonschema import DIALECT, SchemaRegistry, json_schema
from bastion.openapi.output import to_json, to_yaml, write
from bastion.openapi.spec import OPENAPI_VERSION, spec

__all__ = [
    "DIALECT",
    "OPENAPI_VERSION",
    "SWAGGER_UI_VERSION",
    "DocsPage",
    "SchemaRegistry",
    "docs_html",
    "json_schema",
    "spec",
    "to_json",
    "to_yaml",
    "write",
]
