"""The chat example: streams over WebSocket, a stock `websockets` client against a real server.

Every stream kind (server, client, bidirectional), each message validated, the design's
security once at the upgrade, close codes that say why, the server's limits (message
size, idle timeout), the drain closing with 1001, and one span per stream with an event
per message, the stream metrics and log lines without the key.
"""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import struct
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.support.examples import Example, example
from tests.support.otlp import otlp_receiver
from tests.support.servers import free_port

pytestmark = pytest.mark.integration

ALICE, BOB = "alice-key-" + "a" * 20, "bob-key-" + "b" * 20
KEYS = {"CHAT_KEYS": f"alice:{ALICE},bob:{BOB}", "WS_MAX_MESSAGE_BYTES": "1KiB"}


@pytest.fixture(scope="module")
def chat(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Example]:
    with example("chat", tmp_path_factory.mktemp("chat"), KEYS) as running:
        yield running


def ws(chat: Example, path: str, **headers: str) -> ClientConnection:
    return connect(f"ws://127.0.0.1:{chat.port}{path}", additional_headers=headers,
                   open_timeout=10)


def closed(conn: ClientConnection) -> tuple[int, str]:
    """Read until the server closes; return its close code and reason."""
    with pytest.raises(ConnectionClosed) as info:
        while True:
            conn.recv(timeout=10)
    frame = info.value.rcvd
    assert frame is not None, "the connection dropped without a close frame"
    return frame.code, frame.reason


def refused(chat: Example, path: str, **headers: str) -> httpx.Response:
    """The HTTP answer to an upgrade the server refuses."""
    with pytest.raises(InvalidStatus) as info, ws(chat, path, **headers):
        pass
    r = info.value.response
    return httpx.Response(r.status_code, headers=dict(r.headers.raw_items()),
                          content=bytes(r.body or b""))


def test_a_server_stream_sends_each_message_then_closes_normally(chat: Example) -> None:
    with ws(chat, "/ticks?count=4&every=0") as conn:
        got = [json.loads(conn.recv(timeout=10)) for _ in range(4)]
        assert got == [{"n": 1}, {"n": 2}, {"n": 3}, {"n": 4}]
        assert closed(conn) == (1000, "server closing connection")  # Goa's Close()


def test_a_client_stream_is_read_to_null_and_answered_with_the_result(chat: Example) -> None:
    with ws(chat, "/tally", **{"X-API-Key": ALICE}) as conn:
        conn.send(json.dumps({"text": "hello there"}))
        conn.send(json.dumps({"text": "one two three"}))
        conn.send("null")  # Goa's client ends its stream with a null message
        assert json.loads(conn.recv(timeout=10)) == {"lines": 2, "words": 5}
        assert closed(conn)[0] == 1000


def test_a_bidirectional_stream_relays_between_clients_as_their_principals(
    chat: Example,
) -> None:
    with ws(chat, f"/rooms/lobby?key={ALICE}") as alice, ws(chat, f"/rooms/lobby?key={BOB}") as bob:
        # Both joined: the upgrade is accepted when the method starts, and the method
        # joins the room before it awaits anything.
        alice.send(json.dumps({"text": "hi bob"}))
        line = json.loads(bob.recv(timeout=10))
        assert line == {"seq": line["seq"], "user": "alice", "text": "hi bob"}
        assert json.loads(alice.recv(timeout=10))["text"] == "hi bob"
        bob.send(json.dumps({"text": "hi alice"}))
        assert json.loads(alice.recv(timeout=10))["user"] == "bob"


def test_the_designs_security_is_checked_once_at_the_upgrade(chat: Example) -> None:
    missing = refused(chat, "/tally")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"].startswith("APIKey")
    assert missing.json()["name"] == "unauthorized"
    wrong = refused(chat, "/tally", **{"X-API-Key": "not-a-key-" + "x" * 20})
    assert wrong.status_code == 401
    assert refused(chat, "/rooms/lobby?key=" + "y" * 30).status_code == 401
    # The public method needs no credential.
    with ws(chat, "/ticks?count=1") as conn:
        assert json.loads(conn.recv(timeout=10)) == {"n": 1}


