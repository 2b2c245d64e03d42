"""`bastion gen proto` writes the contract the server serves: compiled by grpcio-tools."""

from __future__ import annotations

from pathlib import Path

import pytest
from examples.orders.design import api as orders_api
from google.protobuf import descriptor_pb2

from bastion.cli import main
from bastion.dsl import *
from bastion.errors import DesignError
from bastion.grpc import proto_files
from bastion.grpc._codec import Contract
from tests.support import grpc_shop
from tests.support.grpc import protoc


def _compiled(tmp_path: Path, api: APIExpr) -> dict[str, descriptor_pb2.FileDescriptorProto]:
    out = tmp_path / "protos"
    assert main(["gen", "proto", "examples.orders.design:api" if api is orders_api
                 else "tests.support.grpc_shop:api", "-o", str(out)]) == 0
    compiled = {}
    for path in sorted(out.rglob("*.proto")):
        rel = str(path.relative_to(out))
        assert protoc([f"-I{out}", f"--descriptor_set_out={tmp_path / 'set.pb'}", rel]) == 0
        fds = descriptor_pb2.FileDescriptorSet.FromString((tmp_path / "set.pb").read_bytes())
        compiled[rel] = fds.file[0]
    return compiled


@pytest.mark.parametrize("api", [orders_api, grpc_shop.api], ids=["orders", "shop"])
def test_the_generated_file_compiles_to_the_descriptors_the_server_serves(
        tmp_path: Path, api: APIExpr) -> None:
    compiled = _compiled(tmp_path, api)
    served = {f.filename: f.descriptor() for f in proto_files(api)}
    assert set(compiled) == set(served)
    for name, fd in served.items():
        assert compiled[name] == fd, name
    Contract(proto_files(api))  # and the server's pool takes them as they are


def test_the_shop_file_has_every_protobuf_construct() -> None:
    text = proto_files(grpc_shop.api)[0].text()
    for expected in (
        "package shoptest;",
        'import "google/protobuf/timestamp.proto";',
        "rpc Watch (WatchRequest) returns (stream WatchResponse);",
        "rpc Upload (stream UploadStreamingRequest) returns (UploadResponse);",
        "rpc Chat (stream ChatStreamingRequest) returns (stream ChatResponse);",
        "map<string, double> prices = 4;",
        "repeated string tags = 3;",
        "repeated Item parts = 7;",
        "optional Kind kind = 5;",
        "KIND_FANCY_ONE = 2;",
        "google.protobuf.Timestamp made_at = 6;",
        "optional sint32 qty = 2;",  # GetRequest: not required, has a default
        "string sku = 1;",
        "optional bytes data = 9;",
    ):
        assert expected in text, expected
    # Credentials and Metadata attributes travel as metadata, not in the message.
    get = text[text.index("message GetRequest"):]
    get = get[:get.index("}")]
    assert "token" not in get and "request_tag" not in get


def test_enum_values_that_make_one_constant_are_a_design_error() -> None:
    with API("clash"):
        pass
    with Service("s"):
        with Method("m"):
            NoSecurity()
            with Payload():
                Field(1, "mode", String, enum=["a-b", "a_b"])
            with GRPC():
                pass
    api = current_design()
    assert api is not None
    with pytest.raises(DesignError, match="same protobuf constant MODE_A_B"):
        proto_files(api)
