"""The context logger's writer: whole lines through a real pipe, and the full-queue policy."""

from __future__ import annotations

import asyncio
import io
import json
import os
import select
import threading
import time
import typing
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TextIO

import pytest

from bastion import log
from bastion.errors import ConfigError


@contextmanager
def pipe() -> Iterator[tuple[TextIO, threading.Event, list[bytes], int]]:
    """A real OS pipe: a stream to write, a switch to start reading, what was read, read fd."""
    read_fd, write_fd = os.pipe()
    stream = open(write_fd, "w", encoding="utf-8")  # noqa: SIM115 -- closed below
    start_reading = threading.Event()
    chunks: list[bytes] = []

    def reader() -> None:
        start_reading.wait()
        while chunk := os.read(read_fd, 65536):
            chunks.append(chunk)

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    try:
        yield stream, start_reading, chunks, read_fd
    finally:
        start_reading.set()
        stream.close()
        thread.join(30)
        os.close(read_fd)


def _line(task: int, seq: int) -> None:
    # Longer than PIPE_BUF (4096): the kernel alone would not keep it whole.
    log.info("line", task=task, seq=seq, payload=chr(65 + task % 26) * 9000)


def _burst_in_thread(logger: log.Logger, task: int) -> None:
    with log.use(logger):
        for seq in range(10, 20):
            _line(task, seq)


async def test_fifty_tasks_writing_long_lines_never_interleave() -> None:
    with pipe() as (stream, start_reading, chunks, _):
        start_reading.set()
        logger = log.Logger(format="json", stream=stream, max_value_size=100_000)

        async def worker(task: int) -> None:
            with log.use(logger):
                for seq in range(10):
                    _line(task, seq)
                    await asyncio.sleep(0)
                # Half the tasks also log from a worker thread, concurrently with the loop.
                if task % 2:
                    await asyncio.to_thread(_burst_in_thread, logger, task)

        await asyncio.gather(*(worker(task) for task in range(50)))
        logger.close()
    records = [json.loads(line) for line in b"".join(chunks).decode().splitlines()]
    assert len(records) == 50 * 10 + 25 * 10
    seen: dict[int, list[int]] = {}
    for record in records:
        task = record["task"]
        assert record["payload"] == chr(65 + task % 26) * 9000
        seen.setdefault(task, []).append(record["seq"])
    # Each task's lines arrive whole and in the order it logged them.
    assert all(seqs == sorted(seqs) for seqs in seen.values())
    assert logger.dropped == 0


def test_full_queue_drops_info_counts_it_and_waits_for_errors() -> None:
    with pipe() as (stream, start_reading, chunks, read_fd):
        logger = log.Logger(format="json", stream=stream, queue_size=5, max_value_size=2_000_000)
        with log.use(logger):
            # Far more than the pipe holds: the writer thread takes it and blocks in write().
            log.warn("big", blob="x" * 1_000_000)
            readable, _, _ = select.select([read_fd], [], [], 30)
            assert readable, "the writer thread never started writing"
            for i in range(100):
                log.info("wave", i=i)
            assert logger.dropped == 95  # 5 fit in the queue

        def error_in_thread() -> None:
            with log.use(logger):
                log.error(None, "must not be lost")

        blocked = threading.Thread(target=error_in_thread)
        blocked.start()
        blocked.join(0.5)
        assert blocked.is_alive(), "an error line must wait for room, not be dropped"
        start_reading.set()
        blocked.join(30)
        assert not blocked.is_alive()
        logger.flush()
        dropped = logger.dropped
        logger.close()
    records = [json.loads(line) for line in b"".join(chunks).decode().splitlines()]
    messages = [r["msg"] for r in records]
    assert messages[0] == "big"
    assert messages[-1] == "must not be lost"
    infos = [m for m in messages if m == "wave"]
    notices = [r for r in records if r["msg"] == "log queue full: lines dropped"]
    assert sum(int(n["dropped"]) for n in notices) == dropped
    assert len(infos) + dropped == 100
    assert all(n["level"] == "warn" for n in notices)


