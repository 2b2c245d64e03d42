"""Messages in and out: the design's protobuf files compiled, and each message's converters.

`Contract` adds the design's `FileDescriptorProto`s to a descriptor pool of its own (one
per App: two Apps never share message classes) and makes their classes. `Codec` turns one
message into the attribute values a payload is built from (`decode`), and a result into
its message (`encode`), by closures compiled once per message: per call it reads and
writes fields, nothing else. Field presence follows proto3: an `optional` field, a
message or an enum set to its zero value is absent; a plain scalar always has a value.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any, Final

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory, timestamp_pb2
from google.protobuf.message import Message as PBMessage

from bastion.grpc._proto import ProtoField, ProtoFile, ProtoMessage
from bastion.schema.compile import py_name

__all__ = ["Codec", "Contract"]

_ABSENT: Final = object()
_UTC: Final = datetime.UTC

Reader = Callable[[Any], Any]
Writer = Callable[[Any], Any]


def _goa_error_file() -> descriptor_pb2.FileDescriptorProto:
    # Goa's own error message (goadesign_goa_error.proto), which Goa clients decode from
    # a status's details: name, id, msg, temporary, timeout, fault.
    fd = descriptor_pb2.FileDescriptorProto(name="goadesign_goa_error.proto", package="goapb",
                                            syntax="proto3")
    msg = fd.message_type.add(name="ErrorResponse")
    fdp = descriptor_pb2.FieldDescriptorProto
    for n, (name, kind) in enumerate((("name", fdp.TYPE_STRING), ("id", fdp.TYPE_STRING),
                                      ("msg", fdp.TYPE_STRING), ("temporary", fdp.TYPE_BOOL),
                                      ("timeout", fdp.TYPE_BOOL), ("fault", fdp.TYPE_BOOL)),
                                     start=1):
        msg.field.add(name=name, number=n, type=kind, label=fdp.LABEL_OPTIONAL, json_name=name)
    return fd


class Contract:
    """The design's messages as protobuf classes, in a descriptor pool of their own.

    The pool also holds what reflection describes besides the design: the well-known
    Timestamp, the health service, the reflection service and Goa's error message.
    """

    def __init__(self, files: list[ProtoFile]) -> None:
        from grpc_health.v1 import health_pb2
        from grpc_reflection.v1alpha import reflection_pb2

        self.files = files
        self.pool = descriptor_pool.DescriptorPool()
        for module in (timestamp_pb2, health_pb2, reflection_pb2):
            self.pool.Add(descriptor_pb2.FileDescriptorProto.FromString(
                module.DESCRIPTOR.serialized_pb))
        self.pool.Add(_goa_error_file())
        for f in files:
            self.pool.Add(f.descriptor())
        self._classes: dict[str, type[PBMessage]] = {}
        self.goa_error = self.message_class("goapb.ErrorResponse")

    def message_class(self, full_name: str) -> type[PBMessage]:
        """The class of message `full_name` (`orders.ShowRequest`)."""
        cls = self._classes.get(full_name)
        if cls is None:
            cls = message_factory.GetMessageClass(self.pool.FindMessageTypeByName(full_name))
            self._classes[full_name] = cls
        return cls

    def codec(self, msg: ProtoMessage) -> Codec:
        """The converters of message `msg`."""
        return Codec(self, msg)


class Codec:
    """Converts one message: `decode(pb)` to attribute values, `encode(value)` to a message.

    A wrapper message (a non-object payload or result) decodes to its one field's value
    and encodes from it.
    """

    __slots__ = ("cls", "decode", "encode", "message")

    def __init__(self, contract: Contract, msg: ProtoMessage) -> None:
        self.message = msg
        self.cls = contract.message_class(msg.full_name)
        compiled: dict[int, tuple[Reader, Writer]] = {}
        self.decode, self.encode = _compile(contract, msg, compiled)

    def parse(self, data: bytes) -> Any:
        """Decode serialized bytes straight to attribute values."""
        return self.decode(self.cls.FromString(data))


def _compile(contract: Contract, msg: ProtoMessage,
             compiled: dict[int, tuple[Reader, Writer]]) -> tuple[Reader, Writer]:
    key = id(msg)
    found = compiled.get(key)
    if found is not None:
        return found
    cls = contract.message_class(msg.full_name)
    # Recursive messages reach themselves before they are compiled: through this cell.
    cell: list[tuple[Reader, Writer]] = []

    def decode_late(pb: Any) -> Any:
        return cell[0][0](pb)

    def encode_late(value: Any) -> Any:
        return cell[0][1](value)

    compiled[key] = (decode_late, encode_late)
    reads = [(f.attr.name, f.name, _reader(contract, f, compiled)) for f in msg.fields]
    writes = [(f.name, f.attr.name, py_name(f.attr.name), _writer(contract, f, compiled))
              for f in msg.fields]

    if msg.wrapper:
        (_, fname, read_one), (_, _, _, write_one) = reads[0], writes[0]

        def decode(pb: Any) -> Any:
            value = read_one(pb, fname)
            return None if value is _ABSENT else value

        def encode(value: Any) -> Any:
            if value is None:
                return cls()
            return cls(**{fname: write_one(value)})
    else:
        def decode(pb: Any) -> Any:
            out = {}
            for attr, fname, read in reads:
                value = read(pb, fname)
                if value is not _ABSENT:
                    out[attr] = value
            return out

        def encode(value: Any) -> Any:
            kwargs = {}
            is_dict = type(value) is dict
            for fname, attr, py, write in writes:
                v = value.get(attr) if is_dict else getattr(value, py, None)
                if v is not None:
                    kwargs[fname] = write(v)
            return cls(**kwargs)

    cell.append((decode, encode))
    compiled[key] = (decode, encode)
    return decode, encode


# -- reading a field ---------------------------------------------------------------------


def _one_reader(contract: Contract, f: ProtoField,
                compiled: dict[int, tuple[Reader, Writer]]) -> Reader:
    """Converts one protobuf value of `f` (an item, for repeated and map fields)."""
    if f.kind == "message" and f.message is not None:
        return _compile(contract, f.message, compiled)[0]
    if f.kind == "timestamp":
        return _timestamp_text
    if f.kind == "enum" and f.enum is not None:
        names = {n: v for v, n in f.enum.values.items()}

        def enum_value(n: int) -> Any:
            # An unknown number stays a number: the payload's validation names the field.
            return names.get(n, n)

        return enum_value
    return _same


def _reader(contract: Contract, f: ProtoField,
            compiled: dict[int, tuple[Reader, Writer]]) -> Callable[[Any, str], Any]:
    one = _one_reader(contract, f, compiled)
    if f.label == "repeated":
        if one is _same:
            return lambda pb, name: list(getattr(pb, name))
        return lambda pb, name: [one(v) for v in getattr(pb, name)]
    if f.label == "map":
        if one is _same:
            return lambda pb, name: dict(getattr(pb, name))
        return lambda pb, name: {k: one(v) for k, v in getattr(pb, name).items()}
    if f.kind == "enum":
        def read_enum(pb: Any, name: str) -> Any:
            n = getattr(pb, name)
            return _ABSENT if n == 0 else one(n)  # zero is *_UNSPECIFIED: not set

        return read_enum
    if f.kind in ("message", "timestamp") or f.label == "optional":
        if one is _same:
            return lambda pb, name: getattr(pb, name) if pb.HasField(name) else _ABSENT
        return lambda pb, name: one(getattr(pb, name)) if pb.HasField(name) else _ABSENT
    return getattr


def _same(value: Any) -> Any:
    return value


def _timestamp_text(ts: Any) -> str:
    # RFC 3339 in UTC, as the design's date-time strings are validated.
    return str(ts.ToDatetime(tzinfo=_UTC).isoformat().replace("+00:00", "Z"))


# -- writing a field ---------------------------------------------------------------------


def _one_writer(contract: Contract, f: ProtoField,
                compiled: dict[int, tuple[Reader, Writer]]) -> Writer:
    if f.kind == "message" and f.message is not None:
        return _compile(contract, f.message, compiled)[1]
    if f.kind == "timestamp":
        return _timestamp
    if f.kind == "enum" and f.enum is not None:
        return f.enum.values.__getitem__
    if f.type_name == "bytes":
        return _bytes
    return _same


def _writer(contract: Contract, f: ProtoField,
            compiled: dict[int, tuple[Reader, Writer]]) -> Writer:
    one = _one_writer(contract, f, compiled)
    if one is _same:
        return _same
    if f.label == "repeated":
        return lambda values: [one(v) for v in values]
    if f.label == "map":
        return lambda values: {k: one(v) for k, v in values.items()}
    return one


def _timestamp(value: Any) -> datetime.datetime:
    # Message constructors take a datetime for a Timestamp field.
    if isinstance(value, str):
        value = datetime.datetime.fromisoformat(value)
    if isinstance(value, datetime.datetime) and value.tzinfo is None:
        value = value.replace(tzinfo=_UTC)  # a naive time is read as UTC, as JSON's "Z"
    return value  # type: ignore[no-any-return]


def _bytes(value: Any) -> bytes:
    return value if isinstance(value, bytes) else bytes(value)