def test_bad_upgrade_parameters_are_a_400_naming_each_one(chat: Example) -> None:
    r = refused(chat, "/ticks?count=0&every=-1")
    assert r.status_code == 400
    assert {e["field"] for e in r.json()["errors"]} == {"count", "every"}
    assert refused(chat, f"/rooms/NOT-lower?key={ALICE}").status_code == 400


def test_an_invalid_message_closes_with_1007_naming_its_field(chat: Example) -> None:
    with ws(chat, "/tally", **{"X-API-Key": ALICE}) as conn:
        conn.send(json.dumps({"text": "fine"}))
        conn.send(json.dumps({"text": ""}))
        code, reason = closed(conn)
    assert code == 1007 and reason.startswith("invalid_payload: text:")
    with ws(chat, "/tally", **{"X-API-Key": ALICE}) as conn:
        conn.send(json.dumps({"words": 3}))
        code, reason = closed(conn)
    assert code == 1007 and "text" in reason
    with ws(chat, "/tally", **{"X-API-Key": ALICE}) as conn:
        conn.send("{not json")
        code, reason = closed(conn)
    assert code == 1007 and reason.startswith("invalid_message: message 1 is not JSON")


def test_a_message_to_a_stream_that_reads_none_is_a_policy_violation(chat: Example) -> None:
    with ws(chat, "/ticks?count=100&every=1") as conn:
        conn.recv(timeout=10)
        conn.send("{}")
        assert closed(conn) == (1008, "ticks streams to the client and reads no messages")


def test_a_design_error_in_the_stream_closes_with_1008_and_its_name(chat: Example) -> None:
    with ws(chat, f"/rooms/closed?key={ALICE}") as conn:
        assert closed(conn) == (1008, "room_closed: room 'closed' is closed")


def test_a_message_over_the_limit_closes_with_1009(chat: Example) -> None:
    with connect(f"ws://127.0.0.1:{chat.port}/tally", max_size=None,
                 additional_headers={"X-API-Key": ALICE}) as conn:
        conn.send(json.dumps({"text": "x" * 2000}))
        assert closed(conn)[0] == 1009


def test_a_plain_get_on_a_websocket_route_is_told_to_upgrade(chat: Example) -> None:
    r = httpx.get(chat.api + "/ticks", timeout=10)
    assert r.status_code == 426 and r.headers["upgrade"] == "websocket"
    assert r.json()["name"] == "upgrade_required"


def test_the_openapi_document_describes_the_upgrade_and_its_messages(chat: Example) -> None:
    doc = httpx.get(chat.api + "/openapi.json", timeout=10).json()
    op = doc["paths"]["/rooms/{room}"]["get"]
    assert "101" in op["responses"] and "200" not in op["responses"]
    ext = op["x-websocket"]
    assert ext["receives"] == {"$ref": "#/components/schemas/Say"}
    assert ext["sends"] == {"$ref": "#/components/schemas/Line"}
    assert op["responses"]["401"]  # refused at the upgrade
    assert doc["paths"]["/tally"]["get"]["x-websocket"]["result"]["type"] == "object"


