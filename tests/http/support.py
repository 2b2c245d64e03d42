"""Helpers for the HTTP tests: an `Operation` built from one design method."""

from __future__ import annotations

from bastion.dsl.expr import MethodExpr
from bastion.endpoint import MethodInfo
from bastion.operations import Operation, payload_type_of, result_type_of
from bastion.schema.compile import TypeCompiler
from bastion.schema.validate import Collector
from bastion.types import Endpoint


def operation_for(method: MethodExpr, compiler: TypeCompiler,
                  call: Endpoint | None = None) -> Operation:
    """The `Operation` of one design method, its call a raw endpoint (no middleware)."""
    info = MethodInfo.of(method, payload_type_of(method, compiler),
                         result_type_of(method, compiler))
    op = Operation(method, info, Collector(compiler), secured=False)
    if call is not None:
        op.call = call
    return op
