"""`bastion.redact`: one rule for sensitive names, applied to names as the server decodes them."""

from __future__ import annotations

from urllib.parse import parse_qsl

import pytest

from bastion.redact import REDACTED, Redactor, redact_query, redact_url, redactor_with

SECRET = "s3cr3t-value"


@pytest.mark.parametrize(
    "name",
    ["tok%65n", "api%5Fkey", "p%61ssword", "+token", "token%20", "API-Key", "Api+Key", "TOKEN"],
)
def test_encoded_and_respelled_names_are_redacted(name: str) -> None:
    query = f"page=2&{name}={SECRET}&q=a%20b"
    # What the decoder reads is a credential name: so is what the log sees.
    decoded = dict(parse_qsl(query))
    assert any(key.strip().lower().replace(" ", "").replace("-", "").replace("_", "")
               in {"token", "apikey", "password"} for key in decoded)
    redacted = redact_query(query)
    assert SECRET not in redacted
    assert redacted == f"page=2&{name}={REDACTED}&q=a%20b"  # the name is kept as sent


@pytest.mark.parametrize(
    "name",
    ["jwt", "auth_token", "access-token", "session", "sessionid", "private_key", "secret_key",
     "client_secret", "credentials", "code", "bearer", "x-auth-token", "api_token", "passcode",
     "signature", "sig"],
)
def test_secret_looking_names_are_redacted_by_default(name: str) -> None:
    assert redact_query(f"{name}={SECRET}") == f"{name}={REDACTED}"


def test_a_query_without_secrets_comes_back_as_it_was() -> None:
    query = "q=a%20b&tokenizer=x&keyboard=1&page"
    assert redact_query(query) is query


def test_extra_names_are_normalized_like_the_defaults() -> None:
    names = redactor_with(["Card-Number"])
    assert redact_query(f"card_number={SECRET}&cardnumber=2", names) == (
        f"card_number={REDACTED}&cardnumber={REDACTED}"
    )
    assert Redactor().with_names([]).names == Redactor().names


def test_urls_lose_userinfo_and_secret_parameters() -> None:
    url = f"https://ada:{SECRET}@api.example.com/v1?api%5Fkey={SECRET}&n=1#top"
    assert redact_url(url) == (
        f"https://{REDACTED}:{REDACTED}@api.example.com/v1?api%5Fkey={REDACTED}&n=1#top"
    )
    assert redact_url("http://[::1") == REDACTED  # unparsable: never echoed


def test_free_text_from_other_libraries_is_scrubbed() -> None:
    redactor = Redactor()
    line = (
        f'HTTP Request: GET http://u:{SECRET}@h/p?api_key={SECRET}&n=2 "HTTP/1.1 200 OK" '
        f"headers={{'Authorization': 'Bearer {SECRET}', 'accept': '*/*'}} "
        f'body={{"password": "{SECRET}"}} token: {SECRET} page=3'
    )
    text = redactor.text(line)
    assert SECRET not in text
    assert "n=2" in text and "'accept': '*/*'" in text and "page=3" in text
    assert "'Authorization': 'REDACTED'" in text
    assert redactor.text("nothing to see") == "nothing to see"


def test_data_is_redacted_at_any_depth_and_none_is_kept() -> None:
    redactor = Redactor(["card"])
    data = {"order": {"card": SECRET, "items": [{"Api-Key": SECRET, "n": 1}]}, "token": None}
    assert redactor.data(data) == {
        "order": {"card": REDACTED, "items": [{"Api-Key": REDACTED, "n": 1}]},
        "token": None,
    }
