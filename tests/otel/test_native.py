"""bastion.otel._native: the same decisions and counts as its Python twins, whole under threads.

The sampler's root decisions (`Keeper`) and the metric cells (`Active`, `Cell`).
"""

from __future__ import annotations

import math
import os
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bastion._cext import load
from bastion.otel import _metrics as metrics
from bastion.otel._metrics import BODY_SIZE_BUCKETS, DURATION_BUCKETS
from bastion.otel._sampler import AdaptiveSampler
from tests.support.clock import FakeClock

ROOT = Path(__file__).resolve().parents[2]
SOURCE = ROOT / "src" / "bastion" / "otel" / "_native.c"
native = metrics.NATIVE

# Both kinds of cell, built the way _metrics builds each.
KINDS = [pytest.param((metrics._PyActive, metrics._PyCell), id="python")]
if native is not None:
    KINDS.append(pytest.param(
        (native.Active, lambda attrs: native.Cell(attrs, DURATION_BUCKETS, BODY_SIZE_BUCKETS)),
        id="c"))


def test_the_c_cells_are_built_in_this_environment() -> None:
    # `make venv` compiles them (hatch_build.py): a red here is a broken build, which would
    # otherwise only show as slower requests.
    assert native is not None, "bastion.otel._native was not built, or not from this source"
    assert metrics.new_active is native.Active


def test_the_sampler_decides_in_c_when_it_is_built() -> None:
    assert native is not None
    assert type(AdaptiveSampler().keep_root.__self__) is native.Keeper  # type: ignore[attr-defined]


@settings(max_examples=200, deadline=None)
@given(
    rate=st.floats(0.1, 50),
    sample_size=st.integers(1, 30),
    max_interval=st.floats(0.01, 2),
    seed=st.integers(0, 2**32),
    # Gaps between roots: bursts (0), steady traffic and pauses longer than the interval.
    gaps=st.lists(st.one_of(st.just(0.0), st.floats(0, 0.05), st.floats(0, 3)), max_size=300),
)
def test_c_and_python_samplers_keep_the_same_roots(
    rate: float, sample_size: int, max_interval: float, seed: int, gaps: list[float],
) -> None:
    # One sampler holds both: the Python state (`_keep_root`) and the C keeper, each
    # drawing from its own random source seeded alike, both reading the one clock.
    clock = FakeClock()
    sampler = AdaptiveSampler(rate, sample_size=sample_size, max_interval=max_interval,
                              clock=clock, seed=seed)
    python, c = [], []
    for gap in gaps:
        clock.now += gap
        python.append(sampler._keep_root())
        c.append(sampler.keep_root())
    assert c == python


def test_the_keeper_refuses_what_the_sampler_refuses() -> None:
    assert native is not None
    for args in ((0, 10, 0.5), (2, 0, 0.5), (2, 10, 0)):
        with pytest.raises(ValueError, match="Keeper"):
            native.Keeper(*args, lambda: 0.0, lambda: 0.5)
    broken = native.Keeper(2, 10, 0.5, lambda: 0.0, lambda: 0.5)
    assert broken.keep() is True
    failing = native.Keeper(2, 10, 0.5, iter([0.0]).__next__, lambda: 0.5)
    with pytest.raises(StopIteration):
        failing.keep()  # a clock that fails fails the call, as in Python


_REQUEST = st.tuples(
    # Durations around and on the bounds (inclusive upper bounds), sizes likewise.
    st.one_of(st.floats(0, 20), st.sampled_from([0.0, *DURATION_BUCKETS, 10.0001])),
    st.one_of(st.integers(0, 2**40), st.sampled_from([0, *map(int, BODY_SIZE_BUCKETS)])),
    st.one_of(st.integers(0, 2**40), st.sampled_from([1, *map(int, BODY_SIZE_BUCKETS)])),
)


