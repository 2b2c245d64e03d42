"""Profiling endpoints under `/debug/pprof/`, Go's net/http/pprof for a Python service.

- `profile?seconds=N`: CPU profile of every thread of the live process (default 30 s,
  at most 120 s) as speedscope JSON, `format=html` (pyinstrument's flame view),
  `format=text` or `format=pprof` (gzipped `profile.proto`, for `go tool pprof` and
  Pyroscope); `mode=wall` weights samples by elapsed instead of CPU time. One at a
  time: a second request gets 409.
- `heap`: top allocation sites (tracemalloc, started on first use); `diff=1` compares
  with the previous snapshot; `stop=1` ends tracing; `format=pprof` is the live heap
  as a gzipped `profile.proto`.
- `tasks` (alias `goroutine`): every asyncio task and every thread, with its stack.
- `cmdline`: the command line, arguments separated by NUL bytes.

Go's `allocs`, `block`, `mutex`, `threadcreate`, `symbol` and `trace` have no Python
equivalent: they answer 404 with Bastion's error body, its message saying why and which
pages to use instead.

These endpoints show a process's internals: serve them on the admin listener, or behind
a security scheme (see `bastion.debug.debug_app`).
"""

from __future__ import annotations

import asyncio
import html
import math
import threading
from typing import Any

import msgspec

from bastion._asgi import (
    local_path,
    method_not_allowed,
    query,
    respond,
    respond_error,
    respond_json,
)
from bastion.debug._pprof_dump import (
    HeapTracker,
    dump_stacks,
    format_heap,
    format_stacks,
    redacted_argv,
)
from bastion.debug._pprof_proto import CONTENT_TYPE as PPROF_CONTENT_TYPE
from bastion.debug._pprof_proto import cpu_pprof, heap_pprof
from bastion.debug._pprof_sampler import (
    CPUProfile,
    Mode,
    Sampler,
    to_html,
    to_speedscope,
    to_text,
)
from bastion.errors import BastionError
from bastion.types import ASGIApp, Receive, Scope, Send

__all__ = [
    "PPROF_PREFIX",
    "CPUProfile",
    "ProfilerBusyError",
    "Profiling",
    "is_pprof_path",
    "pprof_app",
]

#: Where `pprof_app` serves its pages.
PPROF_PREFIX = "/debug/pprof"

_FORMATS = {"speedscope", "html", "text", "pprof"}

#: Go's profiles that Bastion cannot provide: why, and what to use instead.
UNAVAILABLE: dict[str, tuple[str, tuple[str, ...]]] = {
    "allocs": (
        "CPython keeps no sample of past allocations, only of live blocks (tracemalloc)",
        ("heap", "heap?diff=1", "heap?format=pprof"),
    ),
    "block": (
        "CPython records no time spent blocked on channels or locks; wall-clock samples "
        "show where threads wait",
        ("profile?seconds=30&mode=wall", "tasks"),
    ),
    "mutex": (
        "CPython records no lock contention; wall-clock samples show threads waiting on locks",
        ("profile?seconds=30&mode=wall", "tasks"),
    ),
    "threadcreate": (
        "CPython records no stack of where threads were created",
        ("tasks",),
    ),
    "symbol": (
        "Python profiles carry function names, files and lines: there is nothing to look up",
        ("profile?seconds=30&format=pprof",),
    ),
    "trace": (
        "CPython has no execution tracer like Go's; requests are traced with OpenTelemetry",
        ("profile?seconds=30&mode=wall", "tasks"),
    ),
}
_MODES: dict[str, Mode] = {"cpu": "cpu", "wall": "wall"}


class ProfilerBusyError(BastionError, RuntimeError):
    """A CPU profile is already running; only one runs at a time."""


