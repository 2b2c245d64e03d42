"""Typed env configuration: units, addresses, one error listing every problem, the table."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import Field, ValidationError
from pydantic_settings import SettingsConfigDict

from bastion.config import (
    ByteSize,
    Config,
    Duration,
    Secret,
    describe,
    format_byte_size,
    format_duration,
    load,
    parse_address,
    parse_byte_size,
    parse_duration,
)
from bastion.errors import ConfigError


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("250ms", 0.25), ("10s", 10.0), ("1m30s", 90.0), ("1h", 3600.0), ("1.5h", 5400.0),
        ("2h45m", 9900.0), ("300us", 0.0003), ("300µs", 0.0003), ("5ns", 5e-9),
        ("10", 10.0), ("0.5", 0.5), ("0", 0.0), (" 1m ", 60.0), ("+2s", 2.0), (".5s", 0.5),
    ],
)
def test_durations_read_as_go_writes_them_or_as_seconds(text: str, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "abc", "10x", "-1s", "-5", "nan", "inf", "1m-30s", "s",
                                  "1 s", "1.2.3s"])
def test_bad_durations_say_what_is_expected(text: str) -> None:
    with pytest.raises(ValueError, match="duration such as 250ms"):
        parse_duration(text)


@given(st.floats(min_value=0, max_value=10**7, allow_nan=False))
def test_formatted_durations_read_back(seconds: float) -> None:
    assert parse_duration(format_duration(seconds)) == pytest.approx(seconds, rel=1e-6, abs=1e-6)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (0.25, "250ms"), (10, "10s"), (90, "1m30s"), (3600, "1h"), (3661, "1h1m1s"),
     (1.5, "1.5s"), (120, "2m")],
)
def test_durations_print_compactly(seconds: float, text: str) -> None:
    assert format_duration(seconds) == text


@pytest.mark.parametrize(
    ("text", "size"),
    [("1MiB", 1048576), ("512KB", 512000), ("1024", 1024), ("1.5KiB", 1536), ("1 MiB", 1048576),
     ("1mib", 1048576), ("2GB", 2 * 10**9), ("1GiB", 1024**3), ("10B", 10), ("0", 0)],
)
def test_sizes_read_with_si_or_iec_units_or_as_bytes(text: str, size: int) -> None:
    assert parse_byte_size(text) == size


@pytest.mark.parametrize("text", ["1XB", "0.5B", "-1", "", "MiB", "1.5", "1e3"])
def test_bad_sizes_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match=r"size|bytes|unit"):
        parse_byte_size(text)


@given(st.integers(min_value=0, max_value=2**50))
def test_formatted_sizes_read_back(size: int) -> None:
    assert parse_byte_size(format_byte_size(size)) == size


@pytest.mark.parametrize(
    ("text", "address"),
    [(":8080", ("0.0.0.0", 8080)), ("127.0.0.1:8081", ("127.0.0.1", 8081)),
     ("[::1]:80", ("::1", 80)), ("localhost:0", ("localhost", 0))],
)
def test_addresses_read_as_go_writes_them(text: str, address: tuple[str, int]) -> None:
    assert parse_address(text) == address


@pytest.mark.parametrize("text", ["8080", "host:99999", "::1:80", "host:", "host:http"])
def test_bad_addresses_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_address(text)


def test_defaults_are_the_documented_ones() -> None:
    config = load(Config, {})
    assert (config.http_addr, config.admin_addr, config.grpc_addr) == (
        ":8080", "127.0.0.1:8081", ":8082")
    assert (config.read_header_timeout, config.read_timeout, config.write_timeout,
            config.idle_timeout) == (10, 30, 60, 120)
    assert config.max_header_bytes == config.max_body_bytes == 1024 * 1024
    assert (config.shutdown_timeout, config.shutdown_delay) == (30, 0)
    assert config.workers == 1
    assert config.max_concurrency is None
    assert config.max_url_bytes == 16 * 1024
    assert config.threads == 64
    assert config.tls_cert_file is None


def test_values_are_read_from_the_environment_in_any_case() -> None:
    config = load(Config, {"READ_TIMEOUT": "1m30s", "max_body_bytes": "512KB",
                           "Log_Level": "DEBUG", "ADMIN_ADDR": "", "MAX_CONCURRENCY": "100",
                           "OTEL_SDK_DISABLED": "true"})
    assert config.read_timeout == 90
    assert config.max_body_bytes == 512_000
    assert config.log_level == "debug"
    assert config.admin_addr == ""
    assert config.max_concurrency == 100
    assert config.otel_sdk_disabled is True


class Settings(Config):
    """A service's own configuration."""

    database_url: Secret
    api_key: Secret = Field(Secret("default-key-000000000"), min_length=20)
    cache_ttl: Duration = 300.0
    upload_limit: ByteSize = 10 * 1024 * 1024
    tags: list[str] = Field(default_factory=list)


