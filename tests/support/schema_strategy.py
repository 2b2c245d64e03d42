"""Hypothesis strategies for the JSON Schema subset Bastion's OpenAPI documents use.

Generates instances of a (ref-free) schema: objects with required and optional
properties, maps (`additionalProperties`), arrays, strings with lengths, patterns and
formats, bounded numbers and integers, enums, `anyOf`. Every value it draws is meant to be
valid; the tests check that with `jsonschema` too, so a bug here cannot pass silently.
"""

from __future__ import annotations

import datetime
from typing import Any

from hypothesis import strategies as st

_UTC = datetime.UTC
_OFFSETS = st.sampled_from([_UTC, datetime.timezone(datetime.timedelta(hours=5, minutes=30)),
                            datetime.timezone(datetime.timedelta(hours=-8))])

_FORMATS: dict[str, st.SearchStrategy[str]] = {
    "uuid": st.uuids().map(str),
    "email": st.emails(),
    "date": st.dates().map(lambda d: d.isoformat()),
    "date-time": st.datetimes(timezones=_OFFSETS).map(lambda d: d.isoformat()),
    "uri": st.from_regex(r"\Ahttps?://[a-z]{1,10}\.(com|org)(/[a-z0-9]{0,8}){0,3}\Z"),
    "ipv4": st.ip_addresses(v=4).map(str),
    "ipv6": st.ip_addresses(v=6).map(str),
    "hostname": st.from_regex(r"\A[a-z0-9]{1,10}(\.[a-z0-9]{1,10}){0,3}\Z"),
}


def from_schema(schema: Any) -> st.SearchStrategy[Any]:
    """A strategy drawing JSON values valid against `schema`."""
    if schema is True or schema == {}:
        return st.recursive(
            st.none() | st.booleans() | st.integers() | st.text(max_size=5),
            lambda inner: st.lists(inner, max_size=3)
            | st.dictionaries(st.text(max_size=3), inner, max_size=3),
            max_leaves=5,
        )
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    if "anyOf" in schema and "type" not in schema:
        # `false` (a branch cut off where recursion was unrolled) draws nothing.
        return st.one_of([from_schema(s) for s in schema["anyOf"] if s is not False])
    kind = schema.get("type")
    if isinstance(kind, list):  # ["string", "null"]: an optional, nullable property
        return st.one_of([st.none() if k == "null" else from_schema({**schema, "type": k})
                          for k in kind])
    if kind == "null":
        return st.none()
    if kind == "object":
        return _object(schema)
    if kind == "array":
        return st.lists(from_schema(schema.get("items", {})),
                        min_size=schema.get("minItems", 0),
                        max_size=min(schema.get("maxItems", 4), 4))
    if kind == "string":
        return _string(schema)
    if kind == "integer":
        return st.integers(min_value=_int_low(schema), max_value=_int_high(schema))
    if kind == "number":
        low = schema.get("minimum", schema.get("exclusiveMinimum"))
        high = schema.get("maximum", schema.get("exclusiveMaximum"))
        return st.floats(min_value=low, max_value=high, allow_nan=False, allow_infinity=False,
                         exclude_min="exclusiveMinimum" in schema,
                         exclude_max="exclusiveMaximum" in schema)
    if kind == "boolean":
        return st.booleans()
    raise NotImplementedError(f"schema not supported by the test strategy: {schema}")


def _int_low(schema: dict[str, Any]) -> int | None:
    if "exclusiveMinimum" in schema:
        return int(schema["exclusiveMinimum"]) + 1
    return schema.get("minimum")


def _int_high(schema: dict[str, Any]) -> int | None:
    if "exclusiveMaximum" in schema:
        return int(schema["exclusiveMaximum"]) - 1
    return schema.get("maximum")


def _string(schema: dict[str, Any]) -> st.SearchStrategy[str]:
    fmt = schema.get("format")
    if fmt in _FORMATS:
        return _FORMATS[fmt]
    if "pattern" in schema:
        return st.from_regex(schema["pattern"], fullmatch=True)
    return st.text(min_size=schema.get("minLength", 0),
                   max_size=min(schema.get("maxLength", 20), 20))


def _object(schema: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    props: dict[str, Any] = {k: v for k, v in schema.get("properties", {}).items()
                             if v is not False}
    extra = schema.get("additionalProperties")
    if not props and isinstance(extra, dict):
        return st.dictionaries(st.text(min_size=1, max_size=8), from_schema(extra),
                               max_size=min(schema.get("maxProperties", 3), 3))
    required = [k for k in schema.get("required", []) if k in props]
    optional = {k: from_schema(v) for k, v in props.items() if k not in required}
    return st.fixed_dictionaries({k: from_schema(props[k]) for k in required},
                                 optional=optional)
