"""HTTPS from TLS_CERT_FILE/TLS_KEY_FILE with a certificate made here: TLS 1.2 at least, HSTS."""

from __future__ import annotations

import contextlib
import datetime
import ipaddress
import socket
import ssl
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.server.support import Running, running_server
from tests.support.rawhttp import Response, read_response, request_bytes, seconds_until_closed

pytestmark = pytest.mark.integration


def make_certificate(folder: Path) -> tuple[Path, Path]:
    """Write a self-signed certificate for 127.0.0.1 and its key; return their paths."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = folder / "cert.pem", folder / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


def https_get(running: Running, context: ssl.SSLContext) -> tuple[str | None, Response]:
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(request_bytes("GET", "/"))
        return tls.version(), read_response(tls)


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Running, Path]]:
    tmp = tmp_path_factory.mktemp("tls")
    cert, key = make_certificate(tmp)
    env = {"TLS_CERT_FILE": str(cert), "TLS_KEY_FILE": str(key), "HSTS_MAX_AGE": "1h",
           "READ_HEADER_TIMEOUT": "1s",
           "HSTS_INCLUDE_SUBDOMAINS": "true"}
    with running_server(tmp, env) as running:
        yield running, cert


def test_https_handshake_with_the_configured_certificate(tls_server: tuple[Running, Path]) -> None:
    running, cert = tls_server
    context = ssl.create_default_context(cafile=str(cert))
    version, response = https_get(running, context)
    assert version in ("TLSv1.2", "TLSv1.3")
    assert response.status == 200
    assert response.body == b"ok"
    assert response.headers["strict-transport-security"] == "max-age=3600; includeSubDomains"
    deadline = time.monotonic() + 5
    while f'"url.api":"https://127.0.0.1:{running.port}"' not in running.log:
        assert time.monotonic() < deadline, running.log
        time.sleep(0.05)


def test_tls_1_2_is_accepted(tls_server: tuple[Running, Path]) -> None:
    running, cert = tls_server
    context = ssl.create_default_context(cafile=str(cert))
    context.maximum_version = ssl.TLSVersion.TLSv1_2
    version, response = https_get(running, context)
    assert version == "TLSv1.2"
    assert response.status == 200


def tls11_context(server_side: bool) -> ssl.SSLContext:
    """A context that speaks TLS 1.1 at most, with this OpenSSL's own floor lowered."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server_side else ssl.PROTOCOL_TLS_CLIENT)
    if not server_side:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    context.set_ciphers("DEFAULT:@SECLEVEL=0")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # deprecated is the point
        context.minimum_version = ssl.TLSVersion.TLSv1
        context.maximum_version = ssl.TLSVersion.TLSv1_1
    return context


def tls11_handshake_possible(cert: Path, key: Path) -> bool:
    """Whether the TLS 1.1 client completes a handshake with a server that allows TLS 1.1.

    Without this control, a refusal could come from this machine's OpenSSL rather than
    from the server under test.
    """
    server_context = tls11_context(server_side=True)
    server_context.load_cert_chain(cert, key)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        outcome: list[str | None] = []

        def accept() -> None:
            conn, _ = listener.accept()
            with contextlib.suppress(ssl.SSLError, OSError), \
                    server_context.wrap_socket(conn, server_side=True) as tls:
                outcome.append(tls.version())

        thread = threading.Thread(target=accept)
        thread.start()
        with contextlib.suppress(ssl.SSLError, OSError), \
                socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
                tls11_context(server_side=False).wrap_socket(raw) as tls:
            outcome.append(tls.version())
        thread.join(timeout=5)
    return outcome.count("TLSv1.1") == 2


def test_a_client_limited_to_tls_1_1_is_refused(tls_server: tuple[Running, Path]) -> None:
    running, cert = tls_server
    if not tls11_handshake_possible(cert, cert.parent / "key.pem"):
        pytest.skip("this OpenSSL cannot speak TLS 1.1 at all, so the test would prove nothing")
    with pytest.raises(ssl.SSLError):
        https_get(running, tls11_context(server_side=False))


def test_plain_http_is_not_served_on_the_https_port(tls_server: tuple[Running, Path]) -> None:
    running, _ = tls_server
    with running.connect() as sock:
        sock.sendall(request_bytes("GET", "/"))
        sock.settimeout(5)
        data = b""
        try:
            while chunk := sock.recv(65536):
                data += chunk
        except ConnectionResetError:
            pass
    assert b"HTTP/1.1 200" not in data


def test_a_client_that_never_starts_the_handshake_is_disconnected(
    tls_server: tuple[Running, Path],
) -> None:
    running, _ = tls_server
    with running.connect() as sock:
        elapsed = seconds_until_closed(sock, limit=4.0)
    assert elapsed < 1.0 + 1.0


def test_a_client_silent_after_the_handshake_is_disconnected(
    tls_server: tuple[Running, Path],
) -> None:
    running, cert = tls_server
    context = ssl.create_default_context(cafile=str(cert))
    with socket.create_connection(("127.0.0.1", running.port), timeout=10) as raw, \
            context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        start = time.monotonic()
        tls.settimeout(4.0)
        try:
            while tls.recv(65536):
                pass
        except (ssl.SSLError, ConnectionResetError):
            pass
        elapsed = time.monotonic() - start
    assert elapsed < 1.0 + 1.0
