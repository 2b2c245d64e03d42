"""The checks of the gRPC mapping, run by `finalize`: field numbers, messages, metadata.

Every problem is added to the design's list with the user's file:line; `check_grpc` also
fills in, for each gRPC method, which payload attributes travel as metadata (and under
which key) and which the request message carries.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Final

from bastion.dsl._grpc import GRPCExpr, rpc_tag
from bastion.dsl.expr import (
    APIExpr,
    ArrayExpr,
    AttributeExpr,
    DataType,
    MapExpr,
    MethodExpr,
    ObjectExpr,
    Primitive,
    UnionExpr,
    UserTypeExpr,
)

if TYPE_CHECKING:
    from bastion.dsl._problems import Problems as _Problems

__all__ = ["check_grpc"]

# Metadata keys gRPC allows (lower case; "grpc-" keys are the protocol's own).
_METADATA_KEY: Final = re.compile(r"^[0-9a-z_.-]+$")
# Where credentials travel by default: as on HTTP (Authorization, X-API-Key).
_CREDENTIAL_KEYS: Final = {
    "token": "authorization",
    "accesstoken": "authorization",
    "username": "authorization",
    "password": "authorization",
    "apikey": "x-api-key",
}


def check_grpc(api: APIExpr, problems: _Problems) -> None:
    """Check every tag of the design, and every gRPC mapping; fill in where attributes travel."""
    _check_tags(api, problems)
    levels: list[tuple[GRPCExpr | None, str, set[str]]] = [
        (api.grpc, "no method of the API", {e.name for m in api.methods() for e in m.all_errors()})
    ]
    for svc in api.services.values():
        names = {e.name for e in [*api.errors, *svc.errors]}
        names |= {e.name for m in svc.methods.values() for e in m.errors}
        levels.append((svc.grpc, f"no method of service {svc.name!r}", names))
    for level, nobody, declared in levels:
        if level is None:
            continue
        for e in level.errors:
            if e.name not in declared:
                problems.add(e.location, f"GRPC Response maps error {e.name!r}, which {nobody} "
                             "declares")
    for m in api.methods():
        if m.grpc is None:
            if m.stream_kind is not None and m.http is None:
                where = (m.streaming_payload or m.result or m).location
                problems.add(where, f"{m.qualified} streams, and no transport serves it: "
                             "add an HTTP() block (WebSocket, server-sent events) or a "
                             "GRPC() block")
            continue
        _check_method(m, m.grpc, problems)


def _objects(attr: AttributeExpr | None, seen: set[int], out: list[tuple[ObjectExpr, str]],
             owner: str) -> None:
    """Every object reachable from `attr` (user types once), with a name for messages."""
    if attr is None:
        return
    t = attr.type
    if isinstance(t, UserTypeExpr):
        if id(t) in seen:
            return
        seen.add(id(t))
        out.append((t.object, f"type {t.name!r}"))
        for a in t.object.attributes.values():
            _objects(a, seen, out, f"type {t.name!r}")
    elif isinstance(t, ObjectExpr):
        if id(t) in seen:
            return
        seen.add(id(t))
        out.append((t, owner))
        for a in t.attributes.values():
            _objects(a, seen, out, f"{owner}, attribute {a.name!r}")
    elif isinstance(t, ArrayExpr):
        _objects(t.elem, seen, out, owner)
    elif isinstance(t, MapExpr):
        _objects(t.key, seen, out, owner)
        _objects(t.elem, seen, out, owner)


def _check_tags(api: APIExpr, problems: _Problems) -> None:
    # Unique within a type, for every design (issue: tags are kept for gRPC either way).
    seen: set[int] = set()
    objects: list[tuple[ObjectExpr, str]] = []
    for ut in api.types.values():
        _objects(ut.attribute, seen, objects, f"type {ut.name!r}")
    for m in api.methods():
        _objects(m.payload, seen, objects, f"payload of {m.qualified}")
        _objects(m.result, seen, objects, f"result of {m.qualified}")
        _objects(m.streaming_payload, seen, objects, f"streaming payload of {m.qualified}")
        for e in m.all_errors():
            if e.type is not None:
                _objects(AttributeExpr(e.name, e.type, e.location), seen, objects,
                         f"error {e.name!r}")
    for obj, owner in objects:
        by_tag: dict[int, AttributeExpr] = {}
        for a in obj.attributes.values():
            try:
                tag = rpc_tag(a)
            except ValueError as exc:
                problems.add(a.location, f"{owner}: attribute {a.name!r}: {exc}")
                continue
            if tag is None:
                continue
            first = by_tag.setdefault(tag, a)
            if first is not a:
                problems.add(a.location, f"{owner}: field number {tag} of attribute {a.name!r} "
                             f"is already used by attribute {first.name!r} (at "
                             f"{first.location})")


def _split(mapping: str) -> tuple[str, str]:
    attr, _, key = mapping.partition(":")
    return attr.strip(), (key or attr).strip().lower()


def _check_method(m: MethodExpr, g: GRPCExpr, problems: _Problems) -> None:
    declared = {e.name for e in m.all_errors()}
    for e in g.errors:
        if e.name not in declared:
            problems.add(e.location, f"{m.qualified}: GRPC Response maps error {e.name!r}, "
                         f"which the method does not declare (declared: "
                         f"{', '.join(sorted(declared)) or 'none'})")
    # Names from the block forms (`with Message(): Attribute("x")`) join the call forms.
    for fn, holder in g.blocks:
        obj = holder.type
        if isinstance(obj, ObjectExpr):
            target = g.message_names if fn == "Message" else g.metadata_names
            target.extend((n, a.location) for n, a in obj.attributes.items())
    payload = m.payload
    pobj = payload.object if payload is not None else None
    attrs = pobj.attributes if pobj is not None else {}
    in_message = {n for n, _ in g.message_names}
    metadata: dict[str, str] = {}
    if pobj is None:
        if g.metadata_names:
            problems.add(g.metadata_names[0][1], f"{m.qualified}: Metadata needs an object "
                         "payload")
        if len(g.message_names) > 1:
            problems.add(g.message_names[1][1], f"{m.qualified}: the payload is not an object, "
                         "so Message names its one field only")
        if payload is None and g.message_names:
            problems.add(g.message_names[0][1], f"{m.qualified}: Message names attributes but "
                         "the method has no Payload")
    else:
        for name, where in g.message_names:
            if name not in attrs:
                problems.add(where, f"{m.qualified}: Message names {name!r}, which is not a "
                             f"payload attribute (attributes: {', '.join(attrs) or 'none'})")
        for mapping, where in g.metadata_names:
            name, key = _split(mapping)
            if name not in attrs:
                problems.add(where, f"{m.qualified}: Metadata names {name!r}, which is not a "
                             f"payload attribute (attributes: {', '.join(attrs) or 'none'})")
                continue
            if name in in_message:
                problems.add(where, f"{m.qualified}: attribute {name!r} is both in the "
                             "Message and in the Metadata; keep one")
                continue
            metadata[name] = key
        for name, a in attrs.items():
            if a.credential is not None and name not in in_message and name not in metadata:
                metadata[name] = _CREDENTIAL_KEYS[a.credential]
            elif m.streaming_payload is not None and name not in metadata:
                # As Goa: with a client stream, the payload is sent once, as metadata.
                if name in in_message:
                    problems.add(a.location, f"{m.qualified} streams its payload messages, so "
                                 f"its Payload travels as metadata; {name!r} cannot be in a "
                                 "Message")
                metadata[name] = name.lower()
        by_key: dict[str, str] = {}
        for name, key in metadata.items():
            a = attrs[name]
            where = next((w for n, w in g.metadata_names if _split(n)[0] == name), a.location)
            if not _METADATA_KEY.match(key) or key.startswith("grpc-"):
                problems.add(where, f"{m.qualified}: metadata key {key!r} of {name!r} is not a "
                             "gRPC metadata key (lower-case letters, digits, '-', '_', '.'; "
                             "not 'grpc-...')")
            elif key.endswith("-bin") != (_kind(a.type) == "bytes"):
                problems.add(where, f"{m.qualified}: metadata key {key!r} of {name!r}: binary "
                             "values (Bytes) take keys ending in '-bin', and only they do")
            if not _metadata_type(a.type):
                problems.add(where, f"{m.qualified}: attribute {name!r} of type "
                             f"{a.type_name()} cannot travel as metadata: only primitives "
                             "and arrays of primitives can")
            other = by_key.setdefault(key, name)
            if other != name:
                both = {attrs[other].credential, a.credential}
                if not both <= {"token", "accesstoken", "username", "password"}:
                    # Bearer and Basic share Authorization, told apart by its scheme word.
                    where = next((w for n, w in g.metadata_names
                                  if _split(n)[0] in (name, other)), where)
                    problems.add(where, f"{m.qualified}: attributes {other!r} and {name!r} are "
                                 f"both read from metadata key {key!r}; map one elsewhere with "
                                 "Metadata('attr:key')")
    g.metadata = metadata
    g.fields = [n for n in attrs if n not in metadata]

    # Every attribute that goes into a message needs a field number.
    seen: set[int] = set()
    objects: list[tuple[ObjectExpr, str]] = []
    if pobj is not None:
        top = ObjectExpr(attributes={n: attrs[n] for n in g.fields})
        objects.append((top, f"payload of {m.qualified}"))
        for n in g.fields:
            _objects(attrs[n], seen, objects, f"payload of {m.qualified}")
    elif payload is not None:
        _objects(payload, seen, objects, f"payload of {m.qualified}")
    _objects(m.result, seen, objects, f"result of {m.qualified}")
    _objects(m.streaming_payload, seen, objects, f"streaming payload of {m.qualified}")
    for obj, owner in objects:
        for a in obj.attributes.values():
            if isinstance(a.type, UnionExpr):
                # OneOf takes no field number (nor meta), and Bastion maps no protobuf oneof.
                problems.add(a.location, f"{owner}: attribute {a.name!r} is a OneOf union, "
                             f"which gRPC method {m.name!r} cannot carry: no field number can "
                             "be given to it; declare one optional attribute per alternative "
                             "instead, or serve the method over HTTP only")
                continue
            try:
                missing = rpc_tag(a) is None
            except ValueError:
                continue  # reported by _check_tags
            if missing:
                problems.add(a.location, f"{owner}: attribute {a.name!r} has no field number, "
                             f"which gRPC method {m.name!r} needs: declare it with "
                             f"Field(n, {a.name!r}, ...) or meta={{'rpc:tag': n}}")
    for attr, what in ((payload, "payload"), (m.result, "result"),
                       (m.streaming_payload, "streaming payload")):
        bad = _unsupported(attr, set())
        if bad is not None:
            problems.add(bad.location, f"{m.qualified}: {what} attribute {bad.name!r} is "
                         f"{bad.type_name()}, which gRPC cannot carry (no Any; map keys are "
                         "strings or integers; a map's values and an array's items cannot be "
                         "arrays or maps)")


def _kind(t: DataType | None) -> str:
    if isinstance(t, Primitive):
        return t.kind
    return "other"


def _metadata_type(t: DataType | None) -> bool:
    if isinstance(t, Primitive):
        return t.kind != "any"
    if isinstance(t, ArrayExpr):
        return isinstance(t.elem.type, Primitive) and t.elem.type.kind not in ("any", "bytes")
    return False


def _unsupported(attr: AttributeExpr | None, seen: set[int]) -> AttributeExpr | None:
    """The first attribute under `attr` protobuf cannot represent, if any."""
    if attr is None:
        return None
    t = attr.type
    if isinstance(t, Primitive):
        return attr if t.kind == "any" else None
    if isinstance(t, ArrayExpr):
        if isinstance(t.elem.type, ArrayExpr | MapExpr):
            return attr
        return _unsupported(t.elem, seen)
    if isinstance(t, MapExpr):
        key = t.key.type
        if not isinstance(key, Primitive) or key.kind not in ("string", "integer", "boolean"):
            return attr
        if isinstance(t.elem.type, ArrayExpr | MapExpr):
            return attr
        return _unsupported(t.elem, seen)
    obj = attr.object
    if obj is None or id(obj) in seen:
        return None
    seen.add(id(obj))
    for a in obj.attributes.values():
        found = _unsupported(a, seen)
        if found is not None:
            return found
    return None
