"""WORKERS=n: n processes on one port, restarted when one dies, drained together.

The parent (the supervisor) binds the API socket, which every worker accepts on, and
serves the admin listener itself, for the whole fleet: each worker serves its own admin
app on a private Unix socket, and the supervisor's admin app speaks to all of them.

- `/debug?debug-logs=on|off` reaches every worker, and a worker started later (a
  replacement) is switched to the fleet's setting as soon as it serves;
- `/metrics` is every worker's exposition merged, each sample labelled `worker="N"`, so
  a scrape sees the sum and can still tell the workers apart;
- `/debug/pprof/...` profiles one worker, `?worker=N` (0 by default), and names it in the
  `X-Bastion-Worker` header;
- `/readyz` is 200 only while every worker is ready; other paths go to worker 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing
import os
import shutil
import signal
import socket
import tempfile
import time
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import Any, Final
from urllib.parse import parse_qs, urlencode

import httpx

from bastion._importer import import_from_string
from bastion.config import Config
from bastion.errors import ConfigError, ImportStringError
from bastion.server._app import Served
from bastion.server._listener import Listener, admin_limits
from bastion.server._options import ServerOptions
from bastion.server._server import (
    EXIT_CONFIG,
    EXIT_FORCED,
    EXIT_OK,
    EXIT_STARTUP,
    ListenError,
    announce,
    bind_socket,
    limits_of,
    stderr_line,
    url_of,
)
from bastion.types import ASGIApp, Receive, Scope, Send

__all__ = ["Supervisor"]

# A worker that dies sooner than this after it started is restarted no sooner than this.
_RESPAWN_BACKOFF: Final = 1.0
_CONTENT_TYPE: Final = b"text/plain; version=0.0.4; charset=utf-8"


class Supervisor:
    """The parent of WORKERS processes: it holds the API socket and the fleet's admin port.

    Each worker imports the app itself (its own telemetry, its own state) and accepts on
    the socket the parent bound. A worker that dies is replaced; one that fails to start
    stops the whole server, since its replacement would fail the same way. On SIGTERM or
    SIGINT every worker gets SIGTERM and drains on its own; a second signal kills them
    all and exits with status 1.
    """

    def __init__(self, app: ASGIApp, app_ref: str, config: Config, options: ServerOptions) -> None:
        self.served = Served(app)
        self.app_ref = app_ref
        self.config = config
        self.options = options
        self._context = multiprocessing.get_context("spawn")
        self._processes: list[BaseProcess] = []
        self._started_at: list[float] = []
        self._http: socket.socket | None = None
        self._runtime = Path(tempfile.mkdtemp(prefix="bastion-workers-"))
        self._stop = asyncio.Event()
        self._signals = 0
        #: The fleet's debug-logs setting, applied to every worker that starts after it.
        self.debug_logs: str | None = None

    def admin_path(self, index: int) -> Path:
        """The Unix socket on which worker `index` serves its admin app."""
        return self._runtime / f"admin-{index}.sock"

    def run(self) -> int:
        """Start the workers and supervise them until a signal; return the exit status."""
        try:
            return asyncio.run(self._main())
        finally:
            shutil.rmtree(self._runtime, ignore_errors=True)

    async def _main(self) -> int:
        options = self.options
        served = self.served
        try:
            self._http = bind_socket(options.http_host, options.http_port, options.backlog)
        except ListenError as exc:
            served.log("error", f"not serving: {exc.strerror}")
            return EXIT_STARTUP
        host, port = self._http.getsockname()[:2]
        urls = {"api": url_of(host, port, tls=options.tls)}
        for name, path in served.links.items():
            urls[name] = urls["api"] + path
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_signal, sig)
        admin: Listener | None = None
        try:
            if served.admin_app is not None and options.admin_host is not None:
                sock = bind_socket(options.admin_host, options.admin_port, options.backlog)
                admin = Listener(served, sock, app=FleetAdmin(self),
                                 limits=admin_limits(limits_of(options)), backlog=options.backlog)
                await admin.start()
                ahost, aport = sock.getsockname()[:2]
                urls["admin"] = url_of(ahost, aport, tls=False)
            for index in range(options.workers):
                self._processes.append(self._spawn(index))
                self._started_at.append(time.monotonic())
            announce(served, options, urls)
            status = await self._supervise()
            if status is None:
                status = await self._drain()
            return status
        except ListenError as exc:
            served.log("error", f"not serving: {exc.strerror}")
            return EXIT_STARTUP
        finally:
            if admin is not None:
                await admin.close()
            if self._http is not None:
                self._http.close()
            served.logger.flush()

    def _spawn(self, index: int) -> BaseProcess:
        path = self.admin_path(index)
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        process = self._context.Process(
            target=worker_main,
            args=(self.app_ref, self.config, self._http, str(path), index),
            name=f"bastion-worker-{index}",
        )
        process.start()
        self.served.log("info", "worker started", worker=index, pid=process.pid)
        if self.debug_logs is not None:
            asyncio.get_running_loop().create_task(self._reapply_debug(index))
        return process

    async def _reapply_debug(self, index: int) -> None:
        # A replacement starts with debug logs off: give it the fleet's setting once it serves.
        path = self.admin_path(index)
        for _ in range(200):
            if path.exists():
                with contextlib.suppress(httpx.HTTPError):
                    await self.forward(index, "GET", "/debug",
                                       urlencode({"debug-logs": self.debug_logs}).encode())
                    return
            await asyncio.sleep(0.05)

    async def _supervise(self) -> int | None:
        while not self._stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 0.2)
            for index, process in enumerate(self._processes):
                if self._stop.is_set() or process.is_alive():
                    continue
                code = process.exitcode
                if code in (EXIT_CONFIG, EXIT_STARTUP):
                    self.served.log("error", "worker failed to start: stopping", worker=index,
                                    status=code)
                    self._signal_all(signal.SIGTERM)
                    await asyncio.to_thread(self._join_all)
                    return int(code) if code is not None else EXIT_STARTUP
                if self._started_at[index] + _RESPAWN_BACKOFF > time.monotonic():
                    continue  # it died young: try again after the backoff
                self.served.log("warn", f"worker exited with status {code}: starting a new one",
                                worker=index, pid=process.pid)
                self._processes[index] = self._spawn(index)
                self._started_at[index] = time.monotonic()
        return None

    async def _drain(self) -> int:
        self._signal_all(signal.SIGTERM)
        # The parent's copy of the API socket goes now: once the workers close theirs, the
        # port refuses new connections.
        if self._http is not None:
            self._http.close()
            self._http = None
        await asyncio.to_thread(self._join_all)
        codes = [p.exitcode for p in self._processes]
        self.served.log("info", "all workers stopped", statuses=codes)
        return EXIT_OK if all(code == 0 for code in codes) else EXIT_FORCED

    def _signal_all(self, sig: signal.Signals) -> None:
        for process in self._processes:
            if process.is_alive() and process.pid is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(process.pid, sig)

    def _join_all(self) -> None:
        for process in self._processes:
            process.join()

    def _on_signal(self, sig: signal.Signals) -> None:
        self._signals += 1
        if self._signals == 1:
            self.served.log("info", f"received {sig.name}: draining every worker (send it again "
                            "to exit at once)", workers=len(self._processes))
            self._stop.set()
            return
        self.served.log("warn", f"received {sig.name} again: killing the workers")
        self.served.logger.flush()
        self._signal_all(signal.SIGKILL)
        os._exit(EXIT_FORCED)

    # -- the fleet's admin -------------------------------------------------------------------

    @property
    def workers(self) -> int:
        """How many workers the fleet runs."""
        return self.options.workers

    async def forward(
        self, index: int, method: str, path: str, query: bytes = b"",
        headers: list[tuple[bytes, bytes]] | None = None, body: bytes = b"",
    ) -> httpx.Response:
        """Send one request to worker `index`'s admin app; return its response."""
        transport = httpx.AsyncHTTPTransport(uds=str(self.admin_path(index)))
        async with httpx.AsyncClient(transport=transport, timeout=60.0) as client:
            url = f"http://worker{index}{path}" + (f"?{query.decode('latin-1')}" if query else "")
            sent = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in headers or []
                    if k.lower() not in (b"host", b"content-length")]
            return await client.request(method, url, headers=sent, content=body)


