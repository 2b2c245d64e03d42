"""What Linux says about a process and its sockets: RSS, open connections, TCP states.

Read from /proc, so a test can see what a server really holds without asking the server.
"""

from __future__ import annotations

import os
import socket
import struct
import time
from pathlib import Path

#: The kernel's TCP states (include/net/tcp_states.h), by the number /proc and TCP_INFO use.
ESTABLISHED, CLOSE_WAIT, CLOSE, LISTEN = 1, 8, 7, 10


def rss_bytes(pid: int) -> int:
    """The resident set size of `pid` (VmRSS in /proc/<pid>/status), in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"/proc/{pid}/status has no VmRSS line (a zombie?)")


def _socket_inodes(pid: int) -> set[int]:
    inodes = set()
    fd_dir = Path(f"/proc/{pid}/fd")
    for entry in fd_dir.iterdir():
        try:
            target = os.readlink(entry)
        except OSError:
            continue  # closed while we looked
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


def _tcp_rows(pid: int) -> list[tuple[int, int, int]]:
    """(local port, state, inode) of every TCP socket in the network namespace of `pid`."""
    rows = []
    for name in ("tcp", "tcp6"):
        table = Path(f"/proc/{pid}/net/{name}")
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            rows.append((local_port, int(fields[3], 16), int(fields[9])))
    return rows


def open_connections(pid: int, port: int) -> int:
    """How many TCP connections on local `port` process `pid` holds open (listeners excluded).

    Counts the process's own file descriptors, so a connection the process has closed
    no longer counts even while the kernel still finishes it (an orphaned socket).
    """
    inodes = _socket_inodes(pid)
    return sum(1 for local, state, inode in _tcp_rows(pid)
               if local == port and state != LISTEN and inode in inodes)


def wait_for_connections(pid: int, port: int, at_most: int, timeout: float) -> float | None:
    """Poll until `pid` holds at most `at_most` connections on `port`; return the seconds.

    Returns None when the count is still higher after `timeout` seconds.
    """
    start = time.monotonic()
    while True:
        if open_connections(pid, port) <= at_most:
            return time.monotonic() - start
        if time.monotonic() - start > timeout:
            return None
        time.sleep(0.05)


def tcp_state(sock: socket.socket) -> int:
    """The kernel's TCP state of a client socket (TCP_INFO), read without reading data.

    ESTABLISHED while the peer keeps it open, CLOSE_WAIT once the peer sent FIN, CLOSE
    once it reset the connection.
    """
    info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 8)
    return int(struct.unpack_from("B", info)[0])
