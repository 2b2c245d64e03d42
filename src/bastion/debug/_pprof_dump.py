"""Stack dumps (asyncio tasks and threads: Go's goroutine dump) and heap snapshots."""

from __future__ import annotations

import asyncio
import linecache
import os
import re
import sys
import threading
import time
import traceback
import tracemalloc
from dataclasses import dataclass
from types import FrameType
from typing import Any

from bastion.redact import REDACTED

__all__ = [
    "HeapSite",
    "HeapTracker",
    "dump_stacks",
    "format_heap",
    "format_stacks",
    "redacted_argv",
]


def _frame_entry(filename: str, lineno: int | None, name: str) -> dict[str, Any]:
    line = linecache.getline(filename, lineno).strip() if lineno else ""
    return {"file": filename, "line": lineno, "function": name, "code": line}


def _frame_of(obj: Any) -> FrameType | None:
    for attr in ("cr_frame", "gi_frame", "ag_frame"):
        frame = getattr(obj, attr, None)
        if frame is not None:
            return frame  # type: ignore[no-any-return]
    return None


def _awaited_by(obj: Any) -> Any:
    for attr in ("cr_await", "gi_yieldfrom", "ag_await"):
        inner = getattr(obj, attr, None)
        if inner is not None:
            return inner
    return None


def _task_stack(task: asyncio.Task[Any]) -> list[dict[str, Any]]:
    # `task.get_stack()` shows only the outermost coroutine of a suspended task; follow
    # the chain of awaits instead, so the dump reaches the line that is really waiting.
    stack = []
    obj: Any = task.get_coro()
    seen = 0
    while obj is not None and seen < 200:
        seen += 1
        frame = _frame_of(obj)
        if frame is not None:
            code = frame.f_code
            stack.append(_frame_entry(code.co_filename, frame.f_lineno, code.co_qualname))
        obj = _awaited_by(obj)
    if not stack:
        for frame in task.get_stack():
            code = frame.f_code
            stack.append(_frame_entry(code.co_filename, frame.f_lineno, code.co_qualname))
    return stack


def dump_stacks() -> dict[str, Any]:
    """Return every asyncio task of the running loop and every thread, with their stacks.

    `pid` names the process dumped: with WORKERS>1, the worker that answered.
    """
    loop = asyncio.get_running_loop()
    tasks = []
    for task in sorted(asyncio.all_tasks(loop), key=lambda t: t.get_name()):
        coro = task.get_coro()
        waiter = getattr(task, "_fut_waiter", None)  # what the task waits on, when known
        tasks.append(
            {
                "name": task.get_name(),
                "coro": getattr(coro, "__qualname__", repr(coro)),
                "state": "cancelling" if task.cancelling() else "pending",
                "waiting_on": repr(waiter) if waiter is not None else None,
                "stack": _task_stack(task),
            }
        )
    names = {t.ident: t for t in threading.enumerate()}
    loop_thread = threading.get_ident()
    threads = []
    for ident, frame in sys._current_frames().items():
        thread = names.get(ident)
        threads.append(
            {
                "ident": ident,
                "name": thread.name if thread else "unknown",
                "daemon": thread.daemon if thread else None,
                "event_loop": ident == loop_thread,
                "stack": [
                    _frame_entry(f.filename, f.lineno, f.name)
                    for f in traceback.extract_stack(frame)
                ],
            }
        )
    threads.sort(key=lambda t: (not t["event_loop"], t["name"]))
    return {"pid": os.getpid(), "tasks": tasks, "threads": threads}


def _format_stack(lines: list[str], stack: list[dict[str, Any]]) -> None:
    for entry in stack:
        lines.append(f'  File "{entry["file"]}", line {entry["line"]}, in {entry["function"]}')
        if entry["code"]:
            lines.append(f"    {entry['code']}")


def format_stacks(dump: dict[str, Any]) -> str:
    """Render `dump_stacks()` as text, oldest call first (like a Python traceback)."""
    lines = [f"process {dump['pid']}: {len(dump['tasks'])} asyncio tasks", ""]
    for task in dump["tasks"]:
        lines.append(f"task {task['name']!r} ({task['state']}) coro={task['coro']}")
        _format_stack(lines, task["stack"])
        if task["waiting_on"]:
            lines.append(f"  waiting on {task['waiting_on']}")
        lines.append("")
    lines += [f"{len(dump['threads'])} threads", ""]
    for thread in dump["threads"]:
        loop = ", runs the event loop" if thread["event_loop"] else ""
        lines.append(
            f"thread {thread['name']!r} (ident {thread['ident']}, daemon={thread['daemon']}{loop})"
        )
        _format_stack(lines, thread["stack"])
        lines.append("")
    return "\n".join(lines)


@dataclass(frozen=True, slots=True)
class HeapSite:
    """One allocation site of a heap snapshot or of a diff between two."""

    file: str
    line: int
    size: int
    count: int
    size_diff: int
    count_diff: int
    code: str


