"""Profiling endpoints: CPU profiles of the live process, heap diffs, task dumps."""

from __future__ import annotations

import asyncio
import gc
import re
import threading
import time
import tracemalloc
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from bastion import log
from bastion._asgi import local_path, respond_json
from bastion.debug import ProfilerBusyError, Profiling, debug_app, pprof_app
from bastion.types import ASGIApp, Receive, Scope, Send
from tests.support.asgi import asgi_client
from tests.support.pprof import decode_profile
from tests.support.threaded import serve_in_thread


def spin_in_busy_handler(cpu_seconds: float) -> int:
    """Burns `cpu_seconds` of this thread's CPU time on the event loop, as a slow handler would.

    CPU time, not wall time: on a loaded machine a wall-clock spin may get almost no CPU,
    and then a sampling profiler rightly has almost nothing to show.
    """
    deadline = time.thread_time() + cpu_seconds
    n = 0
    while time.thread_time() < deadline:
        n += sum(i * i for i in range(200))
    return n


def service_app(debug: ASGIApp, profiling: Profiling) -> ASGIApp:
    """A service with one busy endpoint, its debug endpoints chained after it.

    `/busy` waits until a CPU profile is recording, then blocks the event loop while it
    spins: the profile's own timer runs on that loop, so the profile cannot end before
    the spin does, and the whole spin lies inside it whatever the machine's load.
    """

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and local_path(scope) == "/busy":
            for _ in range(6000):  # at most 30 s: a profile that never starts fails the test
                if profiling.cpu_profile_running:
                    break
                await asyncio.sleep(0.005)
            n = spin_in_busy_handler(0.5)
            await respond_json(scope, send, 200, {"n": n})
            return
        await debug(scope, receive, send)

    return app


@pytest.fixture
def live_server() -> Iterator[str]:
    """The service served by Bastion's server on 127.0.0.1, in a thread with its own loop."""
    logger = log.Logger(stream=None, format="json", sync=True)
    profiling = Profiling(interval=0.005)
    app = service_app(debug_app(logger, profiling=profiling), profiling)
    with serve_in_thread(app) as port:
        yield f"http://127.0.0.1:{port}"


async def profile_while_busy(base: str, params: dict[str, str]) -> httpx.Response:
    async with httpx.AsyncClient(base_url=base, timeout=60, trust_env=False) as c:
        busy = asyncio.create_task(c.get("/busy"))  # starts spinning once the profile runs
        profile = await c.get("/debug/pprof/profile", params=params)
        assert (await busy).status_code == 200
        return profile


