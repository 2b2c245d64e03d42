"""The `bastion` command: serve an app, generate artefacts, check a design, show config.

    bastion serve examples.orders.main:app [--reload]
    bastion gen openapi examples.orders.design:api [-o openapi.json] [--yaml]
    bastion gen stubs examples.orders.design:api [-o stubs.py]
    bastion gen mocks examples.orders.design:api [-o mocks.py] [--stubs orders_stubs]
    bastion gen proto examples.orders.design:api [-o protos/]
    bastion gen client examples.orders.design:api [-o orders_client/] [--package NAME]
    bastion gen deploy examples.orders.main:app [-o deploy/] [--image ...] [--replicas N]
    bastion new NAME [--dir PATH]
    bastion check examples.orders.design:api
    bastion config examples.orders.main:Config
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from bastion._importer import import_from_string
from bastion.errors import BastionError

__all__ = ["load", "main"]


def load(target: str) -> Any:
    """Import `module:attribute` as `bastion serve` and uvicorn do, and return it.

    The working directory is on `sys.path`; a failure raises `ImportStringError`, which
    `main` prints as one line naming the module (exit status 2).
    """
    return import_from_string(target)


class _CommandError(BastionError):
    """A target that imports but is not what the command needs."""


def _api(target: str) -> Any:
    from bastion.app import App
    from bastion.dsl.expr import APIExpr

    obj = load(target)
    if isinstance(obj, App):
        return obj.api
    if not isinstance(obj, APIExpr):
        raise _CommandError(f"{target} is a {type(obj).__name__}, not an API design or an App")
    return obj


def _serve(args: argparse.Namespace) -> int:
    from bastion.server import run

    run(args.target, reload=args.reload)
    return 0


def _gen_openapi(args: argparse.Namespace) -> int:
    from bastion.openapi import write

    write(_api(args.target), args.output, yaml=args.yaml)  # stdout when no -o
    if args.output is not None:
        print(f"wrote {args.output}", file=sys.stderr)
    return 0


def _write(text: str, output: str | None) -> int:
    if output is None:
        sys.stdout.write(text)
    else:
        with open(output, "w", encoding="utf-8") as f:
            f.write(text)
        print(f"wrote {output}", file=sys.stderr)
    return 0


def _gen_stubs(args: argparse.Namespace) -> int:
    from bastion.cli.stubs import render

    return _write(render(_api(args.target)), args.output)


def _gen_mocks(args: argparse.Namespace) -> int:
    from bastion.cli.mocks import render

    return _write(render(_api(args.target), stubs_module=args.stubs), args.output)


def _gen_proto(args: argparse.Namespace) -> int:
    from bastion.cli.proto import main as write_protos

    return write_protos(_api(args.target), args.output)


def _gen_client(args: argparse.Namespace) -> int:
    from bastion.cli.client import main as client

    return client(_api(args.target), args.output, args.package)


def _gen_deploy(args: argparse.Namespace) -> int:
    from bastion.cli import deploy
    from bastion.config import parse_duration

    try:
        delay = None if args.shutdown_delay is None else parse_duration(args.shutdown_delay)
    except ValueError as exc:
        raise _CommandError(f"--shutdown-delay: {exc}") from None
    options = deploy.DeployOptions(
        name=args.name, image=args.image, replicas=args.replicas,
        max_replicas=args.max_replicas, namespace=args.namespace, cpu=args.cpu,
        memory=args.memory, cpu_limit=args.cpu_limit, memory_limit=args.memory_limit,
        shutdown_delay=delay, service_monitor=args.service_monitor,
        monitoring_namespace=args.monitoring_namespace, exporter=args.exporter,
        exporter_endpoint=args.exporter_endpoint, python=args.python,
    )
    return deploy.main(args.target, args.output, options)


def _new(args: argparse.Namespace) -> int:
    from bastion.cli.new import main as create

    return create(args.name, args.dir)


def _check(args: argparse.Namespace) -> int:
    api = _api(args.target)
    api.finalize()
    methods = api.methods()
    print(f"design {api.name!r} is valid: {len(api.services)} service(s), "
          f"{len(methods)} method(s), {len(api.types)} type(s)")
    return 0


def _config(args: argparse.Namespace) -> int:
    from bastion.config import Config, describe
    from bastion.config import load as load_config

    cls = load(args.target)
    if not (isinstance(cls, type) and issubclass(cls, Config)):
        raise _CommandError(f"{args.target} is not a subclass of bastion.config.Config")
    print(describe(cls))
    try:
        load_config(cls)
    except BastionError:
        return 2  # the table marks each bad variable INVALID or MISSING
    return 0


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="bastion", description="Design-first services for Python.")
    sub = p.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="serve an app (module:app) with the production server")
    serve.add_argument("target", help="module:app")
    serve.add_argument("--reload", action="store_true", help="restart on code changes (dev)")
    serve.set_defaults(func=_serve)

    gen = sub.add_parser("gen", help="generate artefacts from a design")
    gen_sub = gen.add_subparsers(dest="artefact", required=True)
    oa = gen_sub.add_parser("openapi", help="write the OpenAPI 3.1 document")
    oa.add_argument("target", help="module:api (a design or an App)")
    oa.add_argument("-o", "--output", help="file to write (default: stdout)")
    oa.add_argument("--yaml", action="store_true", help="YAML instead of JSON")
    oa.set_defaults(func=_gen_openapi)
    stubs = gen_sub.add_parser("stubs", help="write typed classes and a Protocol per service")
    stubs.add_argument("target", help="module:api")
    stubs.add_argument("-o", "--output", help="file to write (default: stdout)")
    stubs.set_defaults(func=_gen_stubs)
    mocks = gen_sub.add_parser("mocks", help="write scripted mocks of each service and the API")
    mocks.add_argument("target", help="module:api")
    mocks.add_argument("-o", "--output", help="file to write (default: stdout)")
    mocks.add_argument("--stubs", metavar="MODULE",
                       help="import the types and Protocols from this module (written by "
                            "`bastion gen stubs`) instead of writing them inline")
    mocks.set_defaults(func=_gen_mocks)
    proto = gen_sub.add_parser("proto", help="write the .proto file of each gRPC service")
    proto.add_argument("target", help="module:api")
    proto.add_argument("-o", "--output", help="folder to write (default: stdout, one service)")
    proto.set_defaults(func=_gen_proto)

    client = gen_sub.add_parser("client", help="write a typed Python client package (httpx, "
                                               "sync and async)")
    client.add_argument("target", help="module:api (a design or an App)")
    client.add_argument("-o", "--output", help="folder of the package (default: API_client)")
    client.add_argument("--package", help="the package's import name (default: the folder's)")
    client.set_defaults(func=_gen_client)
    _deploy_parser(gen_sub)

    new = sub.add_parser("new", help="write a new project: design, service, tests, deploy files")
    new.add_argument("name", help="the project's name (a Python identifier; '-' becomes '_')")
    new.add_argument("--dir", help="folder to create (default: ./NAME)")
    new.set_defaults(func=_new)

    check = sub.add_parser("check", help="load and check a design")
    check.add_argument("target", help="module:api")
    check.set_defaults(func=_check)

    config = sub.add_parser("config", help="print every configuration variable")
    config.add_argument("target", help="module:ConfigClass")
    config.set_defaults(func=_config)
    return p


def _deploy_parser(gen_sub: Any) -> None:
    from bastion.cli.deploy import EXPORTERS, DeployOptions

    d = DeployOptions()
    dep = gen_sub.add_parser("deploy", help="write a Dockerfile, Kubernetes manifests and an "
                                            "OpenTelemetry Collector config for an app")
    dep.add_argument("target", help="module:app (a bastion.App)")
    dep.add_argument("-o", "--output", default="deploy", help="folder to write (default: deploy)")
    dep.add_argument("--name", help="Kubernetes name of every object (default: the API's name)")
    dep.add_argument("--image", help="image of the Deployment (default: NAME:VERSION)")
    dep.add_argument("--replicas", type=int, default=d.replicas,
                     help=f"replicas, and the autoscaler's floor (default: {d.replicas})")
    dep.add_argument("--max-replicas", type=int, help="the autoscaler's ceiling (default: 3x)")
    dep.add_argument("--namespace", help="namespace of every object (default: none set)")
    dep.add_argument("--cpu", default=d.cpu, help=f"CPU request (default: {d.cpu})")
    dep.add_argument("--memory", default=d.memory, help=f"memory request (default: {d.memory})")
    dep.add_argument("--cpu-limit", help="CPU limit (default: none; limits throttle)")
    dep.add_argument("--memory-limit", help="memory limit (default: the request)")
    dep.add_argument("--shutdown-delay", metavar="DURATION",
                     help="SHUTDOWN_DELAY and the preStop sleep (default: the config's, "
                          "or 5s when it is 0)")
    dep.add_argument("--service-monitor", action="store_true",
                     help="also write a Prometheus Operator ServiceMonitor")
    dep.add_argument("--monitoring-namespace", default=d.monitoring_namespace,
                     help="namespace allowed to scrape the admin port "
                          f"(default: {d.monitoring_namespace})")
    dep.add_argument("--exporter", choices=EXPORTERS, default=d.exporter,
                     help=f"the collector's exporter (default: {d.exporter})")
    dep.add_argument("--exporter-endpoint", help="the exporter's backend URL "
                                                 "(default: ${env:OTLP_ENDPOINT})")
    dep.add_argument("--python", default=f"{sys.version_info.major}.{sys.version_info.minor}",
                     help="Python of the base image python:X.Y-slim (default: this one)")
    dep.set_defaults(func=_gen_deploy)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `bastion` command; return its exit status."""
    args = _parser().parse_args(argv)
    try:
        return int(args.func(args))
    except BastionError as exc:
        print(f"bastion: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
