"""The protobuf contract of a design: one model, written as `.proto` text and as descriptors.

`proto_files(api)` (`_proto_build`) computes, for each service with gRPC methods, the
file Goa would write: its package (the service name in snake_case, or `Package(...)`),
its service and rpcs (`rpc Show (ShowRequest) returns (ShowResponse)`, `stream` where the design
streams), and its messages — `<Method>Request` (the payload less what travels as
metadata), `<Method>Response` (the result), `<Method>StreamingRequest`, and one message
per user type or inline object they use. Field numbers are the design's tags.

Types: Boolean `bool`; Int, Int64 `sint64`; Int32 `sint32`; UInt, UInt64 `uint64`;
UInt32 `uint32`; Float32 `float`; Float64 `double`; String `string`; Bytes `bytes`;
strings of format date-time `google.protobuf.Timestamp`; a string attribute with an
`enum` a protobuf enum (its zero value `*_UNSPECIFIED` meaning "not set"); ArrayOf
`repeated`; MapOf `map<K, V>`; attributes that are not required and not messages are
`optional`, so absence is seen. A non-object payload or result is wrapped in a message
with one field, `field = 1`, as Goa does.

`ProtoFile.text()` is what `bastion gen proto` writes; `ProtoFile.descriptor()` is the
`FileDescriptorProto` the server serves and reflection shows: both come from this one
model, and a test compiles the text with grpcio-tools to check they are the same.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final, Literal

from google.protobuf import descriptor_pb2

from bastion.dsl.expr import (
    AttributeExpr,
    MethodExpr,
    ServiceExpr,
)

__all__ = [
    "TIMESTAMP",
    "ProtoEnum",
    "ProtoField",
    "ProtoFile",
    "ProtoMessage",
    "ProtoRPC",
    "camel",
    "snake",
]

#: The well-known type date-time strings travel as.
TIMESTAMP: Final = "google.protobuf.Timestamp"
_TIMESTAMP_FILE: Final = "google/protobuf/timestamp.proto"

_SCALARS: Final = {
    "Boolean": "bool",
    "Int": "sint64",
    "Int64": "sint64",
    "Int32": "sint32",
    "UInt": "uint64",
    "UInt64": "uint64",
    "UInt32": "uint32",
    "Float32": "float",
    "Float64": "double",
    "String": "string",
    "Bytes": "bytes",
}
_FDP = descriptor_pb2.FieldDescriptorProto
_TYPES: Final = {
    "bool": _FDP.TYPE_BOOL,
    "sint64": _FDP.TYPE_SINT64,
    "sint32": _FDP.TYPE_SINT32,
    "uint64": _FDP.TYPE_UINT64,
    "uint32": _FDP.TYPE_UINT32,
    "float": _FDP.TYPE_FLOAT,
    "double": _FDP.TYPE_DOUBLE,
    "string": _FDP.TYPE_STRING,
    "bytes": _FDP.TYPE_BYTES,
}
# Identifiers that would not compile as protobuf field names (keywords of the language).
_RESERVED_WORDS: Final = frozenset({"syntax", "import", "package", "option", "message",
                                    "enum", "service", "rpc", "returns", "stream", "map",
                                    "reserved", "oneof", "repeated", "optional", "required"})


def snake(name: str) -> str:
    """`createdAt`, `created-at`, `CreatedAt` -> `created_at`: a protobuf field name."""
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name)
    s = re.sub(r"[^A-Za-z0-9]+", "_", s).strip("_").lower()
    if not s or s[0].isdigit():
        s = "f_" + s
    return s + "_" if s in _RESERVED_WORDS else s


def camel(name: str) -> str:
    """`create_order`, `create-order`, `createOrder` -> `CreateOrder`: a message or rpc name."""
    parts = re.split(r"[^A-Za-z0-9]+", re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", name))
    s = "".join(p[:1].upper() + p[1:] for p in parts if p)
    if not s or s[0].isdigit():
        s = "M" + s
    return s


@dataclass(eq=False)
class ProtoEnum:
    """A string enum as a protobuf enum: `values` maps each design value to its number."""

    name: str  # relative to its message
    constants: list[tuple[str, int]]  # (IDENTIFIER, number), the zero one first
    values: dict[str, int]  # design value -> number


@dataclass(eq=False)
class ProtoField:
    """One field of a message, and the design attribute it carries."""

    name: str
    number: int
    attr: AttributeExpr
    #: scalar (a protobuf type name), message, enum or timestamp: what one value is.
    kind: Literal["scalar", "message", "enum", "timestamp"]
    type_name: str  # the scalar, or the message's / enum's name (full for messages)
    label: Literal["optional", "repeated", "map", ""] = ""
    #: For maps: the key's scalar type; values are described by kind and type_name.
    key_type: str = ""
    key_attr: AttributeExpr | None = None
    message: ProtoMessage | None = None  # the value's message, for kind "message"
    enum: ProtoEnum | None = None


@dataclass(eq=False)
class ProtoMessage:
    """A message: its fields in design order, and the enums nested in it."""

    name: str
    fields: list[ProtoField] = field(default_factory=list)
    enums: list[ProtoEnum] = field(default_factory=list)
    description: str = ""
    package: str = ""
    #: A non-object payload or result, carried by the message's one field.
    wrapper: bool = False

    @property
    def full_name(self) -> str:
        """`orders.ShowRequest`."""
        return f"{self.package}.{self.name}" if self.package else self.name

    def by_attribute(self) -> dict[str, ProtoField]:
        """The fields, by the name of the attribute each carries."""
        return {f.attr.name: f for f in self.fields}


@dataclass(eq=False)
class ProtoRPC:
    """One rpc of a service: its method and its messages."""

    name: str
    method: MethodExpr
    request: ProtoMessage
    response: ProtoMessage
    client_streaming: bool = False
    server_streaming: bool = False
    #: The message of the request stream; `request` then carries nothing (Goa's rule).
    streaming_request: ProtoMessage | None = None

    @property
    def stream_request(self) -> ProtoMessage:
        """The message the client sends (each of them, for a client stream)."""
        return self.streaming_request or self.request


@dataclass(eq=False)
class ProtoFile:
    """One `.proto` file: a service of the design, its package, rpcs and messages."""

    service: ServiceExpr
    package: str
    name: str  # the service's protobuf name
    rpcs: list[ProtoRPC] = field(default_factory=list)
    messages: list[ProtoMessage] = field(default_factory=list)
    uses_timestamp: bool = False

    @property
    def filename(self) -> str:
        """The file's name, as protoc and reflection know it: `orders.proto`."""
        return self.package.replace(".", "/") + ".proto" if "." in self.package else (
            f"{self.package}.proto")

    @property
    def full_service_name(self) -> str:
        """`orders.Orders`: how clients name the service on the wire."""
        return f"{self.package}.{self.name}"

    # -- the two renderings of one model -------------------------------------------

    def text(self) -> str:
        """The file as `.proto` source (proto3)."""
        out = [
            "// Code generated by bastion gen proto from the design; DO NOT EDIT.",
            "",
            'syntax = "proto3";',
            "",
            f"package {self.package};",
        ]
        if self.uses_timestamp:
            out += ["", f'import "{_TIMESTAMP_FILE}";']
        out.append("")
        out += _comment(self.service.description or f"{self.name} is the {self.service.name} "
                        "service.", "")
        out.append(f"service {self.name} {{")
        for rpc in self.rpcs:
            out += _comment(rpc.method.description or "", "  ")
            req = ("stream " if rpc.client_streaming else "") + rpc.stream_request.name
            res = ("stream " if rpc.server_streaming else "") + rpc.response.name
            out.append(f"  rpc {rpc.name} ({req}) returns ({res});")
        out.append("}")
        for msg in self.messages:
            out.append("")
            out += _comment(msg.description, "")
            out.append(f"message {msg.name} {{")
            for enum in msg.enums:
                out.append(f"  enum {enum.name} {{")
                out += [f"    {ident} = {n};" for ident, n in enum.constants]
                out.append("  }")
            for f in msg.fields:
                out += _comment(f.attr.description or "", "  ")
                out.append(f"  {_field_text(f, self.package)} {f.name} = {f.number};")
            out.append("}")
        return "\n".join(out) + "\n"

    def descriptor(self) -> descriptor_pb2.FileDescriptorProto:
        """The file as a `FileDescriptorProto`, as protoc would compile `text()`."""
        fd = descriptor_pb2.FileDescriptorProto(name=self.filename, package=self.package,
                                                syntax="proto3")
        if self.uses_timestamp:
            fd.dependency.append(_TIMESTAMP_FILE)
        svc = fd.service.add(name=self.name)
        for rpc in self.rpcs:
            m = svc.method.add(name=rpc.name,
                               input_type="." + rpc.stream_request.full_name,
                               output_type="." + rpc.response.full_name)
            if rpc.client_streaming:
                m.client_streaming = True
            if rpc.server_streaming:
                m.server_streaming = True
        for msg in self.messages:
            _message_descriptor(fd.message_type.add(), msg)
        return fd


