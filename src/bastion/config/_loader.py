"""Load a `Config` from an environment, reporting every bad variable at once; describe it."""

from __future__ import annotations

import json
import os
import sys
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, TypeVar, Union, get_args, get_origin
from urllib.parse import urlsplit, urlunsplit

from pydantic import BaseModel, SecretBytes, SecretStr, ValidationError
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from bastion.config._settings import Config
from bastion.config._units import _Kind, format_byte_size, format_duration
from bastion.errors import ConfigError

__all__ = ["describe", "env_name", "load"]

C = TypeVar("C", bound=Config)
# Problems by field name ("" for the whole config): (where, message) pairs.
_Problems = dict[str, list[tuple[str, str]]]

_MASK = "********"


def load(cls: type[C] = Config, env: Mapping[str, str] | None = None) -> C:  # type: ignore[assignment]
    """Return `cls` filled from `env` (default `os.environ`).

    Raises `ConfigError` whose `problems` name every missing or invalid variable, what it
    holds (masked when secret) and what was expected, in declaration order.
    """
    data, problems = _read(cls, os.environ if env is None else env)
    try:
        config = cls.model_validate(data)
    except ValidationError as exc:
        _collect(cls, exc, data, problems)
        raise ConfigError(_flatten(cls, problems)) from None
    if problems:
        raise ConfigError(_flatten(cls, problems))
    return config


def load_or_exit(cls: type[C] = Config, env: Mapping[str, str] | None = None) -> C:  # type: ignore[assignment]
    """`load`, for a program's entry point: on a bad environment print every problem to
    stderr, without a traceback, and exit with status 2."""
    try:
        return load(cls, env)
    except ConfigError as exc:
        sys.stderr.write(f"{exc}\n")
        sys.stderr.flush()
        raise SystemExit(2) from None


def describe(cls: type[Config] = Config, env: Mapping[str, str] | None = None) -> str:
    """Return a table of every variable of `cls`: its default, current value and meaning.

    Values typed `Secret` are masked (by type: a name says nothing), and so is the password
    of a URL; an invalid or missing variable says why in its value column.
    """
    environ = os.environ if env is None else env
    data, problems = _read(cls, environ)
    config: Config | None = None
    try:
        config = cls.model_validate(data)
    except ValidationError as exc:
        _collect(cls, exc, data, problems)
    rows = [("VARIABLE", "DEFAULT", "VALUE", "DESCRIPTION")]
    for name, field in cls.model_fields.items():
        key = field.alias or name
        description = field.description or ""
        if problems.get(name):
            value = _show_raw(field, data.get(key))
            description = "INVALID: " + "; ".join(msg for _, msg in problems[name])
        elif config is not None:
            value = _show(field, getattr(config, name))
        elif key in data:
            value = _show_raw(field, data[key])
        else:
            value = _show_default(field)
        rows.append((env_name(cls, name, field), _show_default(field), value, description))
    lines = _table(rows)
    for _, message in problems.get("", []):
        lines.append(f"INVALID: {message}")
    return "\n".join(lines) + "\n"


def env_name(cls: type[BaseModel], name: str, field: FieldInfo) -> str:
    """Return the environment variable that fills field `name` of `cls`."""
    alias = field.validation_alias if isinstance(field.validation_alias, str) else field.alias
    if alias:
        return alias.upper()
    prefix = str(cls.model_config.get("env_prefix", "") or "")
    return (prefix + name).upper()


def _read(cls: type[Config], env: Mapping[str, str]) -> tuple[dict[str, Any], _Problems]:
    case_sensitive = bool(cls.model_config.get("case_sensitive", False))
    lookup = env if case_sensitive else {k.upper(): v for k, v in env.items()}
    data: dict[str, Any] = {}
    problems: _Problems = {}
    for name, field in cls.model_fields.items():
        var = env_name(cls, name, field)
        raw = lookup.get(var if case_sensitive else var.upper())
        if raw is None:
            continue
        if _is_complex(field.annotation):
            try:
                data[field.alias or name] = json.loads(raw)
            except ValueError:
                problems.setdefault(name, []).append((var, f"expected {_expected(field)}"))
            continue
        data[field.alias or name] = raw
    return data, problems