@settings(max_examples=300, deadline=None)
@given(requests=st.lists(_REQUEST, max_size=40))
def test_c_and_python_cells_agree_number_for_number(
    requests: list[tuple[float, int, int]],
) -> None:
    assert native is not None
    got = []
    for new_active, new_cell in ((metrics._PyActive, metrics._PyCell),
                                 (native.Active, metrics.new_cell)):
        active, cell = new_active({"k": "v"}), new_cell({"k": "v"})
        for _ in requests:
            active.enter()
        for duration, request_bytes, response_bytes in requests[: len(requests) // 2]:
            cell.record(active, duration, request_bytes, response_bytes)
        got.append((active.value, cell.count, cell.snapshot()))
    assert got[0] == got[1]


@pytest.mark.parametrize("kind", KINDS)
def test_a_cell_counts_each_request_in_its_bucket(kind: Any) -> None:
    new_active, new_cell = kind
    active, cell = new_active({"a": 1}), new_cell({"http.route": "/x"})
    active.enter()
    active.enter()
    cell.record(active, 0.005, 0, 5000)  # on a bound: its bucket (inclusive)
    cell.record(active, 0.0051, 120, 0)
    count, (duration, request_size, response_size) = cell.snapshot()
    assert (active.value, count, cell.count) == (0, 2, 2)
    assert cell.attributes == {"http.route": "/x"}
    assert duration[0][:3] == [1, 1, 0] and sum(duration[0]) == 2
    assert duration[1] == pytest.approx(0.0101) and duration[2:] == (0.005, 0.0051)
    assert request_size[1:] == (120, 0, 120) and response_size[1:] == (5000, 0, 5000)
    assert len(duration[0]) == len(DURATION_BUCKETS) + 1
    assert len(response_size[0]) == len(BODY_SIZE_BUCKETS) + 1


@pytest.mark.parametrize("kind", KINDS)
def test_an_empty_cell_has_no_min_or_max(kind: Any) -> None:
    _, new_cell = kind
    count, (duration, *_) = new_cell({}).snapshot()
    assert count == 0 and duration[1] == 0 and duration[2] == math.inf
    assert duration[3] == -math.inf


@pytest.mark.parametrize("kind", KINDS)
def test_records_from_many_threads_are_all_counted(kind: Any) -> None:
    new_active, new_cell = kind
    active, cell = new_active({}), new_cell({})
    per_thread, threads = 20_000, 4
    start = threading.Barrier(threads)

    def work() -> None:
        start.wait()
        for i in range(per_thread):
            active.enter()
            cell.record(active, 0.001 * (i % 7), i % 3, 100)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    count, (duration, request_size, response_size) = cell.snapshot()
    total = per_thread * threads
    assert (count, active.value) == (total, 0)
    assert sum(duration[0]) == sum(request_size[0]) == sum(response_size[0]) == total
    assert response_size[1] == 100 * total


def test_the_c_cell_refuses_what_it_cannot_hold() -> None:
    assert native is not None
    with pytest.raises(ValueError, match="increasing"):
        native.Cell({}, (0.1, 0.1), (0,))
    with pytest.raises(ValueError, match="at most 32"):
        native.Cell({}, tuple(range(33)), (0,))
    cell = native.Cell({}, (1.0,), (0.0,))
    with pytest.raises(TypeError, match="Active"):
        cell.record(object(), 0.1, 0, 0)
    active = native.Active({})
    with pytest.raises(TypeError):
        cell.record(active, "slow", 0, 0)
    with pytest.raises(TypeError):
        cell.record(active, 0.1, 0)
    assert cell.count == 0 and active.value == 0  # a refused call changes nothing


def test_a_build_of_another_source_is_not_loaded(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    same = tmp_path / "same.c"
    same.write_bytes(SOURCE.read_bytes())
    edited = tmp_path / "edited.c"
    edited.write_bytes(SOURCE.read_bytes() + b"\n/* edited */\n")
    assert load("bastion.otel._native", same) is native
    assert load("bastion.otel._native", edited) is None  # stale: Python cells instead
    assert load("bastion.otel._native", tmp_path / "absent.c") is native  # a wheel
    monkeypatch.setenv("BASTION_NATIVE", "0")
    assert load("bastion.otel._native", same) is None


def test_without_the_c_module_the_metrics_and_sampler_tests_pass() -> None:
    env = {**os.environ, "BASTION_NATIVE": "0"}
    check = subprocess.run(
        [sys.executable, "-c", "from bastion.otel import _metrics as m; "
         "assert m.NATIVE is None and m.new_cell is m._PyCell; "
         "from bastion.otel._sampler import AdaptiveSampler as A; s = A(); "
         "assert s.keep_root == s._keep_root"], env=env, cwd=ROOT, check=False)
    assert check.returncode == 0
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
         "tests/otel/test_metrics.py", "tests/otel/test_prometheus.py",
         "tests/otel/test_sampler.py"], env=env, cwd=ROOT,
        capture_output=True, text=True, check=False)
    assert run.returncode == 0, run.stdout[-2000:]