class Profiling:
    """The profiling state one App owns: the one-CPU-profile-at-a-time guard, heap snapshots.

    `interval` is the CPU sampling period (100 Hz by default, like Go); `heap_frames` is
    how many frames tracemalloc keeps per allocation (1 is the cheapest and names the
    allocating line). Heap tracing slows allocations several times over, so it stops by
    itself `heap_idle_stop` seconds after the last heap request (None: never).
    """

    def __init__(
        self,
        *,
        default_seconds: float = 30.0,
        max_seconds: float = 120.0,
        interval: float = 0.01,
        heap_frames: int = 1,
        heap_idle_stop: float | None = 600.0,
    ) -> None:
        self.default_seconds = default_seconds
        self.max_seconds = max_seconds
        self.interval = interval
        self.heap = HeapTracker(frames=heap_frames)
        self.heap_idle_stop = heap_idle_stop
        self._heap_timer: asyncio.TimerHandle | None = None
        # A threading lock, not an asyncio one: apps on several loops share one process.
        self._cpu = threading.Lock()

    async def heap_snapshot(self, *, diff: bool = False, limit: int = 25) -> dict[str, Any]:
        """Take a heap snapshot (starting tracemalloc if needed); see `heap?diff=1`."""
        report: dict[str, Any] = await asyncio.to_thread(self.heap.snapshot, diff=diff, limit=limit)
        self._rearm_heap_stop()
        return report

    async def heap_pprof(self) -> bytes:
        """Return the live heap as a gzipped `profile.proto` (starting tracemalloc if needed)."""

        def take() -> bytes:
            return heap_pprof(self.heap.current())

        body = await asyncio.to_thread(take)
        self._rearm_heap_stop()
        return body

    def stop_heap(self) -> bool:
        """Stop heap tracing if this App started it; return whether tracing is still on."""
        if self._heap_timer is not None:
            self._heap_timer.cancel()
            self._heap_timer = None
        return self.heap.stop()

    def _rearm_heap_stop(self) -> None:
        if self._heap_timer is not None:
            self._heap_timer.cancel()
            self._heap_timer = None
        if self.heap_idle_stop is not None:
            loop = asyncio.get_running_loop()
            self._heap_timer = loop.call_later(self.heap_idle_stop, self.stop_heap)

    @property
    def cpu_profile_running(self) -> bool:
        """True while a CPU profile is being recorded."""
        return self._cpu.locked()

    async def cpu_profile(self, seconds: float, *, mode: Mode = "cpu") -> CPUProfile:
        """Sample every thread for `seconds` while the event loop keeps serving."""
        if not self._cpu.acquire(blocking=False):
            raise ProfilerBusyError("a CPU profile is already running; try again when it ends")
        try:
            sampler = Sampler(interval=self.interval, mode=mode)
            sampler.start()
            try:
                await asyncio.sleep(seconds)
            finally:
                # Returns within one sampling interval; fine to wait on the loop.
                profile = sampler.stop()
            return profile
        finally:
            self._cpu.release()


def is_pprof_path(path: str) -> bool:
    """Return whether `pprof_app` serves `path`."""
    return path == PPROF_PREFIX or path.startswith(PPROF_PREFIX + "/")


def pprof_app(profiling: Profiling | None = None) -> ASGIApp:
    """Return an ASGI app serving `/debug/pprof/...`; 404 for any other path."""
    state = profiling or Profiling()

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        path = local_path(scope)
        if not is_pprof_path(path):
            await respond_error(scope, send, 404, "not found")
            return
        if scope.get("method") not in ("GET", "HEAD"):
            await method_not_allowed(scope, send, "GET, HEAD")
            return
        name = path[len(PPROF_PREFIX) :].strip("/")
        params = query(scope)
        if name == "":
            await _index(scope, send)
        elif name == "profile":
            await _profile(state, scope, send, params)
        elif name == "heap":
            await _heap(state, scope, send, params)
        elif name in ("tasks", "goroutine"):
            dump = dump_stacks()
            if params.get("format") == "json":
                await respond_json(scope, send, 200, dump)
            else:
                await respond(scope, send, 200, format_stacks(dump).encode(), b"text/plain")
        elif name == "cmdline":
            body = "\x00".join(redacted_argv()).encode()
            await respond(scope, send, 200, body, b"text/plain; charset=utf-8")
        elif name in UNAVAILABLE:
            await _unavailable(scope, send, name)
        else:
            await respond_error(scope, send, 404, f"unknown profile {name!r}")

    return app


async def _unavailable(scope: Scope, send: Send, name: str) -> None:
    # The one error body every listener answers; its message carries why and the pages
    # to use instead, so a user who typed Go's URL learns where to go.
    why, instead = UNAVAILABLE[name]
    base = scope.get("root_path", "") + PPROF_PREFIX
    pages = ", ".join(f"{base}/{page}" for page in instead)
    message = f"profile {name!r} is not available in a Python process: {why}; use {pages}"
    await respond_error(scope, send, 404, message)