@pytest.mark.integration
async def test_a_cpu_profile_of_the_live_process_names_the_busy_handler(live_server: str) -> None:
    response = await profile_while_busy(live_server, {"seconds": "2"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    speedscope = response.json()
    assert speedscope["$schema"] == "https://www.speedscope.app/file-format-schema.json"
    frames = speedscope["shared"]["frames"]
    busiest = speedscope["profiles"][0]
    assert busiest["type"] == "sampled"
    assert len(busiest["samples"]) == len(busiest["weights"]) > 0
    # The busiest thread (the event loop) spent its CPU in the handler's function.
    in_handler = sum(
        weight
        for stack, weight in zip(busiest["samples"], busiest["weights"], strict=True)
        if any(frames[i]["name"] == "spin_in_busy_handler" for i in stack)
    )
    assert in_handler > 0.5 * sum(busiest["weights"])
    assert any(f["name"] == "spin_in_busy_handler" and f["file"] == __file__ for f in frames)


def _names(profile: Any) -> dict[int, str]:
    strings = list(profile.string_table)
    return {f.id: strings[f.name] for f in profile.function}


def _leaf_function(profile: Any, sample: Any) -> int:
    locations = {loc.id: loc for loc in profile.location}
    return int(locations[sample.location_id[0]].line[0].function_id)


@pytest.mark.integration
async def test_a_pprof_cpu_profile_decodes_with_pprofs_schema(live_server: str) -> None:
    response = await profile_while_busy(live_server, {"seconds": "2", "format": "pprof"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    assert "profile.pb.gz" in response.headers["content-disposition"]
    assert response.content[:2] == b"\x1f\x8b"  # gzip, as Go serves it
    profile = decode_profile(response.content)
    strings = list(profile.string_table)
    types = [(strings[t.type], strings[t.unit]) for t in profile.sample_type]
    assert types == [("samples", "count"), ("cpu", "nanoseconds")]
    assert (strings[profile.period_type.type], profile.period) == ("cpu", 5_000_000)
    assert 1.9e9 < profile.duration_nanos < 60e9  # at least the 2 s asked; a spin may extend it
    assert profile.time_nanos > 1.6e18
    names = _names(profile)
    busy = {i for i, name in names.items() if name == "spin_in_busy_handler"}
    (busy_id,) = busy
    (function,) = [f for f in profile.function if f.id == busy_id]
    assert strings[function.filename] == __file__
    assert function.start_line == spin_in_busy_handler.__code__.co_firstlineno
    # Most CPU went to the handler; stacks are leaf first, root last.
    total = sum(s.value[1] for s in profile.sample)
    locations = {loc.id: loc for loc in profile.location}
    in_handler = sum(
        s.value[1]
        for s in profile.sample
        if any(locations[i].line[0].function_id == busy_id for i in s.location_id)
    )
    assert in_handler > 0.5 * total
    # Leaf first: samples end in the handler or in the generator it runs (names are
    # qualified names), never in the thread's root.
    inner = {"spin_in_busy_handler", "spin_in_busy_handler.<locals>.<genexpr>"}
    deepest = [s for s in profile.sample if names[_leaf_function(profile, s)] in inner]
    leaves = sorted({names[_leaf_function(profile, s)] for s in profile.sample})
    assert deepest, leaves  # said on failure: which functions the samples ended in
    labels = {strings[label.key] for s in profile.sample for label in s.label}
    assert labels == {"thread"}


@pytest.mark.integration
@pytest.mark.parametrize(("fmt", "content_type"), [("text", "text/plain"), ("html", "text/html")])
async def test_text_and_html_profiles_name_the_busy_handler(
    live_server: str, fmt: str, content_type: str
) -> None:
    response = await profile_while_busy(live_server, {"seconds": "1.5", "format": fmt})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith(content_type)
    assert "spin_in_busy_handler" in response.text


async def test_only_one_cpu_profile_runs_at_a_time() -> None:
    profiling = Profiling()
    async with asgi_client(pprof_app(profiling), timeout=30) as c:
        first = asyncio.create_task(c.get("/debug/pprof/profile", params={"seconds": "1"}))
        await asyncio.sleep(0.2)
        assert profiling.cpu_profile_running
        second = await c.get("/debug/pprof/profile", params={"seconds": "1"})
        assert second.status_code == 409
        assert "already running" in second.json()["message"]
        assert (await first).status_code == 200
        third = await c.get("/debug/pprof/profile", params={"seconds": "0.1"})
    assert third.status_code == 200
    assert not profiling.cpu_profile_running
    running = asyncio.create_task(profiling.cpu_profile(0.5))
    await asyncio.sleep(0.1)
    with pytest.raises(ProfilerBusyError):
        await profiling.cpu_profile(0.5)
    assert (await running).duration >= 0.5


@pytest.mark.parametrize(
    "params",
    [{"seconds": "0"}, {"seconds": "121"}, {"seconds": "soon"}, {"format": "pdf"}, {"mode": "x"}],
)
async def test_bad_profile_parameters_are_400(params: dict[str, str]) -> None:
    async with asgi_client(pprof_app(), timeout=30) as c:
        response = await c.get("/debug/pprof/profile", params=params)
    assert response.status_code == 400


async def test_wall_mode_samples_idle_threads_too() -> None:
    stop = threading.Event()
    idle = threading.Thread(target=stop.wait, name="idle-worker", daemon=True)
    idle.start()
    try:
        async with asgi_client(pprof_app(), timeout=30) as c:
            response = await c.get(
                "/debug/pprof/profile", params={"seconds": "0.3", "mode": "wall"}
            )
    finally:
        stop.set()
        idle.join()
    names = [p["name"] for p in response.json()["profiles"]]
    assert any(name.startswith("idle-worker") and name.endswith("wall time") for name in names)


def allocate_on_purpose() -> list[bytearray]:
    return [bytearray(1000) for _ in range(3000)]  # the deliberate allocation


ALLOCATION_LINE = allocate_on_purpose.__code__.co_firstlineno + 1


async def test_the_heap_diff_shows_a_deliberate_allocation() -> None:
    async with asgi_client(pprof_app(), timeout=30) as c:
        try:
            first = await c.get("/debug/pprof/heap")
            kept = allocate_on_purpose()
            diff = await c.get("/debug/pprof/heap", params={"diff": "1"})
            as_json = await c.get("/debug/pprof/heap", params={"diff": "1", "format": "json"})
        finally:
            stopped = await c.get("/debug/pprof/heap", params={"stop": "1"})
    assert first.status_code == 200
    assert "tracing started with this request" in first.text
    assert diff.status_code == 200
    site = f"{__file__}:{ALLOCATION_LINE}: size="
    lines = diff.text.splitlines()
    assert "diff against the snapshot taken" in diff.text
    # The deliberate allocation is the biggest growth: the first site listed.
    first_site = next(i for i, line in enumerate(lines) if line.startswith("/"))
    assert lines[first_site].startswith(site)
    # 3000 x 1000 bytes of buffers, plus object headers: about 3 MiB grew.
    assert re.search(r"size=\S+ MiB \(\+(2\.9|3\.\d) MiB\), count=\d+ \(\+\d+\)", lines[first_site])
    assert lines[first_site + 1].strip().startswith("return [bytearray(1000)")
    # Nothing grew between the second and third snapshots at that site.
    sites = {(s["file"], s["line"]): s for s in as_json.json()["sites"]}
    assert sites.get((__file__, ALLOCATION_LINE), {"size_diff": 0})["size_diff"] == 0
    assert stopped.json() == {"tracing": False}
    del kept
    gc.collect()


async def test_the_heap_in_pprof_format_shows_a_deliberate_allocation() -> None:
    async with asgi_client(pprof_app(), timeout=30) as c:
        try:
            await c.get("/debug/pprof/heap")  # tracing starts here
            kept = allocate_on_purpose()
            response = await c.get("/debug/pprof/heap", params={"format": "pprof"})
        finally:
            await c.get("/debug/pprof/heap", params={"stop": "1"})
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/octet-stream"
    profile = decode_profile(response.content)
    strings = list(profile.string_table)
    types = [(strings[t.type], strings[t.unit]) for t in profile.sample_type]
    assert types == [("inuse_objects", "count"), ("inuse_space", "bytes")]
    names = _names(profile)
    site = f"test_pprof.py:{ALLOCATION_LINE}"
    at_site = [s for s in profile.sample if names[_leaf_function(profile, s)] == site]
    assert sum(s.value[1] for s in at_site) > 2.9 * 2**20
    assert sum(s.value[0] for s in at_site) >= 3000
    del kept
    gc.collect()


@pytest.mark.parametrize("name", ["allocs", "block", "mutex", "threadcreate", "symbol", "trace"])
async def test_go_profiles_python_cannot_provide_say_why_and_what_instead(name: str) -> None:
    async with asgi_client(pprof_app(), timeout=30) as c:
        response = await c.get(f"/debug/pprof/{name}")
    assert response.status_code == 404
    body = response.json()
    assert sorted(body) == ["fault", "id", "message", "name", "temporary", "timeout"]
    assert (body["name"], body["temporary"], body["fault"]) == ("not_found", False, False)
    why, _, pages = body["message"].removeprefix(
        f"profile {name!r} is not available in a Python process: ").rpartition("; use ")
    assert len(why) > 20
    instead = pages.split(", ")
    assert instead and all(page.startswith("/debug/pprof/") for page in instead)
    async with asgi_client(pprof_app(), timeout=30) as c:
        try:
            for page in instead:
                if "seconds=" not in page:  # the CPU profile would take 30 s
                    assert (await c.get(page)).status_code == 200
        finally:
            await c.get("/debug/pprof/heap", params={"stop": "1"})
    assert not tracemalloc.is_tracing()


async def blocked_on_purpose(event: asyncio.Event) -> None:
    await event.wait()


async def test_the_task_dump_lists_a_task_blocked_on_purpose() -> None:
    event = asyncio.Event()
    task = asyncio.create_task(blocked_on_purpose(event), name="blocked-task")
    await asyncio.sleep(0)
    try:
        async with asgi_client(pprof_app(), timeout=30) as c:
            text = await c.get("/debug/pprof/tasks")
            as_json = await c.get("/debug/pprof/goroutine", params={"format": "json"})
    finally:
        event.set()
        await task
    assert text.status_code == 200
    dump = text.text
    assert "task 'blocked-task' (pending) coro=blocked_on_purpose" in dump
    block = dump.split("task 'blocked-task'")[1].split("\n\n")[0]
    assert f'File "{__file__}"' in block
    assert "in blocked_on_purpose\n    await event.wait()" in block
    assert "in Event.wait" in block  # the await chain reaches into asyncio
    assert "waiting on <Future pending" in block
    assert "runs the event loop" in dump
    tasks = {t["name"]: t for t in as_json.json()["tasks"]}
    stack = tasks["blocked-task"]["stack"]
    assert stack[0]["function"] == "blocked_on_purpose"
    assert stack[0]["code"] == "await event.wait()"
    threads = as_json.json()["threads"]
    assert threads[0]["event_loop"] is True
    assert threads[0]["name"] == threading.current_thread().name


async def test_the_index_and_cmdline() -> None:
    async with asgi_client(pprof_app(), timeout=30) as c:
        index = await c.get("/debug/pprof/")
        bare = await c.get("/debug/pprof")
        cmdline = await c.get("/debug/pprof/cmdline")
        unknown = await c.get("/debug/pprof/nonsense")
        elsewhere = await c.get("/metrics")
        post = await c.post("/debug/pprof/heap")
    assert index.status_code == bare.status_code == 200
    assert index.headers["content-type"].startswith("text/html")
    pages = ("profile?seconds=30", "heap", "tasks", "cmdline")
    for page in (*pages, "profile?seconds=30&amp;format=pprof", "heap?format=pprof"):
        assert f'href="/debug/pprof/{page}"' in index.text
    assert cmdline.status_code == 200
    assert "pytest" in cmdline.text
    assert "\x00" in cmdline.text
    assert unknown.status_code == elsewhere.status_code == 404
    assert post.status_code == 405


def test_cmdline_hides_secret_looking_options(monkeypatch: pytest.MonkeyPatch) -> None:
    from bastion.debug._pprof_dump import redacted_argv

    monkeypatch.setattr(
        "sys.orig_argv",
        ["python", "main.py", "--db-password=hunter2", "--api-token", "t0k", "--port", "80"],
    )
    assert redacted_argv() == [
        "python",
        "main.py",
        "--db-password=REDACTED",
        "--api-token",
        "REDACTED",
        "--port",
        "80",
    ]


@pytest.mark.skipif(tracemalloc.is_tracing(), reason="tracemalloc was started outside the test")
async def test_heap_tracing_stops_by_itself_after_a_quiet_period() -> None:
    profiling = Profiling(heap_idle_stop=0.6)
    async with asgi_client(pprof_app(profiling), timeout=30) as c:
        await c.get("/debug/pprof/heap")
        assert tracemalloc.is_tracing()
        await asyncio.sleep(0.3)
        await c.get("/debug/pprof/heap")  # a new request restarts the quiet period
        await asyncio.sleep(0.45)  # past the first deadline, before the second
        assert tracemalloc.is_tracing()
        await asyncio.sleep(0.6)
    assert not tracemalloc.is_tracing()


def test_an_idle_profile_is_still_a_valid_speedscope_file() -> None:
    from bastion.debug._pprof_sampler import CPUProfile, to_speedscope

    data = to_speedscope(CPUProfile(mode="cpu", interval=0.01))
    assert data["profiles"][0]["samples"] == []
    assert data["profiles"][0]["name"].startswith("no samples")
