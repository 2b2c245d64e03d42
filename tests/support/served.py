"""`bastion serve` as a user runs it: the console script, from a working directory."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from tests.support.paths import ROOT
from tests.support.servers import free_port


def console_script() -> str:
    """The `bastion` command installed beside the running interpreter."""
    exe = shutil.which("bastion", path=str(Path(sys.executable).parent))
    if exe is None:
        raise RuntimeError("the `bastion` console script is not installed: run `make venv`")
    return exe


def user_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell: no PYTHONPATH, no telemetry export."""
    env = {k: v for k, v in os.environ.items()
           if k != "PYTHONPATH" and not k.startswith("OTEL_")}
    return {**env, **extra}


@dataclass
class Served:
    """A running `bastion serve` process and its API address."""

    process: subprocess.Popen[bytes]
    url: str
    log: Path

    def output(self) -> str:
        """What the process wrote to stdout and stderr so far."""
        return self.log.read_text(errors="replace")


@contextlib.contextmanager
def bastion_serve(
    target: str, tmp_path: Path, *, cwd: Path = ROOT, env: Mapping[str, str] | None = None
) -> Iterator[Served]:
    """Run `bastion serve target` from `cwd` on a free loopback port; SIGTERM it after."""
    port = free_port()
    log = tmp_path / "serve.log"
    environ = user_env(
        HTTP_ADDR=f"127.0.0.1:{port}",
        ADMIN_ADDR="",
        GRPC_ADDR="",  # these tests are about HTTP; the gRPC ones give it a free port
        DATABASE_URL=f"sqlite:///{tmp_path / 'orders.db'}",
        LOG_FORMAT="json",
        SHUTDOWN_TIMEOUT="5s",
        **(env or {}),
    )
    with log.open("wb") as out:
        proc = subprocess.Popen([console_script(), "serve", target], cwd=cwd, env=environ,
                                stdout=out, stderr=subprocess.STDOUT)
    served = Served(proc, f"http://127.0.0.1:{port}", log)
    try:
        _wait_listening(served, port)
        yield served
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)


def _wait_listening(served: Served, port: int, timeout: float = 30.0) -> None:
    # Like `wait_for_port`, but a process that exits early fails at once, with its output.
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if served.process.poll() is not None:
            raise RuntimeError(f"`bastion serve` exited {served.process.returncode}:\n"
                               f"{served.output()}")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"`bastion serve` did not listen in {timeout}s:\n{served.output()}")
