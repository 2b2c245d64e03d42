"""`bastion gen proto`: the files of a design's gRPC services, to stdout or a folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from bastion.cli import main


def test_gen_proto_to_stdout_and_its_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gen", "proto", "tests.support.grpc_shop:api"]) == 0
    assert "service Shop {" in capsys.readouterr().out
    assert main(["gen", "proto", "examples.orders.design:api"]) == 2  # two services
    assert "-o" in capsys.readouterr().err


def test_gen_proto_writes_one_file_per_service_into_a_folder(tmp_path: Path) -> None:
    assert main(["gen", "proto", "examples.orders.design:api", "-o", str(tmp_path)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["health.proto", "orders.proto"]
    assert "service Orders {" in (tmp_path / "orders.proto").read_text()


def test_a_design_without_grpc_methods_has_nothing_to_write(
        capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gen", "proto", "tests.cli.test_proto:plain"]) == 2
    assert "has no gRPC method" in capsys.readouterr().err


def _plain() -> object:
    from bastion.dsl import API, GET, HTTP, Method, NoSecurity, Service

    with API("plain") as api:
        pass
    with Service("s"), Method("m"):
        NoSecurity()
        with HTTP():
            GET("/m")
    return api


plain = _plain()
