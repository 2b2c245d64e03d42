"""`run` and `serve`: configuration errors, startup failures, embedding, reload."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from bastion.config import Config, load
from bastion.server import Server, ServerOptions, run, serve
from bastion.server._app import Served
from bastion.server._server import announce
from bastion.testing import LogCapture
from bastion.types import Receive, Scope, Send
from tests.server.app import SampleApp
from tests.server.support import running_server
from tests.support.orders import orders_example
from tests.support.paths import ROOT
from tests.support.servers import free_port
from tests.support.waiting import wait_until


@pytest.mark.integration
def test_a_bad_environment_is_one_error_listing_every_variable(tmp_path: Path) -> None:
    env = {"READ_TIMEOUT": "soon", "WORKERS": "zero", "MAX_BODY_BYTES": "1XB",
           "HTTP_ADDR": "8080"}
    with running_server(tmp_path, env, wait=False) as server:
        assert server.wait() == 2
    log = server.log
    assert "Traceback" not in log
    assert log.startswith("invalid configuration:")
    for variable in ("READ_TIMEOUT", "WORKERS", "MAX_BODY_BYTES", "HTTP_ADDR"):
        assert f"  - {variable}" in log
    assert "1m30s" in log  # says what a duration looks like
    assert server.marker_pids("startup") == set()


@pytest.mark.integration
def test_an_unreadable_certificate_is_a_configuration_error(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    key = tmp_path / "key.pem"
    cert.write_text("not a certificate")
    key.write_text(
        "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWtleS1ieXRlcw==\n-----END PRIVATE KEY-----\n"
    )
    env = {"TLS_CERT_FILE": str(cert), "TLS_KEY_FILE": str(key)}
    with running_server(tmp_path, env, wait=False) as server:
        assert server.wait() == 2
    assert "TLS_CERT_FILE" in server.log
    assert "cannot load the certificate and key" in server.log
    assert "c2VjcmV0" not in server.log  # the key's content never shows
    assert "Traceback" not in server.log


@pytest.mark.integration
def test_a_port_in_use_exits_3(tmp_path: Path) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        env = {"HTTP_ADDR": f"127.0.0.1:{port}"}
        with running_server(tmp_path, env, wait=False) as server:
            assert server.wait() == 3
    line = next(json.loads(x) for x in server.log.splitlines() if "not serving" in x)
    assert line["level"] == "error"  # in the App's log format, like every other line
    assert line["msg"] == f"not serving: cannot listen on 127.0.0.1:{port}: the address is " \
        "already in use (is another server running?)"
    # The lifespan had started, so it was shut down again.
    assert server.marker_pids("shutdown") == server.marker_pids("startup")


def test_a_missing_module_exits_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        run("tests.server.no_such_module:app")
    assert exit_.value.code == 2
    assert "no module named 'tests.server.no_such_module'" in capsys.readouterr().err


def test_workers_need_an_importable_app(capsys: pytest.CaptureFixture[str]) -> None:
    local_app = SampleApp()  # not reachable by an import string
    config = load(Config, {"WORKERS": "2", "HTTP_ADDR": "127.0.0.1:0", "ADMIN_ADDR": ""})
    with pytest.raises(SystemExit) as exit_:
        run(local_app, config)
    assert exit_.value.code == 2
    assert "WORKERS=2 starts new processes" in capsys.readouterr().err


def test_the_server_reaches_an_app_only_through_the_served_app_contract() -> None:
    from bastion.dsl import API, GET, HTTP, Method, Service
    from bastion.server._run import _config_of
    from bastion.types import ServedApp
    from tests.support.apps import quiet_app

    with API("plain") as api:
        pass
    with Service("s"), Method("m"), HTTP():
        GET("/m")

    class Impl:
        async def m(self) -> None:
            return None

    config = load(Config, {"HTTP_ADDR": "127.0.0.1:0"})
    app = quiet_app(api, {"s": Impl()}, config=config)
    assert isinstance(app, ServedApp) and isinstance(SampleApp(), ServedApp)
    assert _config_of(app) is config
    assert Served(app).grpc_transport() is None  # the design has no gRPC method

    class NotBastion:
        """An ASGI app with a `config` of the right type, but no ServedApp."""

        def __init__(self, config: Config) -> None:
            self.config = config

        async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
            return None

    plain = NotBastion(config)
    assert not isinstance(plain, ServedApp)
    assert _config_of(plain) is None  # no attribute is read beside the contract
    served = Served(plain)
    assert (served.title, served.admin_app, served.grpc_transport()) == ("", None, None)


def test_plain_http_on_a_public_address_warns() -> None:
    urls = {"api": "http://0.0.0.0:8080"}
    app = SampleApp()
    logs = LogCapture()
    app.logger = logs.logger
    announce(Served(app), ServerOptions(http_host="0.0.0.0"), urls)
    announce(Served(app), ServerOptions(http_host="127.0.0.1"), urls)
    warnings = [line for line in logs.lines if line["level"] == "warn"]
    assert len(warnings) == 1
    assert "plain HTTP" in warnings[0]["msg"]
    assert warnings[0]["address"] == "0.0.0.0:8080"


async def test_serve_embeds_in_a_running_loop(tmp_path: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BASTION_TEST_MARKERS", str(tmp_path))
    app = SampleApp()
    server = Server(app, ServerOptions(http_host="127.0.0.1", http_port=0,
                                       admin_host="127.0.0.1", admin_port=0))
    task = asyncio.create_task(server.serve(handle_signals=False))
    while "admin" not in server.urls:
        await asyncio.sleep(0.01)
    async with httpx.AsyncClient() as client:
        assert (await client.get(server.urls["api"] + "/")).text == "ok"
        assert (await client.get(server.urls["admin"] + "/readyz")).status_code == 200
        server.begin_shutdown()
        assert app.shutting_down  # the readiness hook ran at once
        assert (await client.get(server.urls["admin"] + "/readyz")).status_code == 503
    assert await task == 0
    assert (tmp_path / f"shutdown-{os.getpid()}").exists()


async def test_serve_takes_options_and_releases_the_port_when_cancelled() -> None:
    port = free_port()
    options = ServerOptions(http_host="127.0.0.1", http_port=port, admin_host=None)
    task = asyncio.create_task(serve(SampleApp(), options, handle_signals=False))
    async with httpx.AsyncClient() as client:
        for _ in range(100):
            try:
                response = await client.get(f"http://127.0.0.1:{port}/")
                break
            except httpx.ConnectError:
                await asyncio.sleep(0.02)
        assert response.text == "ok"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    with socket.create_server(("127.0.0.1", port)):
        pass  # the listening socket was closed


@pytest.mark.integration
def test_reload_restarts_the_server_when_code_changes(tmp_path: Path) -> None:
    module = tmp_path / "svc.py"
    module.write_text("from tests.server.app import SampleApp\napp = SampleApp()\n")
    markers = tmp_path / "markers"
    markers.mkdir()
    port = free_port()
    env = {**os.environ, "PYTHONPATH": f"{tmp_path}{os.pathsep}{ROOT}",
           "HTTP_ADDR": f"127.0.0.1:{port}", "ADMIN_ADDR": "", "BASTION_TEST_MARKERS": str(markers)}
    code = "from bastion.server import run; run('svc:app', reload=True)"
    log = tmp_path / "reload.log"
    with log.open("wb") as out:
        process = subprocess.Popen([sys.executable, "-c", code], cwd=tmp_path, env=env,
                                   stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_until(lambda: len(list(markers.glob("startup-*"))) == 1, timeout=20)
        time.sleep(0.5)
        module.write_text(module.read_text() + "# changed\n")
        wait_until(lambda: len(list(markers.glob("startup-*"))) == 2, timeout=20)
        wait_until(lambda: _serves(port), timeout=20)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    lines = log.read_text().splitlines()
    assert lines
    # One format: every line the supervisor and each server it started wrote is a JSON
    # object, so no stdlib or bare line slips into a log pipeline.
    for line in lines:
        try:
            record = json.loads(line)
        except ValueError:
            pytest.fail(f"not a JSON line under --reload: {line!r}")
        assert isinstance(record, dict), line
    reloads = [x for x in map(json.loads, lines) if x.get("msg") == "reloading"]
    assert reloads and reloads[0]["changed"] == ["svc.py"]


def _serves(port: int) -> bool:
    try:
        return httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


_NO_GRPC = '''
import sys


class _NoGRPC:
    """grpcio is not installed: every grpc module fails to import."""

    def find_spec(self, name, path=None, target=None):
        if name == "grpc" or name.startswith(("grpc.", "grpc_")):
            raise ImportError(f"No module named {name!r}")
        return None


sys.meta_path.insert(0, _NoGRPC())
'''


@pytest.mark.integration
def test_a_design_with_grpc_methods_without_the_grpc_extra(tmp_path: Path) -> None:
    # With GRPC_ADDR set: one 'not serving' line naming the extra, exit 3, no traceback.
    (tmp_path / "sitecustomize.py").write_text(_NO_GRPC)
    no_grpc = f"{tmp_path}{os.pathsep}{ROOT}"
    env = {**os.environ, "PYTHONPATH": no_grpc, "HTTP_ADDR": f"127.0.0.1:{free_port()}",
           "ADMIN_ADDR": "", "GRPC_ADDR": "127.0.0.1:0",
           "DATABASE_URL": f"sqlite:///{tmp_path / 'orders.db'}", "LOG_FORMAT": "json"}
    done = subprocess.run([sys.executable, "-m", "examples.orders"], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=30, check=False)
    out = done.stdout + done.stderr
    assert done.returncode == 3, out
    lines = [json.loads(x) for x in out.splitlines() if x.strip()]  # all JSON
    (line,) = [x for x in lines if x["level"] == "error"]
    assert line["msg"].startswith("not serving: design 'orders' has gRPC methods, "
                                  "which need the grpc extra")
    # With gRPC switched off (GRPC_ADDR=""), the extra is not needed and HTTP is served.
    with orders_example(tmp_path, {"PYTHONPATH": no_grpc, "GRPC_ADDR": ""}) as running:
        assert httpx.get(f"{running.api}/livez", timeout=10).status_code == 200
        assert running.stop() == 0, running.output()