class FleetAdmin:
    """The supervisor's admin app: the workers' admin apps seen as one."""

    def __init__(self, supervisor: Supervisor) -> None:
        self.supervisor = supervisor

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer one admin request for the whole fleet."""
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        query: bytes = scope.get("query_string", b"")
        body = await _read(receive)
        sup = self.supervisor
        if path == "/livez":
            await _respond(send, 200, b'{"status":"alive"}', b"application/json")
        elif path == "/metrics":
            await self._metrics(scope, send)
        elif path == "/debug" and b"debug-logs=" in query:
            await self._debug_switch(scope, send, query, body)
        elif path.startswith("/debug/pprof"):
            await self._one_worker(scope, send, query, body)
        elif path == "/readyz":
            answers = await asyncio.gather(
                *(sup.forward(i, "GET", path) for i in range(sup.workers)), return_exceptions=True
            )
            ready = all(isinstance(a, httpx.Response) and a.status_code == 200 for a in answers)
            first = answers[0]
            content = first.content if isinstance(first, httpx.Response) else b""
            await _respond(send, 200 if ready else 503, content, b"application/json")
        else:
            await self._one_worker(scope, send, query, body, default=0)

    async def _debug_switch(self, scope: Scope, send: Send, query: bytes, body: bytes) -> None:
        sup = self.supervisor
        wanted = parse_qs(query.decode("latin-1")).get("debug-logs", [""])[-1]
        answers = await asyncio.gather(
            *(sup.forward(i, scope["method"], "/debug", query, list(scope["headers"]), body)
              for i in range(sup.workers)),
            return_exceptions=True,
        )
        if all(isinstance(a, httpx.Response) and a.status_code == 200 for a in answers):
            sup.debug_logs = wanted
        first = next((a for a in answers if isinstance(a, httpx.Response)), None)
        status = first.status_code if first is not None else 502
        if any(not isinstance(a, httpx.Response) for a in answers):
            status = 502
        content = first.content if first is not None else b'{"name":"bad_gateway"}'
        await _respond(send, status, content, b"application/json",
                       [(b"x-bastion-workers", str(sup.workers).encode("ascii"))])

    async def _one_worker(self, scope: Scope, send: Send, query: bytes, body: bytes,
                          default: int = 0) -> None:
        sup = self.supervisor
        params = parse_qs(query.decode("latin-1"))
        raw = params.get("worker", [str(default)])[-1]
        if not raw.isdigit() or int(raw) >= sup.workers:
            message = f"worker must be a number from 0 to {sup.workers - 1}"
            await _respond(send, 404, _error("not_found", message), b"application/json")
            return
        index = int(raw)
        rest = urlencode([(k, v) for k, vs in params.items() for v in vs if k != "worker"])
        try:
            answer = await sup.forward(index, scope["method"], scope["path"], rest.encode(),
                                       list(scope["headers"]), body)
        except httpx.HTTPError:
            await _respond(send, 502, _error("bad_gateway", f"worker {index} did not answer"),
                           b"application/json")
            return
        ctype = answer.headers.get("content-type", "application/octet-stream").encode("latin-1")
        await _respond(send, answer.status_code, answer.content, ctype,
                       [(b"x-bastion-worker", str(index).encode("ascii"))])

    async def _metrics(self, scope: Scope, send: Send) -> None:
        sup = self.supervisor
        answers = await asyncio.gather(
            *(sup.forward(i, "GET", "/metrics") for i in range(sup.workers)),
            return_exceptions=True,
        )
        texts = {i: a.text for i, a in enumerate(answers)
                 if isinstance(a, httpx.Response) and a.status_code == 200}
        await _respond(send, 200, merge_expositions(texts).encode(), _CONTENT_TYPE)


def merge_expositions(texts: dict[int, str]) -> str:
    """Merge Prometheus text expositions into one, each sample labelled with its worker."""
    from prometheus_client.parser import text_string_to_metric_families
    from prometheus_client.samples import Sample

    families: dict[str, Any] = {}
    for index, text in texts.items():
        for family in text_string_to_metric_families(text):
            labelled = [Sample(s.name, {**s.labels, "worker": str(index)}, s.value,
                               s.timestamp, s.exemplar) for s in family.samples]
            merged = families.setdefault(family.name, family)
            if merged is family:
                family.samples = labelled
            else:
                merged.samples.extend(labelled)
    return _render(families.values())


def _render(families: Any) -> str:
    from prometheus_client.exposition import generate_latest

    class _Parsed:
        def collect(self) -> Any:
            return families

    text: str = generate_latest(_Parsed()).decode("utf-8")
    return text


async def _read(receive: Receive) -> bytes:
    parts: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        parts.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(parts)


def _error(name: str, message: str) -> bytes:
    from bastion._ids import new_id
    from bastion.http.errors import error_body

    body: bytes = error_body(name, new_id(), message)
    return body


async def _respond(send: Send, status: int, body: bytes, ctype: bytes,
                   extra: list[tuple[bytes, bytes]] | None = None) -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", ctype), (b"cache-control", b"no-store"),
                            *(extra or [])]})
    await send({"type": "http.response.body", "body": body})


def worker_main(
    app_ref: str,
    config: Config,
    http_socket: socket.socket | None,
    admin_path: str,
    index: int,
) -> None:
    """Entry point of one worker process: import the app and serve the shared socket."""
    # Imported here: the module that runs a server imports this one.
    from bastion.server._run import serve_in_process

    os.environ["BASTION_WORKER_ID"] = str(index)
    # Ctrl-C reaches the whole process group; the parent relays it as SIGTERM, once.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # A SIGTERM before the server can handle it (the app is still importing) would kill
    # the worker: it waits, blocked, until the server's handler is set, which unblocks it
    # and drains.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        app = import_from_string(app_ref)
    except (ConfigError, ImportStringError) as exc:
        stderr_line(str(exc))
        raise SystemExit(EXIT_CONFIG) from None
    admin = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    admin.bind(admin_path)
    admin.listen(64)
    options = ServerOptions.from_config(config)
    raise SystemExit(
        serve_in_process(
            app,
            options,
            http_socket=http_socket,
            admin_socket=admin,
            announce=False,
            signals=(signal.SIGTERM,),
            worker=index,
        )
    )
