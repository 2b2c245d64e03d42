"""A sampling CPU profiler of every thread of the live process, and its renderers.

Why not `pyinstrument.Profiler` directly: it hooks the thread that starts it and, in
async mode, follows only the current task, so a profile requested over HTTP would show
the profiling request waiting, not the other requests doing the work. This sampler
runs in its own thread and reads every thread's stack with `sys._current_frames()`, the
way py-spy does from outside. In "cpu" mode each sample is weighted by the CPU time the
thread used since the previous sample (Linux thread CPU clocks), so idle threads and an
idle event loop drop out, as in Go's CPU profile; "wall" mode weights by elapsed time.

Samples use pyinstrument's frame identifiers, so its HTML and text renderers draw them;
speedscope JSON is written here, one sampled profile per thread.
"""

from __future__ import annotations

import os
import sys
import threading
import time
from dataclasses import dataclass, field
from types import CodeType, FrameType
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from pyinstrument.session import Session

__all__ = ["CPUProfile", "Mode", "Sample", "Sampler", "to_html", "to_speedscope", "to_text"]

Mode = Literal["cpu", "wall"]

SPEEDSCOPE_SCHEMA = "https://www.speedscope.app/file-format-schema.json"
# Linux encodes a thread's CPU clock as a negative clock id built from its kernel TID
# (glibc's make_thread_cpuclock: CPUCLOCK_SCHED | CPUCLOCK_PERTHREAD_MASK). Reading an
# exited thread's clock fails with EINVAL instead of touching freed memory, which
# `pthread_getcpuclockid` on a stale pthread_t could do.
_THREAD_CPU_CLOCKS = sys.platform.startswith("linux") and hasattr(time, "clock_gettime")


@dataclass(frozen=True, slots=True)
class Sample:
    """One stack of one thread, root first, weighted in seconds."""

    thread: int
    stack: tuple[str, ...]
    weight: float


@dataclass(slots=True)
class CPUProfile:
    """What a `Sampler` recorded."""

    mode: Mode
    interval: float
    started: float = field(default_factory=time.time)
    duration: float = 0.0
    cpu_time: float = 0.0
    samples: list[Sample] = field(default_factory=list)
    threads: dict[int, str] = field(default_factory=dict)


class Sampler:
    """Samples every other thread's Python stack every `interval` seconds, in a thread."""

    def __init__(self, *, interval: float = 0.01, mode: Mode = "cpu") -> None:
        if mode == "cpu" and not _THREAD_CPU_CLOCKS:
            mode = "wall"  # no per-thread CPU clocks here: weight by elapsed time instead
        self.profile = CPUProfile(mode=mode, interval=interval)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bastion-cpu-profiler", daemon=True)
        self._wall0 = 0.0
        self._cpu0 = 0.0

    def start(self) -> None:
        """Start sampling."""
        self._wall0 = time.perf_counter()
        self._cpu0 = time.process_time()
        self._thread.start()

    def stop(self) -> CPUProfile:
        """Stop sampling (waits at most one interval) and return the profile."""
        self._stop.set()
        self._thread.join()
        self.profile.duration = time.perf_counter() - self._wall0
        self.profile.cpu_time = time.process_time() - self._cpu0
        return self.profile

    def _run(self) -> None:
        own = threading.get_ident()
        profile = self.profile
        cpu = profile.mode == "cpu"
        identifiers: dict[CodeType, str] = {}
        native: dict[int, int] = {}
        last_cpu: dict[int, float] = {}
        last_wall = time.perf_counter()
        seen: set[int] = set()
        if cpu:
            self._refresh_threads(native)
            for ident, tid in native.items():
                used = _thread_cpu(tid)
                if used is not None:
                    last_cpu[ident] = used
        while not self._stop.wait(profile.interval):
            now = time.perf_counter()
            wall, last_wall = now - last_wall, now
            frames = sys._current_frames()
            for ident, frame in frames.items():
                if ident == own:
                    continue
                if ident not in seen:
                    seen.add(ident)
                    self._refresh_threads(native)
                if cpu:
                    used = _thread_cpu(native.get(ident))
                    if used is None:
                        continue
                    previous = last_cpu.get(ident)
                    last_cpu[ident] = used
                    if previous is None or used <= previous:
                        continue
                    weight = used - previous
                else:
                    weight = wall
                profile.samples.append(Sample(ident, _stack(frame, identifiers), weight))
            # Frames keep their locals alive: drop them before sleeping.
            del frames

    def _refresh_threads(self, native: dict[int, int]) -> None:
        for thread in threading.enumerate():
            if thread.ident is not None:
                self.profile.threads[thread.ident] = thread.name
                if thread.native_id is not None:
                    native[thread.ident] = thread.native_id