def _collect(
    cls: type[Config], exc: ValidationError, data: Mapping[str, Any], problems: _Problems
) -> None:
    by_alias = {(f.alias or n): n for n, f in cls.model_fields.items()}
    for err in exc.errors(include_url=False):
        loc = err["loc"]
        name = by_alias.get(str(loc[0]), str(loc[0])) if loc else ""
        if name in problems and err["type"] == "missing":
            continue  # the field's raw value was already reported as unreadable
        message = str(err["msg"]).removeprefix("Value error, ")
        if name not in cls.model_fields:
            problems.setdefault("", []).append(("", message))
            continue
        field = cls.model_fields[name]
        var = env_name(cls, name, field)
        if err["type"] == "missing":
            problem = (var, f"required but not set; expected {_expected(field)}")
        elif err["type"] == "value_error":
            problem = (var, message)  # our validators name the value and the expected form
        else:
            problem = (f"{var}={_show_raw(field, data.get(field.alias or name))!r}", message)
        if problem not in problems.get(name, []):
            problems.setdefault(name, []).append(problem)


def _flatten(cls: type[Config], problems: _Problems) -> list[str]:
    names = [*cls.model_fields, ""]
    pairs = [pair for name in names for pair in problems.get(name, [])]
    return [f"{where}: {msg}" if where else msg for where, msg in pairs]


def _strip_optional(annotation: Any) -> Any:
    if get_origin(annotation) in (Union, types.UnionType):
        args = [a for a in get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return _strip_optional(args[0])
    if get_origin(annotation) is typing.Annotated:
        return _strip_optional(get_args(annotation)[0])
    return annotation


def _is_complex(annotation: Any) -> bool:
    inner = _strip_optional(annotation)
    if get_origin(inner) in (list, dict, set, tuple, frozenset):
        return True
    return isinstance(inner, type) and issubclass(inner, BaseModel)


def _kind(field: FieldInfo) -> _Kind | None:
    for item in field.metadata:
        if isinstance(item, _Kind):
            return item
    return None


def _expected(field: FieldInfo) -> str:
    kind = _kind(field)
    if kind is not None:
        return kind.hint
    inner = _strip_optional(field.annotation)
    if get_origin(inner) is Literal:
        return "one of " + ", ".join(str(a) for a in get_args(inner))
    names: dict[Any, str] = {
        str: "a string",
        SecretStr: "a secret string",
        int: "an integer",
        float: "a number",
        bool: "true or false",
        Path: "a file path",
    }
    if inner in names:
        return names[inner]
    if _is_complex(inner):
        return f"JSON {getattr(inner, '__name__', 'value')}"
    return getattr(inner, "__name__", str(inner))


def _is_secret(field: FieldInfo) -> bool:
    # By type, never by name: a name is a guess (AUTH_FAILURES_PER_CREDENTIAL holds a
    # rate, not a credential), and a field typed `Secret` says what it holds.
    return _holds_secret(field.annotation)


def _holds_secret(annotation: Any) -> bool:
    # `Secret | None`, `Annotated[Secret, ...]`, `list[Secret]`: a secret anywhere inside
    # the type masks the whole value, which the table shows in one cell.
    if isinstance(annotation, type) and issubclass(annotation, SecretStr | SecretBytes):
        return True
    return any(_holds_secret(arg) for arg in get_args(annotation))


def _show(field: FieldInfo, value: Any) -> str:
    if value is None:
        return ""
    if _is_secret(field):
        return _MASK if _secret_text(value) else ""
    kind = _kind(field)
    if kind is not None and kind.name == "duration":
        return format_duration(float(value))
    if kind is not None and kind.name == "size":
        return format_byte_size(int(value))
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, BaseModel):
        return value.model_dump_json()
    if isinstance(value, list | dict | set | tuple | frozenset):
        return json.dumps(value, default=str)
    return _mask_url(str(value))


def _show_raw(field: FieldInfo, raw: Any) -> str:
    if raw is None:
        return ""
    if _is_secret(field):
        return _MASK if raw else ""
    if isinstance(raw, str):
        return _mask_url(raw)
    return _mask_url(json.dumps(raw, default=str))


def _show_default(field: FieldInfo) -> str:
    if field.is_required():
        return "(required)"
    default = field.get_default(call_default_factory=True)
    if default is PydanticUndefined:
        return ""
    return _show(field, default)


def _secret_text(value: Any) -> str:
    return value.get_secret_value() if isinstance(value, SecretStr) else str(value)


def _mask_url(text: str) -> str:
    # A DSN such as postgres://app:pw@db/app carries its password; show the rest.
    if "://" not in text or "@" not in text:
        return text
    try:
        parts = urlsplit(text)
        password = parts.password
    except ValueError:
        return text
    if not password:
        return text
    userinfo, _, hostinfo = parts.netloc.rpartition("@")
    user = userinfo.split(":", 1)[0]
    return urlunsplit(parts._replace(netloc=f"{user}:{_MASK}@{hostinfo}"))


def _table(rows: list[tuple[str, str, str, str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return [
        "  ".join(cell.ljust(widths[i]) for i, cell in enumerate(row[:3])) + "  " + row[3]
        for row in rows
    ]