async def _profile(state: Profiling, scope: Scope, send: Send, params: dict[str, str]) -> None:
    try:
        seconds = float(params.get("seconds", state.default_seconds))
    except ValueError:
        seconds = math.nan
    if not (0 < seconds <= state.max_seconds):
        await respond_error(
            scope, send, 400, f"seconds must be a number in (0, {state.max_seconds:g}]"
        )
        return
    fmt = params.get("format", "speedscope")
    if fmt not in _FORMATS:
        await respond_error(scope, send, 400, "format must be speedscope, html, text or pprof")
        return
    mode = _MODES.get(params.get("mode", "cpu"))
    if mode is None:
        await respond_error(scope, send, 400, "mode must be cpu or wall")
        return
    try:
        profile = await state.cpu_profile(seconds, mode=mode)
    except ProfilerBusyError as err:
        await respond_error(scope, send, 409, str(err))
        return
    # Rendering thousands of samples takes a moment: keep it off the event loop.
    body, content_type, extra = await asyncio.to_thread(_render, profile, fmt)
    await respond(scope, send, 200, body, content_type, headers=extra)


def _render(profile: CPUProfile, fmt: str) -> tuple[bytes, bytes, list[tuple[bytes, bytes]]]:
    if fmt == "pprof":
        disposition = (b"content-disposition", b'attachment; filename="profile.pb.gz"')
        return cpu_pprof(profile), PPROF_CONTENT_TYPE, [disposition]
    if fmt == "html":
        return to_html(profile).encode(), b"text/html; charset=utf-8", []
    if fmt == "text":
        return to_text(profile).encode(), b"text/plain; charset=utf-8", []
    disposition = (b"content-disposition", b'attachment; filename="profile.speedscope.json"')
    return msgspec.json.encode(to_speedscope(profile)), b"application/json", [disposition]


async def _heap(state: Profiling, scope: Scope, send: Send, params: dict[str, str]) -> None:
    if params.get("stop") in ("1", "true", "on"):
        tracing = state.stop_heap()
        await respond_json(scope, send, 200, {"tracing": tracing})
        return
    try:
        limit = int(params.get("limit", "25"))
    except ValueError:
        limit = 0
    if limit < 1:
        await respond_error(scope, send, 400, "limit must be a positive integer")
        return
    if params.get("format") == "pprof":
        body = await state.heap_pprof()
        disposition = (b"content-disposition", b'attachment; filename="heap.pb.gz"')
        await respond(scope, send, 200, body, PPROF_CONTENT_TYPE, headers=[disposition])
        return
    diff = params.get("diff") in ("1", "true", "on")
    report = await state.heap_snapshot(diff=diff, limit=limit)
    if params.get("format") == "json":
        await respond_json(scope, send, 200, report)
    else:
        text = format_heap(report, diff_asked=diff)
        await respond(scope, send, 200, text.encode(), b"text/plain; charset=utf-8")


_PAGES = (
    (
        "profile?seconds=30",
        "CPU profile of every thread; format=speedscope|html|text, mode=cpu|wall",
    ),
    ("profile?seconds=30&format=html", "the same, as an interactive flame view"),
    (
        "profile?seconds=30&format=pprof",
        "the same, as gzipped profile.proto for go tool pprof and Pyroscope",
    ),
    ("heap", "top allocation sites (tracemalloc; starts tracing on first use)"),
    ("heap?diff=1", "allocation growth since the previous heap snapshot"),
    ("heap?format=pprof", "the live heap as gzipped profile.proto (inuse_objects, inuse_space)"),
    ("tasks", "every asyncio task and every thread, with its stack"),
    ("cmdline", "the command line, arguments separated by NUL bytes"),
)


async def _index(scope: Scope, send: Send) -> None:
    base = html.escape(scope.get("root_path", "") + PPROF_PREFIX)
    items = "\n".join(
        f'<li><a href="{base}/{html.escape(href)}">{html.escape(href)}</a>: '
        f"{html.escape(text)}</li>"
        for href, text in _PAGES
    )
    page = (
        "<!doctype html><html><head><meta charset=utf-8><title>/debug/pprof/</title></head>"
        f"<body><h1>/debug/pprof/</h1><ul>\n{items}\n</ul>"
        "<p>Open speedscope JSON with speedscope; read the pprof files with "
        "<code>go tool pprof</code> or send them to Pyroscope.</p>"
        "</body></html>"
    )
    await respond(scope, send, 200, page.encode(), b"text/html; charset=utf-8")
