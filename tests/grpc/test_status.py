"""`failure_of`: the gRPC answer to an exception, which stays as it was raised."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2, status_pb2

from bastion.errors import ServiceError
from bastion.grpc._codec import Contract
from bastion.grpc._status import failure_of
from bastion.operations import InvalidPayload
from bastion.schema.validate import FieldError

ERRORS = {"not_found": (5, False, False, False)}


def _rename(path: str) -> tuple[str, str]:
    return f"wire_{path}", "message"


def _unnamed(err: ServiceError) -> str | None:
    return None


def test_a_design_error_named_by_its_value_gets_its_code_and_stays_unnamed() -> None:
    err = ServiceError(None, "no such item", value={"kind": "not_found"})
    failure = failure_of(err, ERRORS, domain="shop", goa_error=Contract([]).goa_error,
                         rename=_rename, error_name=lambda e: e.value["kind"])
    assert (failure.code, failure.name, failure.id) == (grpc.StatusCode.NOT_FOUND, "not_found",
                                                       err.id)
    assert not failure.internal and failure.error is err
    assert err.name is None  # named for the answer, not renamed in place


def test_a_design_error_no_name_reaches_is_internal() -> None:
    err = ServiceError(None, "no such item")
    failure = failure_of(err, ERRORS, domain="shop", goa_error=Contract([]).goa_error,
                         rename=_rename, error_name=_unnamed)
    assert failure.code is grpc.StatusCode.INTERNAL and failure.internal


def test_bad_fields_are_renamed_in_the_answer_only() -> None:
    errors = [FieldError("qty", "must be >= 1", "body")]
    err = InvalidPayload(errors)
    failure = failure_of(err, ERRORS, domain="shop", goa_error=Contract([]).goa_error,
                         rename=_rename, error_name=_unnamed)
    assert failure.code is grpc.StatusCode.INVALID_ARGUMENT
    status = status_pb2.Status.FromString(failure.details)
    bad = error_details_pb2.BadRequest()
    assert any(d.Unpack(bad) for d in status.details)
    assert [(v.field, v.description) for v in bad.field_violations] == [
        ("wire_qty", "must be >= 1")]
    assert err.errors == [FieldError("qty", "must be >= 1", "body")]