def test_every_problem_is_reported_at_once_in_declaration_order() -> None:
    env = {"READ_TIMEOUT": "soon", "WORKERS": "zero", "MAX_BODY_BYTES": "1XB",
           "HTTP_ADDR": "8080", "LOG_LEVEL": "loud", "TLS_CERT_FILE": "/no/such/cert.pem",
           "CACHE_TTL": "-1s", "TAGS": "[oops"}
    with pytest.raises(ConfigError) as error:
        load(Settings, env)
    problems = error.value.problems
    assert [p.split(":")[0].split("=")[0] for p in problems] == [
        "HTTP_ADDR", "LOG_LEVEL", "READ_TIMEOUT", "MAX_BODY_BYTES", "TLS_CERT_FILE", "WORKERS",
        "DATABASE_URL", "CACHE_TTL", "TAGS",
    ]
    assert "HTTP_ADDR: '8080' is not host:port such as ':8080'" in problems[0]
    assert problems[1].startswith("LOG_LEVEL='loud'")
    assert "READ_TIMEOUT: 'soon' is not a duration such as 250ms, 10s, 1m30s" in problems[2]
    assert "unknown unit 'XB'" in problems[3]
    assert "no such file: /no/such/cert.pem" in problems[4]
    assert problems[5].startswith("WORKERS='zero': Input should be a valid integer")
    assert problems[6] == "DATABASE_URL: required but not set; expected a secret string"
    assert "negative" in problems[7]
    assert problems[8] == "TAGS: expected JSON list"
    assert str(error.value).startswith("invalid configuration:\n  - HTTP_ADDR")


def test_a_half_configured_tls_is_reported_with_the_rest() -> None:
    with pytest.raises(ConfigError) as error:
        load(Config, {"TLS_CERT_FILE": __file__, "WORKERS": "0"})
    assert error.value.problems == [
        "TLS_KEY_FILE: TLS_CERT_FILE and TLS_KEY_FILE must be set together",
        "WORKERS='0': Input should be greater than or equal to 1",
    ]


def test_a_bad_secret_is_never_echoed() -> None:
    with pytest.raises(ConfigError) as error:
        load(Settings, {"DATABASE_URL": "postgres://x", "API_KEY": "hunter2"})
    (problem,) = error.value.problems
    assert "hunter2" not in problem
    assert problem.startswith("API_KEY='********': ")
    assert "at least 20" in problem


def test_the_user_config_is_typed_and_frozen() -> None:
    config = load(Settings, {"DATABASE_URL": "postgres://app:pw@db/app", "CACHE_TTL": "5m",
                             "UPLOAD_LIMIT": "2MiB", "TAGS": '["a", "b"]'})
    assert config.database_url.get_secret_value() == "postgres://app:pw@db/app"
    assert config.cache_ttl == 300
    assert config.upload_limit == 2 * 1024 * 1024
    assert config.tags == ["a", "b"]
    with pytest.raises(ValidationError):
        config.cache_ttl = 1


def test_an_env_prefix_is_honoured() -> None:
    class Prefixed(Config):
        model_config = SettingsConfigDict(env_prefix="APP_")
        region: str

    assert load(Prefixed, {"APP_REGION": "eu", "REGION": "us"}).region == "eu"
    with pytest.raises(ConfigError, match="APP_REGION: required"):
        load(Prefixed, {"REGION": "us"})


def test_describe_lists_every_variable_with_default_and_value_masking_secrets() -> None:
    env = {"DATABASE_URL": "postgres://app:s3cret@db/app", "READ_TIMEOUT": "90",
           "REDIS_URL": "redis://:hunter2@cache:6379/0", "WORKERS": "many",
           "OTEL_EXPORTER_OTLP_HEADERS": "api-key=abcdef"}
    table = describe(Settings, env)
    rows = {line.split()[0]: line for line in table.splitlines()}
    assert next(iter(rows)) == "VARIABLE"
    assert set(rows) >= {"HTTP_ADDR", "READ_TIMEOUT", "MAX_BODY_BYTES", "OTEL_SERVICE_NAME",
                         "DATABASE_URL", "CACHE_TTL", "UPLOAD_LIMIT"}
    assert rows["READ_TIMEOUT"].split()[1:3] == ["30s", "90"]
    assert rows["MAX_BODY_BYTES"].split()[1:3] == ["1MiB", "1MiB"]
    assert rows["CACHE_TTL"].split()[1:3] == ["5m", "5m"]
    assert rows["DATABASE_URL"].split()[1:3] == ["(required)", "********"]
    assert "redis://:********@cache:6379/0" in rows["REDIS_URL"]
    assert "INVALID: Input should be a valid integer" in rows["WORKERS"]
    for secret in ("s3cret", "hunter2", "abcdef", "default-key"):
        assert secret not in table


