"""Helpers for the OpenAPI tests: build a spec and prove it is a valid OpenAPI 3.1 document."""

from __future__ import annotations

from typing import Any

from openapi_spec_validator import validate

from bastion.dsl import APIExpr
from bastion.openapi import spec

#: The shape tests read the JSON body alone; tests/openapi/test_media.py checks that
#: every codec's media type is listed.
JSON_ONLY = (("application/json", True),)


def checked(api: APIExpr, media_types: Any = JSON_ONLY) -> dict[str, Any]:
    """Return the spec of `api` after validating it with openapi-spec-validator."""
    doc = spec(api, media_types)
    validate(doc)
    return doc


def op(doc: dict[str, Any], verb: str, path: str) -> dict[str, Any]:
    """Return the operation `verb path` of `doc`."""
    operation: dict[str, Any] = doc["paths"][path][verb.lower()]
    return operation


def params(operation: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    """Return an operation's parameters keyed by (in, name)."""
    return {(p["in"], p["name"]): p for p in operation.get("parameters", [])}


def body_schema(operation: dict[str, Any]) -> dict[str, Any]:
    """Return the JSON schema of an operation's request body."""
    schema: dict[str, Any] = operation["requestBody"]["content"]["application/json"]["schema"]
    return schema


def response_schema(operation: dict[str, Any], status: int) -> dict[str, Any]:
    """Return the JSON schema of an operation's response body at `status`."""
    schema: dict[str, Any] = operation["responses"][str(status)]["content"][
        "application/json"
    ]["schema"]
    return schema
