"""Request and error ids: one generator, one rule for the ids clients send."""

from __future__ import annotations

import pytest

from bastion._ids import ID_BITS, id_bits, is_valid_request_id, new_id


def test_new_ids_are_short_unique_and_safe_in_a_log_line() -> None:
    ids = {new_id() for _ in range(10_000)}
    assert len(ids) == 10_000
    assert all(len(i) == 16 and i.isalnum() for i in ids)


@pytest.mark.parametrize("value", [b"abc-123", b"a" * 128, b"trace:1/2+3=4._"])
def test_a_client_id_of_safe_characters_is_accepted(value: bytes) -> None:
    assert is_valid_request_id(value)
    assert is_valid_request_id(value.decode())  # as gRPC metadata carries it


@pytest.mark.parametrize(
    "value", [b"", b"a" * 129, b"abc\ninjected", b'abc"}', b"with space", b"caf\xc3\xa9"]
)
def test_a_client_id_that_could_forge_a_log_line_is_refused(value: bytes) -> None:
    assert not is_valid_request_id(value)
    assert not is_valid_request_id(value.decode("utf-8"))


def test_an_id_with_a_trailing_newline_is_refused() -> None:
    # `$` would match before a final newline; the rule matches the whole value.
    assert not is_valid_request_id(b"abc\n")
    assert not is_valid_request_id("abc\n")


def test_the_fast_form_is_new_id_inlined() -> None:
    ids = [f"{id_bits(ID_BITS):016x}" for _ in range(1000)]
    assert all(len(i) == len(new_id()) == 16 and int(i, 16) < 2**64 for i in ids)
