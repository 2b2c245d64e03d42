"""`bastion gen proto`: the `.proto` files of a design's gRPC services.

One file per service with `GRPC()` methods, as Goa writes them, named after its package
(`orders.proto`, `shop/v1.proto` for `Package("shop.v1")`). The server serves exactly
these contracts: compile them with grpcio-tools (or protoc) to make clients::

    bastion gen proto examples.orders.design:api -o protos/
    python -m grpc_tools.protoc -I protos --python_out=. --grpc_python_out=. protos/orders.proto
"""

from __future__ import annotations

import sys
from pathlib import Path

from bastion.dsl.expr import APIExpr
from bastion.errors import BastionError

__all__ = ["ProtoError", "main", "render"]


class ProtoError(BastionError, ValueError):
    """The design has nothing to write, or more files than stdout can take."""


def render(api: APIExpr) -> dict[str, str]:
    """Each `.proto` file of the design, by its path; `ProtoError` if there are none."""
    try:
        from bastion.grpc import proto_files
    except ImportError as exc:
        raise ProtoError(f"bastion gen proto needs the grpc extra: pip install "
                         f"'bastion[grpc]' ({exc})") from None
    files = proto_files(api)
    if not files:
        raise ProtoError(f"design {api.name!r} has no gRPC method: add a GRPC() block to the "
                         "methods to serve over gRPC")
    return {f.filename: f.text() for f in files}


def main(api: APIExpr, output: str | None) -> int:
    """Write the files under `output` (a folder), or the one file to stdout."""
    files = render(api)
    if output is None:
        if len(files) > 1:
            raise ProtoError(f"design {api.name!r} has {len(files)} gRPC services "
                             f"({', '.join(sorted(files))}): write them to a folder with -o")
        sys.stdout.write(next(iter(files.values())))
        return 0
    root = Path(output)
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path}", file=sys.stderr)
    return 0
