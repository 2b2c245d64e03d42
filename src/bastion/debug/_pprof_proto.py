"""CPU and heap profiles in pprof's format: a gzipped `profile.proto`, as Go serves them.

`go tool pprof`, Pyroscope and Grafana read this format. The message is written here
with a few lines of protobuf wire encoding (the schema is small and stable: see
`perftools.profiles.Profile` in google/pprof's `proto/profile.proto`), so no protobuf
runtime or generated code is needed to serve it. Field numbers below are the schema's.

- CPU: sample types `samples/count` and `cpu/nanoseconds` (or `wall/nanoseconds` in
  wall mode), one sample per recorded stack with a `thread` label, the sampling
  period, the start time and the duration.
- Heap: `inuse_objects/count` and `inuse_space/bytes` per allocation stack, from a
  tracemalloc snapshot (only live blocks: Python has no record of freed ones).
"""

from __future__ import annotations

import gzip
import os
import sys
import time
import tracemalloc
from collections.abc import Iterable, Sequence

from bastion.debug._pprof_sampler import CPUProfile

__all__ = ["CONTENT_TYPE", "cpu_pprof", "heap_pprof"]

#: What Go's net/http/pprof answers for a protobuf profile.
CONTENT_TYPE = b"application/octet-stream"

_VARINT, _LEN = 0, 2


def _varint(value: int) -> bytes:
    if value < 0:
        value += 1 << 64  # int64 fields: two's complement, ten bytes
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _key(field: int, wire: int) -> bytes:
    return _varint(field << 3 | wire)


def _int(field: int, value: int) -> bytes:
    # proto3 leaves zero-valued scalars out.
    return _key(field, _VARINT) + _varint(value) if value else b""


def _bytes(field: int, value: bytes) -> bytes:
    return _key(field, _LEN) + _varint(len(value)) + value


def _packed(field: int, values: Iterable[int]) -> bytes:
    payload = b"".join(_varint(v) for v in values)
    return _bytes(field, payload) if payload else b""


class _Builder:
    """The string, function and location tables of one profile."""

    def __init__(self) -> None:
        self.strings: dict[str, int] = {"": 0}  # string_table[0] must be ""
        self.functions: dict[tuple[str, str, int], int] = {}
        self.locations: dict[tuple[int, int], int] = {}
        self.function_messages: list[bytes] = []
        self.location_messages: list[bytes] = []
        self.samples: list[bytes] = []

    def string(self, text: str) -> int:
        index = self.strings.get(text)
        if index is None:
            index = self.strings[text] = len(self.strings)
        return index

    def location(self, name: str, filename: str, line: int) -> int:
        key = (name, filename, line)
        function = self.functions.get(key)
        if function is None:
            function = self.functions[key] = len(self.functions) + 1
            name_index = self.string(name)
            self.function_messages.append(
                _int(1, function)
                + _int(2, name_index)
                + _int(3, name_index)
                + _int(4, self.string(filename))
                + _int(5, line)
            )
        where = (function, line)
        location = self.locations.get(where)
        if location is None:
            location = self.locations[where] = len(self.locations) + 1
            line_message = _int(1, function) + _int(2, line)
            self.location_messages.append(_int(1, location) + _bytes(4, line_message))
        return location

    def sample(
        self, locations: Sequence[int], values: Sequence[int], labels: Sequence[tuple[str, str]]
    ) -> None:
        message = _packed(1, locations) + _packed(2, values)
        for key, text in labels:
            message += _bytes(3, _int(1, self.string(key)) + _int(2, self.string(text)))
        self.samples.append(message)

    def value_type(self, kind: str, unit: str) -> bytes:
        return _int(1, self.string(kind)) + _int(2, self.string(unit))

    def encode(
        self,
        sample_types: Sequence[tuple[str, str]],
        *,
        time_nanos: int,
        duration_nanos: int = 0,
        period_type: tuple[str, str] | None = None,
        period: int = 0,
        comments: Sequence[str] = (),
    ) -> bytes:
        head = b"".join(_bytes(1, self.value_type(k, u)) for k, u in sample_types)
        tail = _int(9, time_nanos) + _int(10, duration_nanos)
        if period_type is not None:
            tail += _bytes(11, self.value_type(*period_type)) + _int(12, period)
        tail += _packed(13, [self.string(c) for c in comments])
        # A mapping says the functions are symbolized, so pprof asks for no symbols.
        mapping = (
            _int(1, 1) + _int(5, self.string(_executable())) + _int(7, 1) + _int(8, 1) + _int(9, 1)
        )
        body = (
            head
            + b"".join(_bytes(2, s) for s in self.samples)
            + _bytes(3, mapping)
            + b"".join(_bytes(4, loc) for loc in self.location_messages)
            + b"".join(_bytes(5, fn) for fn in self.function_messages)
            + b"".join(_bytes(6, s.encode()) for s in self.strings)
            + tail
        )
        return gzip.compress(body, compresslevel=6)


def _executable() -> str:
    return os.path.realpath(sys.executable) if sys.executable else "python"


def cpu_pprof(profile: CPUProfile) -> bytes:
    """Return a CPU profile as a gzipped `profile.proto` (what Go's `profile` serves)."""
    builder = _Builder()
    for sample in profile.samples:
        locations = []
        for identifier in reversed(sample.stack):  # pprof lists the leaf first
            name, filename, line = identifier.split("\x00")
            locations.append(builder.location(name, filename, int(line)))
        nanos = round(sample.weight * 1e9)
        thread = profile.threads.get(sample.thread, "thread")
        builder.sample(locations, [1, nanos], [("thread", f"{thread} ({sample.thread})")])
    kind = "cpu" if profile.mode == "cpu" else "wall"
    return builder.encode(
        [("samples", "count"), (kind, "nanoseconds")],
        time_nanos=int(profile.started * 1e9),
        duration_nanos=round(profile.duration * 1e9),
        period_type=(kind, "nanoseconds"),
        period=round(profile.interval * 1e9),
        comments=[f"bastion {kind} profile of every thread"],
    )


def heap_pprof(snapshot: tracemalloc.Snapshot) -> bytes:
    """Return the live allocations of a tracemalloc snapshot as a gzipped `profile.proto`."""
    builder = _Builder()
    for stat in snapshot.statistics("traceback"):
        locations = []
        for frame in reversed(stat.traceback):  # tracemalloc: oldest first; pprof: leaf first
            name = f"{os.path.basename(frame.filename)}:{frame.lineno}"
            locations.append(builder.location(name, frame.filename, frame.lineno))
        builder.sample(locations, [stat.count, stat.size], [])
    return builder.encode(
        [("inuse_objects", "count"), ("inuse_space", "bytes")],
        time_nanos=time.time_ns(),
        period_type=("space", "bytes"),
        comments=["bastion heap profile: live blocks traced by tracemalloc"],
    )