def _read_soon(chunks: list[bytes], wanted: bytes, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while wanted not in b"".join(chunks):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def _flush_in_thread(logger: log.Logger) -> None:
    # flush() must return on its own; run it in a thread so a hang fails the test, not CI.
    flusher = threading.Thread(target=logger.flush)
    flusher.start()
    flusher.join(30)
    assert not flusher.is_alive(), "flush() did not return"


async def test_lines_from_tasks_that_yield_are_written_in_one_batch() -> None:
    with pipe() as (stream, start_reading, chunks, _):
        start_reading.set()
        # A long interval: whatever the machine's speed, every line below is queued before
        # the writer's first batch, so the counts do not depend on timing.
        logger = log.Logger(format="json", stream=stream, flush_interval=60)

        async def handler(task: int) -> None:
            with log.use(logger):
                for seq in range(50):
                    log.info("line", task=task, seq=seq)
                    await asyncio.sleep(0)  # the handler yields, as one awaiting I/O does

        await asyncio.gather(*(handler(task) for task in range(40)))
        _flush_in_thread(logger)
        stats = logger.writer_stats
        logger.close()
    assert len(b"".join(chunks).splitlines()) == 2000
    assert stats.lines == 2000
    assert stats.writes == 1  # one write call for 2,000 lines
    assert stats.wakeups <= 2  # woken by the first line, then by flush()


def test_an_idle_line_is_written_without_a_flush() -> None:
    with pipe() as (stream, _start_reading, _chunks, read_fd):
        logger = log.Logger(format="json", stream=stream)
        with log.use(logger):
            log.info("alone")
        # No flush(), no close(): the writer writes it after its gathering interval.
        readable, _, _ = select.select([read_fd], [], [], 30)
        assert readable, "an idle line was never written"
        assert json.loads(os.read(read_fd, 65536))["msg"] == "alone"
        logger.flush()  # the counters are updated just after the write returns
        stats = logger.writer_stats
        assert (stats.lines, stats.writes) == (1, 1)
        logger.close()


def test_flush_and_close_cut_the_gathering_interval_short() -> None:
    with pipe() as (stream, start_reading, chunks, _):
        start_reading.set()
        logger = log.Logger(format="json", stream=stream, flush_interval=60)
        with log.use(logger):
            log.info("before flush")
            _flush_in_thread(logger)
            # flush() put it in the pipe; the reading thread may take a moment to read it,
            # far less than the 60 s the writer would otherwise have gathered for.
            assert _read_soon(chunks, b"before flush"), "flush() did not write the line"
            log.warn("before close")
        closer = threading.Thread(target=logger.close)
        closer.start()
        closer.join(30)
        assert not closer.is_alive(), "close() did not return"
    assert [json.loads(x)["msg"] for x in b"".join(chunks).splitlines()] == [
        "before flush",
        "before close",
    ]


def test_a_blocked_stream_never_blocks_the_loop_for_info_lines() -> None:
    with pipe() as (stream, start_reading, _chunks, read_fd):
        logger = log.Logger(
            format="json", stream=stream, queue_size=100, flush_interval=0, max_value_size=2_000_000
        )
        with log.use(logger):
            log.warn("big", blob="x" * 1_000_000)  # fills the pipe: the writer blocks in write()
            readable, _, _ = select.select([read_fd], [], [], 30)
            assert readable
            for i in range(10_000):  # returns although nothing is being written
                log.info("wave", i=i)
        assert logger.dropped >= 10_000 - 100
        start_reading.set()
        logger.close()


def test_a_full_queue_makes_the_writer_write_at_once() -> None:
    with pipe() as (stream, start_reading, chunks, _):
        start_reading.set()
        logger = log.Logger(format="json", stream=stream, queue_size=10, flush_interval=60)
        with log.use(logger):
            for i in range(10):  # half the queue hurries the writer: nothing waits 60 s
                log.info("line", i=i)
            for i in range(20):
                log.error(None, "must wait for room, not for the interval", i=i)
        _flush_in_thread(logger)
        assert logger.dropped == 0
        logger.close()
    assert len(b"".join(chunks).splitlines()) == 30


def test_flush_interval_is_validated() -> None:
    with pytest.raises(ConfigError, match="flush_interval"):
        log.Logger(flush_interval=-1)


class WatchedText(io.TextIOWrapper):
    """A text stream that records which threads call its write and flush."""

    def __init__(self, binary: typing.BinaryIO | io.RawIOBase, encoding: str = "utf-8") -> None:
        super().__init__(binary, encoding=encoding, newline="")  # type: ignore[arg-type]
        self.callers: set[int] = set()

    def write(self, text: str) -> int:
        self.callers.add(threading.get_ident())
        return super().write(text)

    def flush(self) -> None:
        self.callers.add(threading.get_ident())
        super().flush()


class Trickle(io.RawIOBase):
    """A raw file that takes at most three bytes a write, as a raw file may."""

    def __init__(self) -> None:
        self.data = bytearray()

    def writable(self) -> bool:
        return True

    def write(self, b: typing.Any) -> int:
        chunk = bytes(b[:3])
        self.data += chunk
        return len(chunk)


def test_the_writer_thread_writes_bytes_never_the_shared_text_stream() -> None:
    # Text streams are not thread-safe, and the program's threads use sys.stdout too.
    binary = io.BytesIO()
    stream = WatchedText(binary)
    logger = log.Logger(format="json", stream=stream, flush_interval=0)
    with log.use(logger):
        for i in range(50):
            log.info("line", i=i)
        logger.flush()
        writers = {t.ident for t in threading.enumerate() if t.name == "bastion-log-writer"}
        assert writers, "the lines were written by a writer thread"
        assert [json.loads(x)["i"] for x in binary.getvalue().splitlines()] == list(range(50))
        # flush() flushed the text stream from this thread; the writer never touched it.
        assert stream.callers == {threading.get_ident()}
        assert not stream.callers & writers
    logger.close()


def test_what_the_stream_cannot_encode_is_escaped_and_nothing_is_lost() -> None:
    binary = io.BytesIO()
    logger = log.Logger(format="json", stream=WatchedText(binary, "latin-1"), flush_interval=0)
    with log.use(logger):
        log.info("snow \u2603 café")
    logger.close()
    line = binary.getvalue()
    assert b"\\u2603" in line and "café".encode("latin-1") in line
    assert json.loads(line.decode("latin-1"))["msg"] == "snow \u2603 café"


def test_a_raw_binary_layer_that_takes_part_of_a_write_gets_all_of_it() -> None:
    raw = Trickle()
    logger = log.Logger(format="json", stream=WatchedText(raw), flush_interval=0)
    with log.use(logger):
        log.info("trickled", payload="x" * 100)
    logger.close()
    assert json.loads(bytes(raw.data))["payload"] == "x" * 100


def test_a_stream_without_a_binary_layer_gets_the_text() -> None:
    stream = io.StringIO()
    logger = log.Logger(format="json", stream=stream, flush_interval=0)
    with log.use(logger):
        log.info("in memory")
    logger.close()
    assert json.loads(stream.getvalue())["msg"] == "in memory"