class HeapTracker:
    """Takes tracemalloc snapshots and diffs each against the previous one.

    Tracing starts on the first snapshot, not at import, because it is expensive: every
    allocation is recorded, which made allocation-heavy code (JSON round trips, building
    dicts) 8-12x slower on CPython 3.11 in our measurements, and each live block costs
    a trace of tens of bytes. `stop()` ends tracing and frees the traces; `Profiling`
    also stops it after a quiet period.
    """

    def __init__(self, *, frames: int = 1) -> None:
        self.frames = frames
        self._previous: tracemalloc.Snapshot | None = None
        self._previous_at = 0.0
        self._started_here = False

    def snapshot(self, *, diff: bool, limit: int) -> dict[str, Any]:
        """Take a snapshot; return the top `limit` sites, diffed against the last one if asked."""
        started_now, snapshot = self._take()
        if started_now:
            self._previous = None
        now = time.monotonic()
        previous, previous_at = self._previous, self._previous_at
        self._previous, self._previous_at = snapshot, now
        compared = diff and previous is not None
        stats = (
            snapshot.compare_to(previous, "lineno")
            if previous is not None and diff
            else snapshot.statistics("lineno")
        )
        sites = []
        for stat in stats[:limit]:
            frame = stat.traceback[0]
            sites.append(
                HeapSite(
                    file=frame.filename,
                    line=frame.lineno,
                    size=stat.size,
                    count=stat.count,
                    size_diff=getattr(stat, "size_diff", 0),
                    count_diff=getattr(stat, "count_diff", 0),
                    code=linecache.getline(frame.filename, frame.lineno).strip(),
                )
            )
        current, peak = tracemalloc.get_traced_memory()
        return {
            "tracing": True,
            "started_now": started_now,
            "diff": compared,
            "diff_age_seconds": round(now - previous_at, 3) if compared else None,
            "traced_bytes": current,
            "peak_bytes": peak,
            "sites": [
                {
                    "file": s.file,
                    "line": s.line,
                    "size": s.size,
                    "count": s.count,
                    "size_diff": s.size_diff,
                    "count_diff": s.count_diff,
                    "code": s.code,
                }
                for s in sites
            ],
        }

    def current(self) -> tracemalloc.Snapshot:
        """Return a snapshot of the live blocks (starting tracing if needed); no diff kept."""
        return self._take()[1]

    def _take(self) -> tuple[bool, tracemalloc.Snapshot]:
        started_now = not tracemalloc.is_tracing()
        if started_now:
            tracemalloc.start(self.frames)
            self._started_here = True
        snapshot = tracemalloc.take_snapshot().filter_traces(
            (
                tracemalloc.Filter(False, tracemalloc.__file__),
                tracemalloc.Filter(False, __file__),
                tracemalloc.Filter(False, "<frozen importlib._bootstrap>"),
                tracemalloc.Filter(False, "<frozen importlib._bootstrap_external>"),
                tracemalloc.Filter(False, "<unknown>"),
            )
        )
        return started_now, snapshot

    def stop(self) -> bool:
        """Stop tracing if this tracker started it; return whether tracing is still on."""
        self._previous = None
        if self._started_here and tracemalloc.is_tracing():
            tracemalloc.stop()
        self._started_here = False
        return tracemalloc.is_tracing()


def _size(n: float, *, signed: bool = False) -> str:
    sign = "-" if n < 0 else "+" if signed else ""
    n = abs(n)
    for unit in ("B", "KiB", "MiB"):
        if n < 1024:
            return f"{sign}{n:.0f} {unit}" if unit == "B" else f"{sign}{n:.1f} {unit}"
        n /= 1024
    return f"{sign}{n:.1f} GiB"


def format_heap(report: dict[str, Any], *, diff_asked: bool) -> str:
    """Render `HeapTracker.snapshot()` as text."""
    lines = [
        f"heap: tracemalloc, traced {_size(report['traced_bytes'])} now, "
        f"peak {_size(report['peak_bytes'])}"
    ]
    lines.append("tracemalloc slows every allocation while it runs: end it with ?stop=1 when done")
    if report["started_now"]:
        lines.append(
            "tracing started with this request: only allocations from now on are traced; "
            "ask again with ?diff=1 to see what grew"
        )
    if report["diff"]:
        lines.append(f"diff against the snapshot taken {report['diff_age_seconds']}s ago")
    elif diff_asked:
        lines.append("no previous snapshot to diff against: this one is the baseline")
    lines.append("")
    for s in report["sites"]:
        if report["diff"]:
            grew = _size(s["size_diff"], signed=True)
            lines.append(
                f"{s['file']}:{s['line']}: size={_size(s['size'])} ({grew}), "
                f"count={s['count']} ({s['count_diff']:+d})"
            )
        else:
            lines.append(f"{s['file']}:{s['line']}: size={_size(s['size'])}, count={s['count']}")
        if s["code"]:
            lines.append(f"    {s['code']}")
    return "\n".join(lines) + "\n"


_SECRET_NAME = re.compile(r"pass|secret|token|key|credential|auth", re.IGNORECASE)


def redacted_argv() -> list[str]:
    """Return the process command line with values of secret-looking options hidden."""
    argv = list(getattr(sys, "orig_argv", sys.argv))
    out: list[str] = []
    hide_next = False
    for arg in argv:
        if hide_next:
            out.append(REDACTED)
            hide_next = False
            continue
        name, eq, _ = arg.partition("=")
        if arg.startswith("-") and _SECRET_NAME.search(name):
            if eq:
                out.append(f"{name}={REDACTED}")
                continue
            hide_next = True
        out.append(arg)
    return out
