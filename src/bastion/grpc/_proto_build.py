"""From a design to its protobuf model: which files, messages, fields, enums and rpcs.

`proto_files(api)` walks a finalized design's gRPC methods and builds the `ProtoFile`s
of `bastion.grpc._proto` (read there for the naming and type rules), failing with a
`DesignError` for what protobuf cannot name.
"""

from __future__ import annotations

import re
from typing import Any

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
    ServiceExpr,
    UserTypeExpr,
)
from bastion.errors import DesignError
from bastion.grpc._proto import (
    _SCALARS,
    TIMESTAMP,
    ProtoEnum,
    ProtoField,
    ProtoFile,
    ProtoMessage,
    ProtoRPC,
    camel,
    snake,
)

__all__ = ["proto_files"]


def proto_files(api: APIExpr) -> list[ProtoFile]:
    """The `.proto` files of a finalized design: one per service with gRPC methods.

    Raises `DesignError` for what protobuf cannot name: enum values that make the same
    constant, attributes that make the same field name.
    """
    api.finalize()
    files = []
    for svc in api.services.values():
        methods = [m for m in svc.methods.values() if m.grpc is not None]
        if methods:
            files.append(_Builder(svc, methods).build())
    return files


class _Builder:
    def __init__(self, svc: ServiceExpr, methods: list[MethodExpr]) -> None:
        g: GRPCExpr | None = svc.grpc
        self.svc = svc
        self.methods = methods
        self.package = g.package if g is not None and g.package else snake(svc.name)
        self.file = ProtoFile(svc, self.package, camel(svc.name))
        self.names: set[str] = set()
        self.by_key: dict[int, ProtoMessage] = {}  # id(UserTypeExpr | ObjectExpr) -> message

    def build(self) -> ProtoFile:
        # The rpc messages' names are reserved first: a type named alike gets another.
        plan = []
        for m in self.methods:
            rpc_name = camel(m.name)
            names = [rpc_name + "Request", rpc_name + "Response"]
            if m.streaming_payload is not None:
                names.append(rpc_name + "StreamingRequest")
            for n in names:
                self._reserve(n, m)
            plan.append((m, rpc_name, names))
        for m, rpc_name, names in plan:
            g: GRPCExpr = m.grpc
            request = self._new(names[0], m.description or "")
            streaming = m.streaming_payload is not None
            if m.payload is not None and not streaming:
                self._fill_request(request, m, g)
            response = self._new(names[1], "")
            if m.result is not None:
                self._fill_wrapped(response, m.result, "field")
            rpc = ProtoRPC(rpc_name, m, request, response,
                           client_streaming=streaming, server_streaming=m.streaming_result)
            if m.streaming_payload is not None:
                stream = self._new(names[2], "")
                self._fill_wrapped(stream, m.streaming_payload, "field")
                rpc.streaming_request = stream
                self.file.messages.remove(request)  # the payload travels as metadata
            self.file.rpcs.append(rpc)
        # Goa's order: the rpc messages, then the types they use.
        rpc_msgs = []
        for rpc in self.file.rpcs:
            rpc_msgs += [rpc.stream_request, rpc.response]
        others = [msg for msg in self.file.messages if msg not in rpc_msgs]
        self.file.messages = rpc_msgs + others
        return self.file

    def _reserve(self, name: str, m: MethodExpr) -> None:
        if name in self.names:
            raise DesignError(f"{m.location}: {m.qualified}: its gRPC message {name} clashes "
                              "with another method's; rename one of them")
        self.names.add(name)

    def _unique(self, base: str) -> str:
        name, n = base, 2
        while name in self.names:
            name, n = f"{base}{n}", n + 1
        self.names.add(name)
        return name

    def _new(self, name: str, description: str) -> ProtoMessage:
        msg = ProtoMessage(name, description=description, package=self.package)
        self.file.messages.append(msg)
        return msg

    def _fill_request(self, msg: ProtoMessage, m: MethodExpr, g: GRPCExpr) -> None:
        payload = m.payload
        if payload is None:
            return
        obj = payload.object
        if obj is None:
            names = [n for n, _ in g.message_names]
            self._fill_wrapped(msg, payload, names[0] if names else "field")
            return
        self._fill_object(msg, obj, only=g.fields)

    def _fill_wrapped(self, msg: ProtoMessage, attr: AttributeExpr, name: str) -> None:
        obj = attr.object
        if obj is not None:
            self._fill_object(msg, obj, None)
            if isinstance(attr.type, UserTypeExpr) and not msg.description:
                msg.description = attr.type.attribute.description or ""
            return
        # A primitive, array or map result: one field, number 1, required (Goa's rule).
        inner = AttributeExpr(name=name, type=attr.type, location=attr.location,
                              format=attr.format, enum=attr.enum)
        self._add_field(msg, name, inner, 1, required=True)
        msg.wrapper = True

    def _fill_object(self, msg: ProtoMessage, obj: ObjectExpr, only: list[str] | None) -> None:
        for attr_name, attr in obj.attributes.items():
            if only is not None and attr_name not in only:
                continue
            tag = rpc_tag(attr)
            if tag is None:  # pragma: no cover - finalize requires one
                raise DesignError(f"{attr.location}: attribute {attr_name!r} has no field number")
            self._add_field(msg, attr_name, attr, tag, required=attr_name in obj.required)

    def _add_field(self, msg: ProtoMessage, attr_name: str, attr: AttributeExpr, number: int,
                   *, required: bool) -> None:
        name = snake(attr_name)
        for f in msg.fields:
            if f.name == name:
                raise DesignError(f"{attr.location}: attributes {f.attr.name!r} and "
                                  f"{attr_name!r} make the same protobuf field name {name!r} "
                                  f"in message {msg.name}; rename one")
        t = attr.type
        if isinstance(t, ArrayExpr):
            f = self._value(msg, name, t.elem)
            f.label = "repeated"
        elif isinstance(t, MapExpr):
            f = self._value(msg, name, t.elem)
            key = t.key.type
            f.label = "map"
            f.key_type = _scalar(key) if isinstance(key, Primitive) else "string"
            f.key_attr = t.key
        else:
            f = self._value(msg, name, attr)
            if not required and f.kind in ("scalar", "enum"):
                f.label = "optional"
        f.number, f.attr = number, attr
        msg.fields.append(f)

    def _value(self, msg: ProtoMessage, name: str, attr: AttributeExpr) -> ProtoField:
        """A field describing one value of `attr` (its label is set by the caller)."""
        t = attr.type
        if isinstance(t, Primitive):
            if t.kind == "string" and attr.format == "date-time":
                self.file.uses_timestamp = True
                return ProtoField(name, 0, attr, "timestamp", TIMESTAMP)
            if t.kind == "string" and attr.enum:
                enum = self._enum(msg, name, attr)
                return ProtoField(name, 0, attr, "enum", enum.name, enum=enum)
            return ProtoField(name, 0, attr, "scalar", _scalar(t))
        sub = self._message_of(t, msg.name + camel(name))
        return ProtoField(name, 0, attr, "message", sub.full_name, message=sub)

    def _message_of(self, t: DataType | None, hint: str) -> ProtoMessage:
        if isinstance(t, UserTypeExpr):
            key, base, obj, desc = id(t), camel(t.name), t.object, t.attribute.description
        elif isinstance(t, ObjectExpr):
            key, base, obj, desc = id(t), hint, t, None
        else:  # pragma: no cover - finalize refuses nested arrays and maps
            raise DesignError(f"a gRPC message cannot hold {t!r} here")
        found = self.by_key.get(key)
        if found is not None:
            return found
        msg = self._new(self._unique(base), desc or "")
        self.by_key[key] = msg  # before its fields: recursive types refer to themselves
        self._fill_object(msg, obj, None)
        return msg

    def _enum(self, msg: ProtoMessage, name: str, attr: AttributeExpr) -> ProtoEnum:
        enum_name = camel(name)
        prefix = snake(name).upper()
        constants = [(f"{prefix}_UNSPECIFIED", 0)]
        values: dict[str, int] = {}
        seen = {constants[0][0]: "(unspecified)"}
        for i, value in enumerate(attr.enum or (), start=1):
            ident = f"{prefix}_{re.sub(r'[^A-Za-z0-9]+', '_', str(value)).strip('_').upper()}"
            if ident in seen or ident.endswith("_"):
                raise DesignError(f"{attr.location}: enum values {seen.get(ident)!r} and "
                                  f"{value!r} of attribute {attr.name!r} make the same protobuf "
                                  f"constant {ident}; use values that differ in letters or "
                                  "digits")
            seen[ident] = str(value)
            constants.append((ident, i))
            values[str(value)] = i
        enum = ProtoEnum(self._unique_enum(msg, enum_name), constants, values)
        msg.enums.append(enum)
        return enum

    @staticmethod
    def _unique_enum(msg: ProtoMessage, base: str) -> str:
        taken = {e.name for e in msg.enums}
        name, n = base, 2
        while name in taken:
            name, n = f"{base}{n}", n + 1
        return name


def _scalar(t: Primitive | Any) -> str:
    name = getattr(t, "name", "")
    if name in _SCALARS:
        return _SCALARS[name]
    kind = getattr(t, "kind", "")
    # A primitive of another name (a named primitive type): by its kind and bounds.
    if kind == "integer":
        low = getattr(t, "low", None)
        high = getattr(t, "high", None) or 0
        if low is not None and low >= 0:
            return "uint32" if high <= 2**32 - 1 else "uint64"
        return "sint32" if high <= 2**31 - 1 and (low or 0) >= -(2**31) else "sint64"
    return {"boolean": "bool", "number": "double", "string": "string",
            "bytes": "bytes"}.get(kind, "string")
