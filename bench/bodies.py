"""`make bench-bodies`: 1 GiB up and 1 GiB down through a real server, in constant memory.

Serves the uploads example (`python -m examples.uploads`) on a free loopback port and,
on raw sockets, streams `--size` bytes (1 GiB by default) to `PUT /sink` (a
`SkipRequestBodyEncodeDecode()` method that reads and hashes its body) and reads as many
from `GET /zeros/{size}` (a `SkipResponseBodyEncodeDecode()` method yielding 256 KiB
chunks, chunked on the wire). The server's peak RSS (`VmHWM` of /proc/<pid>/status) is
read after a warm-up request and after each stream: flat memory is the same figure
before and after a gigabyte went through.

    python -m bench.bodies [--size 1GiB] [--out bench/results/bodies.md]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_CHUNK = 1 << 20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def _peak_rss(pid: int) -> int:
    """The process's peak resident set size, in bytes (VmHWM)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmHWM in /proc/<pid>/status")


@contextlib.contextmanager
def _server(folder: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "HTTP_ADDR": f"127.0.0.1:{port}",
           "ADMIN_ADDR": "", "GRPC_ADDR": "", "LOG_LEVEL": "warn", "READ_TIMEOUT": "10m",
           "WRITE_TIMEOUT": "10m", "BLOB_DIR": str(folder)}
    log = (folder / "server.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "examples.uploads"], cwd=ROOT, env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 1):
                break
            time.sleep(0.1)
        else:
            raise RuntimeError("the uploads example did not start")
        yield proc, port
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def _read_head(sock: socket.socket) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"closed before a response head: {data!r}")
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def upload(port: int, size: int) -> float:
    """PUT `size` bytes to /sink; return the seconds it took."""
    block = b"\xa5" * _CHUNK
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(f"PUT /sink HTTP/1.1\r\nHost: bench\r\nContent-Length: {size}\r\n"
                     "\r\n".encode())
        left = size
        while left:
            piece = block if left >= _CHUNK else block[:left]
            sock.sendall(piece)
            left -= len(piece)
        head, _ = _read_head(sock)
    if not head.startswith(b"HTTP/1.1 200"):
        raise RuntimeError(f"upload answered {head!r}")
    return time.perf_counter() - start


def download(port: int, size: int) -> float:
    """GET /zeros/size (chunked) and read every byte; return the seconds it took."""
    start = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.sendall(f"GET /zeros/{size} HTTP/1.1\r\nHost: bench\r\n\r\n".encode())
        head, buf = _read_head(sock)
        if not head.startswith(b"HTTP/1.1 200") or b"chunked" not in head:
            raise RuntimeError(f"download answered {head!r}")
        body = 0
        while True:  # chunked framing: "<hex>\r\n<data>\r\n", ended by "0\r\n\r\n"
            while b"\r\n" not in buf:
                buf += sock.recv(_CHUNK)
            line, _, buf = buf.partition(b"\r\n")
            length = int(line, 16)
            if length == 0:
                break
            while len(buf) < length + 2:
                more = sock.recv(_CHUNK)
                if not more:
                    raise ConnectionError("the download was cut")
                buf += more
            body += length
            buf = buf[length + 2:]
    if body != size:
        raise RuntimeError(f"downloaded {body} bytes, not {size}")
    return time.perf_counter() - start


def _size(text: str) -> int:
    units = {"gib": 1 << 30, "mib": 1 << 20, "kib": 1 << 10, "": 1}
    lower = text.lower()
    for unit, factor in units.items():
        if unit and lower.endswith(unit):
            return int(float(lower[: -len(unit)]) * factor)
    return int(lower) * units[""]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="1GiB")
    parser.add_argument("--out", default=str(ROOT / "bench/results/bodies.md"))
    args = parser.parse_args()
    size = _size(args.size)
    mib = 1 << 20
    with tempfile.TemporaryDirectory() as tmp, _server(Path(tmp)) as (proc, port):
        upload(port, 4 * mib)
        download(port, 4 * mib)  # warm: every code path has run once
        base = _peak_rss(proc.pid)
        up = upload(port, size)
        after_up = _peak_rss(proc.pid)
        down = download(port, size)
        after_down = _peak_rss(proc.pid)
    rows = [
        ("after a 4 MiB warm-up", base, "", ""),
        (f"after {args.size} up (PUT /sink)", after_up, f"{up:.1f} s",
         f"{size / up / mib:.0f} MiB/s"),
        (f"after {args.size} down (GET /zeros)", after_down, f"{down:.1f} s",
         f"{size / down / mib:.0f} MiB/s"),
    ]
    lines = [
        f"# Streamed bodies: {args.size} up and down ({datetime.date.today()})", "",
        "`python -m bench.bodies`: the uploads example served by `bastion.run` (one "
        "worker), raw-socket clients on 127.0.0.1, the server's peak RSS (VmHWM).", "",
        "| server peak RSS | MiB | time | throughput |", "| --- | ---: | ---: | ---: |",
        *(f"| {name} | {rss / mib:.1f} | {t} | {rate} |" for name, rss, t, rate in rows), "",
        f"Growth over {args.size} each way: {(after_down - base) / mib:.1f} MiB.", "",
    ]
    text = "\n".join(lines)
    print(text)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