def _comment(text: str, indent: str) -> list[str]:
    return [f"{indent}// {line}".rstrip() for line in text.strip().splitlines()] if text else []


def _value_type(f: ProtoField, package: str) -> str:
    if f.kind == "message":
        return f.type_name[len(package) + 1:] if f.type_name.startswith(package + ".") else (
            f.type_name)
    return f.type_name


def _field_text(f: ProtoField, package: str) -> str:
    value = _value_type(f, package)
    if f.label == "map":
        return f"map<{f.key_type}, {value}>"
    return f"{f.label} {value}" if f.label else value


def _message_descriptor(out: descriptor_pb2.DescriptorProto, msg: ProtoMessage) -> None:
    out.name = msg.name
    for enum in msg.enums:
        e = out.enum_type.add(name=enum.name)
        for ident, n in enum.constants:
            e.value.add(name=ident, number=n)
    synthetic: list[str] = []
    for f in msg.fields:
        fdp = out.field.add(name=f.name, number=f.number, json_name=_json_name(f.name))
        if f.label == "map":
            entry = out.nested_type.add(name=camel(f.name) + "Entry")
            entry.options.map_entry = True
            entry.field.add(name="key", number=1, label=_FDP.LABEL_OPTIONAL,
                            type=_TYPES[f.key_type], json_name="key")
            value = entry.field.add(name="value", number=2, label=_FDP.LABEL_OPTIONAL,
                                    json_name="value")
            _set_type(value, f, msg)
            fdp.label = _FDP.LABEL_REPEATED
            fdp.type = _FDP.TYPE_MESSAGE
            fdp.type_name = f".{msg.full_name}.{entry.name}"
            continue
        fdp.label = _FDP.LABEL_REPEATED if f.label == "repeated" else _FDP.LABEL_OPTIONAL
        _set_type(fdp, f, msg)
        if f.label == "optional":
            # proto3 `optional`: protoc's synthetic one-field oneof, after any real one.
            fdp.proto3_optional = True
            fdp.oneof_index = len(synthetic)
            synthetic.append("_" + f.name)
    for name in synthetic:
        out.oneof_decl.add(name=name)


def _set_type(fdp: descriptor_pb2.FieldDescriptorProto, f: ProtoField, msg: ProtoMessage) -> None:
    if f.kind == "scalar":
        fdp.type = _TYPES[f.type_name]
    elif f.kind == "enum":
        fdp.type = _FDP.TYPE_ENUM
        fdp.type_name = f".{msg.full_name}.{f.type_name}"
    else:
        fdp.type = _FDP.TYPE_MESSAGE
        fdp.type_name = "." + (TIMESTAMP if f.kind == "timestamp" else f.type_name)


def _json_name(name: str) -> str:
    # protoc's rule: drop each underscore and upper-case the letter after it.
    out, upper = [], False
    for c in name:
        if c == "_":
            upper = True
        else:
            out.append(c.upper() if upper else c)
            upper = False
    return "".join(out)
