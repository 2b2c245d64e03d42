"""pprof's `profile.proto` schema, built as a protobuf descriptor, to decode profiles in tests.

The fields are those of `perftools.profiles` in google/pprof's `proto/profile.proto`,
written out here field by field; the protobuf runtime decodes with them, so a test
reads a profile the way `go tool pprof` does, independently of Bastion's encoder.
"""

from __future__ import annotations

import gzip
from typing import Any

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

__all__ = ["decode_profile"]

_F = descriptor_pb2.FieldDescriptorProto
_INT64, _UINT64, _STRING, _BOOL, _MESSAGE = (
    _F.TYPE_INT64,
    _F.TYPE_UINT64,
    _F.TYPE_STRING,
    _F.TYPE_BOOL,
    _F.TYPE_MESSAGE,
)
_ONE, _MANY = _F.LABEL_OPTIONAL, _F.LABEL_REPEATED

# message -> [(field name, number, type, label, message type)]
_SCHEMA: dict[str, list[tuple[str, int, int, int, str]]] = {
    "Profile": [
        ("sample_type", 1, _MESSAGE, _MANY, "ValueType"),
        ("sample", 2, _MESSAGE, _MANY, "Sample"),
        ("mapping", 3, _MESSAGE, _MANY, "Mapping"),
        ("location", 4, _MESSAGE, _MANY, "Location"),
        ("function", 5, _MESSAGE, _MANY, "Function"),
        ("string_table", 6, _STRING, _MANY, ""),
        ("drop_frames", 7, _INT64, _ONE, ""),
        ("keep_frames", 8, _INT64, _ONE, ""),
        ("time_nanos", 9, _INT64, _ONE, ""),
        ("duration_nanos", 10, _INT64, _ONE, ""),
        ("period_type", 11, _MESSAGE, _ONE, "ValueType"),
        ("period", 12, _INT64, _ONE, ""),
        ("comment", 13, _INT64, _MANY, ""),
        ("default_sample_type", 14, _INT64, _ONE, ""),
    ],
    "ValueType": [("type", 1, _INT64, _ONE, ""), ("unit", 2, _INT64, _ONE, "")],
    "Sample": [
        ("location_id", 1, _UINT64, _MANY, ""),
        ("value", 2, _INT64, _MANY, ""),
        ("label", 3, _MESSAGE, _MANY, "Label"),
    ],
    "Label": [
        ("key", 1, _INT64, _ONE, ""),
        ("str", 2, _INT64, _ONE, ""),
        ("num", 3, _INT64, _ONE, ""),
        ("num_unit", 4, _INT64, _ONE, ""),
    ],
    "Mapping": [
        ("id", 1, _UINT64, _ONE, ""),
        ("memory_start", 2, _UINT64, _ONE, ""),
        ("memory_limit", 3, _UINT64, _ONE, ""),
        ("file_offset", 4, _UINT64, _ONE, ""),
        ("filename", 5, _INT64, _ONE, ""),
        ("build_id", 6, _INT64, _ONE, ""),
        ("has_functions", 7, _BOOL, _ONE, ""),
        ("has_filenames", 8, _BOOL, _ONE, ""),
        ("has_line_numbers", 9, _BOOL, _ONE, ""),
        ("has_inline_frames", 10, _BOOL, _ONE, ""),
    ],
    "Location": [
        ("id", 1, _UINT64, _ONE, ""),
        ("mapping_id", 2, _UINT64, _ONE, ""),
        ("address", 3, _UINT64, _ONE, ""),
        ("line", 4, _MESSAGE, _MANY, "Line"),
        ("is_folded", 5, _BOOL, _ONE, ""),
    ],
    "Line": [
        ("function_id", 1, _UINT64, _ONE, ""),
        ("line", 2, _INT64, _ONE, ""),
        ("column", 3, _INT64, _ONE, ""),
    ],
    "Function": [
        ("id", 1, _UINT64, _ONE, ""),
        ("name", 2, _INT64, _ONE, ""),
        ("system_name", 3, _INT64, _ONE, ""),
        ("filename", 4, _INT64, _ONE, ""),
        ("start_line", 5, _INT64, _ONE, ""),
    ],
}


def _profile_class() -> Any:
    file = descriptor_pb2.FileDescriptorProto(
        name="bastion_tests/profile.proto", package="perftools.profiles", syntax="proto3"
    )
    for message, fields in _SCHEMA.items():
        proto = file.message_type.add(name=message)
        for name, number, kind, label, type_name in fields:
            field = proto.field.add(name=name, number=number, type=kind, label=label)
            if type_name:
                field.type_name = f".perftools.profiles.{type_name}"
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("perftools.profiles.Profile"))


_PROFILE = _profile_class()


def decode_profile(data: bytes) -> Any:
    """Gunzip and decode a pprof profile; check the references pprof itself checks."""
    profile = _PROFILE.FromString(gzip.decompress(data))
    strings = list(profile.string_table)
    if not strings or strings[0] != "":
        raise ValueError("string_table[0] must be the empty string")
    functions = {f.id for f in profile.function}
    locations = {loc.id for loc in profile.location}
    for function in profile.function:
        for index in (function.name, function.system_name, function.filename):
            if not 0 <= index < len(strings):
                raise ValueError(f"function {function.id}: string index {index} out of range")
    for location in profile.location:
        for line in location.line:
            if line.function_id not in functions:
                raise ValueError(f"location {location.id}: unknown function {line.function_id}")
    for sample in profile.sample:
        if len(sample.value) != len(profile.sample_type):
            raise ValueError("a sample's values do not match the sample types")
        for location_id in sample.location_id:
            if location_id not in locations:
                raise ValueError(f"sample refers to unknown location {location_id}")
    return profile
