from __future__ import annotations

from bastion.security._failures import FailureIndex


def test_a_key_is_clean_until_a_failure_is_marked_then_again_after_its_horizon() -> None:
    index = FailureIndex(10, known=True)
    assert index.clean("authfail:client:a", 100.0)
    index.mark("authfail:client:a", 120.0, now=100.0)
    assert not index.clean("authfail:client:a", 100.0)
    assert not index.clean("authfail:client:a", 219.9)
    assert index.clean("authfail:client:b", 150.0)  # another key is not affected
    assert index.clean("authfail:client:a", 220.0)
    assert len(index) == 0  # forgotten once it lapsed


def test_a_later_failure_extends_the_horizon_an_earlier_one_does_not_shorten_it() -> None:
    index = FailureIndex(10, known=True)
    index.mark("k", 120.0, now=100.0)
    index.mark("k", 120.0, now=150.0)  # clean again at 270
    index.mark("k", 10.0, now=160.0)  # a shorter horizon changes nothing
    assert not index.clean("k", 260.0)
    assert index.clean("k", 270.0)


def test_nothing_is_clean_while_the_store_view_is_unknown() -> None:
    index = FailureIndex(10, known=False)
    assert not index.clean("k", 0.0)
    index.known = True
    assert index.clean("k", 0.0)


def test_an_overflowing_record_forgets_everything_and_knows_nothing_until_all_lapsed() -> None:
    index = FailureIndex(3, known=True)
    for i in range(3):
        index.mark(f"k{i}", 60.0, now=float(i))
    index.mark("k3", 60.0, now=10.0)  # a fourth key: over the size, none has lapsed
    assert len(index) == 0  # memory stays bounded
    assert not index.clean("never-failed", 69.9)  # blind until the last one lapses
    index.mark("k4", 60.0, now=50.0)  # marks while blind push the end further
    assert not index.clean("never-failed", 100.0)
    assert index.clean("never-failed", 110.0)
    assert index.clean("k4", 110.0)


def test_lapsed_keys_make_room_before_the_record_overflows() -> None:
    index = FailureIndex(2, known=True)
    index.mark("old", 10.0, now=0.0)
    index.mark("older", 10.0, now=0.0)
    index.mark("new", 10.0, now=20.0)  # the two lapsed: room, no overflow
    assert len(index) == 1
    assert index.clean("other", 20.0) and not index.clean("new", 20.0)


def test_reservations_count_attempts_in_flight_per_key() -> None:
    index = FailureIndex(10, known=True)
    index.reserve(["a", "b"])
    index.reserve(["a"])
    assert index.pending == {"a": 2, "b": 1}
    index.release(["a", "b"])
    index.release(["a"])
    assert index.pending == {}