def _thread_cpu(tid: int | None) -> float | None:
    if tid is None:
        return None
    try:
        return time.clock_gettime((~tid << 3) | 6)
    except OSError:
        return None  # the thread exited since it was listed


def _stack(frame: FrameType | None, identifiers: dict[CodeType, str]) -> tuple[str, ...]:
    stack = []
    while frame is not None:
        code = frame.f_code
        identifier = identifiers.get(code)
        if identifier is None:
            # pyinstrument's identifier format: name NUL file NUL first line.
            identifier = f"{code.co_qualname}\x00{code.co_filename}\x00{code.co_firstlineno}"
            identifiers[code] = identifier
        stack.append(identifier)
        frame = frame.f_back
    stack.reverse()
    return tuple(stack)


def _thread_label(profile: CPUProfile, ident: int) -> str:
    return f"{profile.threads.get(ident, 'thread')} ({ident})"


def to_speedscope(profile: CPUProfile) -> dict[str, Any]:
    """Return the profile as speedscope JSON: one sampled profile per thread, busiest first."""
    frames: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    per_thread: dict[int, tuple[list[list[int]], list[float]]] = {}
    for sample in profile.samples:
        stack = []
        for identifier in sample.stack:
            i = index.get(identifier)
            if i is None:
                name, file, line = identifier.split("\x00")
                i = index[identifier] = len(frames)
                frames.append({"name": name, "file": file, "line": int(line)})
            stack.append(i)
        stacks, weights = per_thread.setdefault(sample.thread, ([], []))
        stacks.append(stack)
        weights.append(sample.weight)
    profiles = [
        {
            "type": "sampled",
            "name": f"{_thread_label(profile, ident)} {profile.mode} time",
            "unit": "seconds",
            "startValue": 0,
            "endValue": sum(weights),
            "samples": stacks,
            "weights": weights,
        }
        for ident, (stacks, weights) in sorted(
            per_thread.items(), key=lambda item: -sum(item[1][1])
        )
    ]
    if not profiles:
        # speedscope refuses a file without profiles: say plainly that nothing ran.
        profiles.append(
            {
                "type": "sampled",
                "name": "no samples: no thread used the CPU during the window",
                "unit": "seconds",
                "startValue": 0,
                "endValue": 0,
                "samples": [],
                "weights": [],
            }
        )
    return {
        "$schema": SPEEDSCOPE_SCHEMA,
        "name": f"process {os.getpid()}: {profile.mode} profile, {profile.duration:.1f}s, "
        f"{len(profile.samples)} samples",
        "exporter": "bastion",
        "activeProfileIndex": 0,
        "shared": {"frames": frames},
        "profiles": profiles,
    }


def _session(profile: CPUProfile) -> Session:
    # pyinstrument is imported when a profile is rendered, not when the App starts.
    from pyinstrument.session import Session

    records = [
        (
            [f"{profile.threads.get(s.thread, 'thread')}\x00<thread>\x00{s.thread}", *s.stack],
            s.weight,
        )
        for s in profile.samples
    ]
    # The documented saved-session format, so no private constructor is relied on.
    session: Session = Session.from_json(
        {
            "frame_records": records,
            "start_time": profile.started,
            "duration": profile.duration,
            "min_interval": profile.interval,
            "max_interval": profile.interval,
            "sample_count": len(records),
            # Matches no frame, so renderers keep every thread's full stack.
            "start_call_stack": ["<bastion>\x00<profile>\x000"],
            "target_description": f"{profile.mode} profile of every thread",
            "cpu_time": profile.cpu_time,
            "sys_path": list(sys.path),
            "sys_prefixes": Session.current_sys_prefixes(),
        }
    )
    return session


def to_html(profile: CPUProfile) -> str:
    """Return pyinstrument's interactive HTML view of the profile."""
    from pyinstrument.renderers import HTMLRenderer

    return str(HTMLRenderer().render(_session(profile)))


def to_text(profile: CPUProfile) -> str:
    """Return pyinstrument's call tree of the profile as plain text."""
    header = (
        f"process {os.getpid()}: {profile.mode} profile of every thread: {profile.duration:.2f}s, "
        f"{len(profile.samples)} samples every {profile.interval * 1000:g} ms, "
        f"process CPU {profile.cpu_time:.2f}s\n"
    )
    if not profile.samples:
        return header + "no samples: no thread used the CPU during the window\n"
    from pyinstrument.renderers import ConsoleRenderer

    body = ConsoleRenderer(unicode=True, color=False, time="seconds").render(_session(profile))
    return header + str(body)
