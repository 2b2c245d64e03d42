"""The line writer of a Logger: a bounded queue drained in batches by one background thread.

Producers (request handlers on the event loop, other threads) only append a finished line
to the queue, so a slow or blocked stdout never stalls them. The one writer thread joins
the queued lines and writes them in one call, so lines are never interleaved.

Batching: a producer wakes the writer only when the writer is idle. Once awake, the writer
waits `interval` seconds for more lines before it writes, then keeps writing a batch per
interval for as long as lines keep coming, and goes idle when a batch finds the queue
empty. Under load that is one wake-up and one write per interval, whatever the number of
lines; an idle process writes a line at most `interval` after it was logged. `flush()`,
`close()` and a queue filling up cut the wait short.

When the queue is full: lines below warn are dropped and counted (a warn line reports the
count once there is room again); warn, error and print lines wait for room, because losing
the line that explains a failure is worse than slowing down while the output is stuck.

The writer thread writes bytes to the stream's binary layer (`sys.stdout.buffer`), never
to the text stream itself: Python's text streams (`io.TextIOWrapper`) are not thread-safe,
and the program's own threads use that object too (`print`, a test runner's capture,
which seeks and truncates it between tests), while binary buffered streams lock their
state and raw files are single system calls. Lines are encoded in the stream's encoding,
with backslash escapes for what it cannot encode. A stream without a binary layer (a
`StringIO`, a custom object) gets the text. A consequence: text a program printed and has
not flushed yet (stdout to a pipe holds it) can come out after lines logged later;
`flush()` and `close()` flush the text stream as well.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import threading
import weakref
from collections import deque
from collections.abc import Callable
from typing import Final, NamedTuple, TextIO

__all__ = ["DEFAULT_INTERVAL", "LineWriter", "WriterStats"]

#: Seconds the writer gathers lines before it writes them (the bound on an idle line's delay).
DEFAULT_INTERVAL: Final = 0.02
_STOP: Final = object()


class WriterStats(NamedTuple):
    """What a writer did so far: lines written, write calls, thread wake-ups, lines dropped."""

    lines: int
    writes: int
    wakeups: int
    dropped: int


class LineWriter:
    """Writes whole lines to `stream` in order, from one thread, through a bounded queue.

    `sync=True` writes on the caller's thread instead (for tests and golden output).
    `drop_notice(n)` renders the line that reports `n` dropped lines. `interval` is how
    long the writer gathers lines before writing them (0: as soon as it wakes).
    """

    def __init__(
        self,
        stream: TextIO,
        *,
        capacity: int,
        sync: bool,
        drop_notice: Callable[[int], str],
        interval: float = DEFAULT_INTERVAL,
    ) -> None:
        self._stream = stream
        self._capacity = capacity
        # Past this many queued lines the writer stops gathering and writes at once, so
        # important lines rarely have to wait for room.
        self._high = max(1, capacity // 2)
        self._sync = sync
        self._direct = sync  # lines are written by the caller: sync, or once closed
        self._drop_notice = drop_notice
        self._interval = interval
        self._closed = False
        self.dropped = 0
        self._unreported = 0
        self._lines_written = 0
        self._writes = 0
        self._wakeups = 0
        self._init_runtime()
        # A fork copies the queue but not the thread: the child starts afresh.
        if hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=functools.partial(_after_fork, weakref.ref(self)))

    def _init_runtime(self) -> None:
        self._lines: deque[object] = deque()
        self._lock = threading.Lock()  # held while writing to the stream
        self._room = threading.Condition(threading.Lock())  # guards counters, signals room
        self._wake = threading.Event()  # set by a producer when the writer is idle
        self._hurry = threading.Event()  # cuts the gathering wait short
        self._idle = False  # the writer waits for `_wake`; read by producers without a lock
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    @property
    def stats(self) -> WriterStats:
        """Counters of what this writer did (for measurements, not for control)."""
        return WriterStats(self._lines_written, self._writes, self._wakeups, self.dropped)

    def put(self, line: str, important: bool = False) -> None:
        """Queue one line; drop it if the queue is full and it is not `important`."""
        lines = self._lines
        size = len(lines)
        if size < self._high and self._thread is not None and not self._direct:
            # Most lines: a running writer and room to spare.
            lines.append(line)
            if self._idle and not self._wake.is_set():  # _signal(), inlined
                self._wake.set()
            return
        if self._direct:  # sync, or closed
            self._write([line])
            return
        thread = self._thread
        if thread is None:
            thread = self._start()
        if size >= self._capacity:
            # The writer thread itself can never wait for room it alone makes.
            if not important or thread.ident == threading.get_ident():
                with self._room:
                    self.dropped += 1
                    self._unreported += 1
                return
            self._hurry.set()
            self._signal()
            with self._room:
                while len(lines) >= self._capacity and thread.is_alive():
                    self._room.wait(0.1)
            if self._closed:  # closed while waiting: the queue is no longer drained
                self._write([line])
                return
        lines.append(line)
        if self._idle and not self._wake.is_set():  # _signal(), inlined: once per line
            self._wake.set()
        if size >= self._high:
            self._hurry.set()

    def _signal(self) -> None:
        # Called after appending: the writer marks itself idle before it looks at the
        # queue, so one of the two always sees the other and nothing is left waiting. A
        # busy writer looks at the queue again before it goes idle: no signal needed.
        if self._idle and not self._wake.is_set():
            self._wake.set()

    def flush(self) -> None:
        """Wait until every line queued so far is written and the stream flushed."""
        thread = self._thread
        if (
            thread is None
            or self._closed
            or self._sync
            or thread.ident == threading.get_ident()
            or not thread.is_alive()
        ):
            with self._lock:
                _flush_stream(self._stream)
            return
        done = threading.Event()
        self._lines.append(done)
        self._hurry.set()
        self._signal()
        while not done.wait(0.1):
            if not thread.is_alive():  # closed meanwhile: close() wrote what was queued
                break
        # The lines are out; text the caller's threads wrote to the stream goes out too.
        _flush_stream(self._stream)

    def close(self, timeout: float = 5.0) -> None:
        """Write what is queued, stop the thread; later lines are written synchronously."""
        if self._closed:
            return
        self._closed = True
        self._direct = True
        thread = self._thread
        if thread is not None and thread.is_alive() and thread.ident != threading.get_ident():
            self._lines.append(_STOP)
            self._hurry.set()
            self._signal()
            thread.join(timeout)
        # Lines that raced with closing (or all of them if the thread is stuck) go out here.
        leftover: list[str] = []
        while self._lines:
            item = self._lines.popleft()
            if type(item) is str:
                leftover.append(item)
            elif isinstance(item, threading.Event):
                item.set()
        if leftover:
            self._write(leftover)
        with self._lock:
            _flush_stream(self._stream)

    def _start(self) -> threading.Thread:
        with self._start_lock:
            if self._thread is None:
                thread = threading.Thread(target=self._run, name="bastion-log-writer", daemon=True)
                thread.start()
                self._thread = thread
            return self._thread

    def _run(self) -> None:
        lines = self._lines
        wake, hurry = self._wake, self._hurry
        interval = self._interval
        while True:
            self._idle = True
            if not lines:
                wake.wait()
                self._wakeups += 1
            self._idle = False
            wake.clear()
            while True:
                # Gather: producers append without signalling while the writer is busy.
                if interval > 0 and not hurry.is_set():
                    hurry.wait(interval)
                    self._wakeups += 1
                hurry.clear()
                if self._drain(lines):
                    return
                if not lines:
                    break  # nothing came while writing: go idle until a producer wakes us

    def _drain(self, lines: deque[object]) -> bool:
        """Write everything queued now; return True when a stop marker was among it."""
        batch: list[str] = []
        done: list[threading.Event] = []
        stop = False
        while lines:
            item = lines.popleft()
            if type(item) is str:
                batch.append(item)
            elif item is _STOP:
                stop = True
            elif isinstance(item, threading.Event):
                done.append(item)
        with self._room:
            self._room.notify_all()
            unreported, self._unreported = self._unreported, 0
        if unreported:
            batch.append(self._drop_notice(unreported))
        if batch:
            self._write(batch)
        for event in done:
            event.set()
        return stop

    def _write(self, batch: list[str]) -> None:
        data = "".join(batch)
        stream = self._stream
        encoding = getattr(stream, "encoding", None) or "utf-8"
        with self._lock:
            try:
                binary = _binary_layer(stream)
                if binary is not None:
                    _write_all(binary, data.encode(encoding, "backslashreplace"))
                    binary.flush()
                else:
                    try:
                        stream.write(data)
                    except UnicodeEncodeError:
                        stream.write(data.encode(encoding, "backslashreplace").decode(encoding))
                    stream.flush()
                self._writes += 1
                self._lines_written += len(batch)
            except Exception:
                # A closed or broken stream (e.g. `| head`) must not kill the writer.
                with self._room:
                    self.dropped += len(batch)

    def _reset_after_fork(self) -> None:
        self._init_runtime()


def _after_fork(ref: weakref.ref[LineWriter]) -> None:
    writer = ref()
    if writer is not None:
        writer._reset_after_fork()


def _binary_layer(stream: TextIO) -> io.BufferedIOBase | io.RawIOBase | None:
    """The binary stream under a text stream, when lines can go there (see the module)."""
    if not isinstance(stream, io.TextIOWrapper):
        return None
    # Read at each write: `reconfigure` keeps the layer, `detach` takes it away (None).
    binary = stream.buffer
    if not isinstance(binary, (io.BufferedIOBase, io.RawIOBase)) or binary.closed:
        return None
    # Writing the text translates "\n" to the platform's line end; bytes would not.
    return binary if os.linesep == "\n" else None


def _write_all(binary: io.BufferedIOBase | io.RawIOBase, data: bytes) -> None:
    # A raw file (pytest's capture files are unbuffered) may take part of a write.
    view = memoryview(data)
    while view:
        written = binary.write(view)
        if written is None:  # a non-blocking stream that is full: the batch is dropped
            raise BlockingIOError("the stream takes no more bytes now")
        view = view[written:]


def _flush_stream(stream: TextIO) -> None:
    # Same reason as in _write: a broken stream is not the caller's failure.
    with contextlib.suppress(Exception):
        stream.flush()