def test_describe_of_a_valid_environment_shows_parsed_values() -> None:
    table = describe(Settings, {"DATABASE_URL": "x", "CACHE_TTL": "90", "UPLOAD_LIMIT": "1024"})
    rows = {line.split()[0]: line.split() for line in table.splitlines()}
    assert rows["CACHE_TTL"][2] == "1m30s"
    assert rows["UPLOAD_LIMIT"][2] == "1KiB"
    assert "INVALID" not in table


class Named(Config):
    """Fields whose names look secret and are not, and secrets with plain names."""

    token_header: str = "X-Token"
    password_min_length: int = 12
    dsn: Secret | None = None
    signing_keys: list[Secret] = Field(default_factory=list)


def test_describe_masks_by_type_never_by_name() -> None:
    env = {"AUTH_FAILURES_PER_CREDENTIAL": "5/minute", "TOKEN_HEADER": "X-Session",
           "DSN": "hunter2-dsn", "SIGNING_KEYS": '["k-one-111", "k-two-222"]'}
    rows = {line.split()[0]: line.split() for line in describe(Named, env).splitlines()}
    # The variable counts failures per credential; it holds no credential.
    assert rows["AUTH_FAILURES_PER_CREDENTIAL"][1:3] == ["10/minute", "5/minute"]
    assert rows["TOKEN_HEADER"][1:3] == ["X-Token", "X-Session"]
    assert rows["PASSWORD_MIN_LENGTH"][1:3] == ["12", "12"]
    assert rows["DSN"][1] == "********"
    assert rows["SIGNING_KEYS"][2] == "********"


def test_an_invalid_list_of_secrets_is_masked_whole() -> None:
    table = describe(Named, {"SIGNING_KEYS": '["k-one-111", 7]'})
    (row,) = [line for line in table.splitlines() if line.startswith("SIGNING_KEYS")]
    assert "INVALID" in row and "********" in row
    assert "k-one-111" not in table


def test_tls_files_must_exist(tmp_path: Path) -> None:
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    cert.write_text("c")
    key.write_text("k")
    config = load(Config, {"TLS_CERT_FILE": str(cert), "TLS_KEY_FILE": str(key)})
    assert config.tls_cert_file == cert


def test_bad_rate_limits_in_the_environment_are_config_errors() -> None:
    with pytest.raises(ConfigError) as caught:
        load(Config, env={"RATE_LIMITS": "s.fast=often,broken", "AUTH_FAILURES_PER_CLIENT": "x"})
    text = str(caught.value)
    assert "RATE_LIMITS" in text and "AUTH_FAILURES_PER_CLIENT" in text


def test_the_default_listeners_do_not_share_a_port() -> None:
    config = load(Config, {})
    ports = {parse_address(a)[1] for a in (config.http_addr, config.admin_addr,
                                          config.grpc_addr)}
    assert ports == {8080, 8081, 8082}


@pytest.mark.parametrize(("env", "variable", "other"), [
    ({"GRPC_ADDR": ":8080"}, "GRPC_ADDR", "HTTP_ADDR"),
    ({"GRPC_ADDR": "127.0.0.1:8081"}, "GRPC_ADDR", "ADMIN_ADDR"),
    ({"HTTP_ADDR": "127.0.0.1:9000", "GRPC_ADDR": "0.0.0.0:9000"}, "GRPC_ADDR", "HTTP_ADDR"),
    ({"ADMIN_ADDR": ":8080"}, "ADMIN_ADDR", "HTTP_ADDR"),
])
def test_listeners_sharing_a_port_are_a_configuration_error(
        env: dict[str, str], variable: str, other: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(Config, env)
    text = str(info.value)
    assert variable in text and f"the port {other} listens on" in text


def test_listeners_on_one_port_of_different_hosts_or_port_zero_are_fine() -> None:
    load(Config, {"HTTP_ADDR": "127.0.0.1:9000", "GRPC_ADDR": "127.0.0.2:9000"})
    load(Config, {"HTTP_ADDR": "127.0.0.1:0", "GRPC_ADDR": "127.0.0.1:0", "ADMIN_ADDR": ""})
    assert load(Config, {"GRPC_ADDR": ""}).grpc_addr == ""  # gRPC off


def test_grpc_limits_are_read_with_units() -> None:
    config = load(Config, {"GRPC_MAX_RECV_MESSAGE_BYTES": "16MiB", "GRPC_KEEPALIVE_TIME": "30s",
                           "GRPC_MAX_CONNECTION_AGE": "5m", "GRPC_REFLECTION": "off"})
    assert config.grpc_max_recv_message_bytes == 16 * 1024 * 1024
    assert (config.grpc_keepalive_time, config.grpc_max_connection_age) == (30.0, 300.0)
    assert config.grpc_reflection == "off"