def test_each_stream_has_a_span_with_an_event_per_message_and_metrics(tmp_path: Path) -> None:
    admin = free_port()
    with otlp_receiver() as receiver, example("chat", tmp_path, {
        **KEYS, "ADMIN_ADDR": f"127.0.0.1:{admin}",
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_TRACES_SAMPLER": "always_on", "OTEL_BSP_SCHEDULE_DELAY": "100",
    }) as running:
        with ws(running, "/tally", **{"X-API-Key": ALICE}) as conn:
            conn.send(json.dumps({"text": "a b"}))
            conn.send("null")
            conn.recv(timeout=10)
            closed(conn)
        with ws(running, "/ticks?count=2&every=0") as conn:
            closed(conn)
        metrics = httpx.get(f"http://127.0.0.1:{admin}/metrics", timeout=10).text
        running.process.send_signal(signal.SIGTERM)
        assert running.process.wait(timeout=15) == 0
        spans = receiver.wait_for_spans(
            lambda s: sum(x.name in ("GET /tally", "GET /ticks") for x in s) >= 2)
        log = running.log_path.read_text()
    tally = next(s for s in spans if s.name == "GET /tally")
    assert tally.kind == "SERVER"
    assert tally.attributes["network.protocol.name"] == "websocket"
    assert tally.attributes["websocket.close.code"] == 1000
    kinds = [e[1]["message.type"] for e in tally.events if e[0] == "message"]
    assert kinds == ["RECEIVED", "RECEIVED", "SENT"]  # a message, the null, the result
    ticks = next(s for s in spans if s.name == "GET /ticks")
    assert [e[1]["message.type"] for e in ticks.events] == ["SENT", "SENT"]
    sent = [line for line in metrics.splitlines()
            if line.startswith("bastion_stream_messages_total") and 'route="/ticks"' in line]
    assert sent and sent[0].endswith(" 2.0") and 'direction="sent"' in sent[0]
    assert "bastion_stream_bytes_total" in metrics
    # The end line says how the stream ended; the key is in no line.
    ends = [json.loads(x) for x in log.splitlines()
            if x.startswith("{") and '"msg":"end"' in x and "websocket" in x]
    assert {e["websocket.close.code"] for e in ends} == {1000}
    assert ALICE not in log


def test_the_drain_closes_open_streams_with_1001(tmp_path: Path) -> None:
    with example("chat", tmp_path, {**KEYS, "SHUTDOWN_TIMEOUT": "5s"}) as running, \
            ws(running, f"/rooms/drain?key={ALICE}") as conn:
        conn.send(json.dumps({"text": "still here"}))
        assert json.loads(conn.recv(timeout=10))["text"] == "still here"
        running.process.send_signal(signal.SIGTERM)
        code, reason = closed(conn)
        assert code == 1001 and reason == "server shutting down"
        assert running.process.wait(timeout=15) == 0


def _raw_upgrade(port: int, path: str) -> socket.socket:
    """A WebSocket opened by hand: a client that will never answer a ping."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += sock.recv(1)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def _frames(sock: socket.socket) -> Iterator[tuple[int, bytes]]:
    """The server's frames (opcode, payload) until it closes the connection."""
    data = b""
    while True:
        while len(data) >= 2:
            length, start = data[1] & 0x7F, 2
            if length == 126:
                length, start = struct.unpack("!H", data[2:4])[0], 4
            if len(data) < start + length:
                break
            yield data[0] & 0x0F, data[start:start + length]
            data = data[start + length:]
        chunk = sock.recv(65536)
        if not chunk:
            return
        data += chunk


def test_keepalive_pings_close_a_silent_peer_and_idle_streams_close(tmp_path: Path) -> None:
    env = {**KEYS, "WS_IDLE_TIMEOUT": "1.5s", "WS_PING_INTERVAL": "0.4s"}
    with example("chat", tmp_path, env) as running:
        # A client that answers pings but sends nothing: closed at the idle timeout.
        with ws(running, f"/rooms/idle?key={ALICE}") as conn:
            assert closed(conn) == (1001, "idle timeout")
        # A client that never answers a ping: pinged, then closed 1011.
        with _raw_upgrade(running.port, "/ticks?count=5&every=30") as sock:
            opcodes = []
            for opcode, payload in _frames(sock):
                opcodes.append(opcode)
                if opcode == 0x8:
                    code = struct.unpack("!H", payload[:2])[0]
                    break
        assert 0x9 in opcodes  # a ping came first
        assert code == 1011 and payload[2:] == b"keepalive ping timeout"
