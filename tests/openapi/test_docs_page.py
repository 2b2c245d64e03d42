"""The /docs page: Swagger UI from the app's own origin, offline, under a strict CSP.

The unit tests read what the App serves; the integration tests start real `bastion
serve` processes and open /docs in Debian's headless Chromium with every non-loopback
host unreachable, then use the page as a reader would.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.server
import importlib.metadata
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import parse_qs

import httpx
import pytest
from examples.orders.main import DEMO_API_KEY

from bastion.dsl import API, ClientCredentialsFlow, OAuth2Security, PasswordFlow
from bastion.openapi import SWAGGER_UI_VERSION, DocsPage, _swagger_ui, docs_html
from bastion.openapi.docs import page_policy, redirect_policy
from bastion.testing import TestClient
from tests.support import every_scheme
from tests.support.paths import ROOT
from tests.support.served import bastion_serve
from tests.support.servers import HTTPServerThread

# -- what is served -----------------------------------------------------------------------


def test_the_page_is_escaped_and_links_only_relative_urls() -> None:
    page = docs_html("openapi.json", title='Orders <API> & "co"')
    assert page.startswith("<!DOCTYPE html>")
    assert "<title>Orders &lt;API&gt; &amp; &quot;co&quot;</title>" in page
    assert "<API>" not in page
    hostile = docs_html('x"><script>alert(1)</script>')
    assert "<script>alert(1)" not in hostile
    assert 'data-spec="x&quot;&gt;&lt;script&gt;' in hostile
    # Nothing inline for a strict policy to refuse, nothing from another origin.
    assert "<style" not in page and "style=" not in page
    assert re.findall(r"<script[^>]*>([^<]+)</script>", page) == []
    assert not re.search(r"(src|href)=\"(https?:)?//", page)


async def test_the_app_serves_the_page_and_its_files_with_a_strict_policy() -> None:
    app = every_scheme.app
    async with TestClient(app) as client:
        page = await client.get("/docs")
        assert page.status_code == 200
        assert page.headers["content-type"] == "text/html; charset=utf-8"
        policy = page.headers["content-security-policy"]
        assert "default-src 'none'" in policy and "script-src 'self';" in policy
        assert "unsafe-inline" not in policy and "unsafe-eval" not in policy
        assert page.headers["x-content-type-options"] == "nosniff"
        linked = re.findall(r'(?:src|href)="(docs/[^"]+)"', page.text)
        assert {Path(p).name for p in linked} == {
            "favicon-32x32.png", "swagger-ui.css", "swagger-ui-bundle.js", "bastion-docs.js"}
        for path in linked:
            asset = await client.get("/" + path)
            assert asset.status_code == 200, path
            assert asset.headers["cache-control"] == "public, max-age=31536000, immutable"
        bundle = await client.get("/" + next(p for p in linked if p.endswith("bundle.js")))
        assert bundle.content == _swagger_ui.read("swagger-ui-bundle.js")
        assert bundle.headers["content-type"] == "text/javascript; charset=utf-8"
        for missing in ("/docs/nope.js", "/docs/000000000000/swagger-ui-bundle.js",
                        "/docs/swagger-editor-bundle.js"):
            gone = await client.get(missing)
            assert gone.status_code == 404 and gone.json()["name"] == "not_found", missing


async def test_the_oauth2_redirect_page_runs_only_its_own_inline_code() -> None:
    async with TestClient(every_scheme.app) as client:
        redirect = await client.get("/docs/oauth2-redirect.html")
    assert redirect.status_code == 200
    policy = redirect.headers["content-security-policy"]
    scripts, handlers = _swagger_ui.inline_scripts(redirect.text)
    assert len(scripts) == 1 and handlers == ["run()"]
    for code in scripts + handlers:
        digest = base64.b64encode(hashlib.sha256(code.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy
    assert "unsafe-inline" not in policy
    assert "script-src 'none';" in redirect_policy("<p>no code</p>")


def test_the_policy_lets_the_page_reach_only_its_origin_and_the_token_endpoints() -> None:
    with API("tokens") as api:
        OAuth2Security("o", flows=[
            ClientCredentialsFlow("https://id.example.com:8443/oauth/token",
                                  refresh_url="https://refresh.example.org/r"),
            PasswordFlow("/local/token"),  # relative: the page's own origin
        ])
    policy = page_policy(api.finalize())
    assert ("connect-src 'self' https://id.example.com:8443 https://refresh.example.org;"
            in policy)


def test_relative_links_follow_a_docs_path_under_a_prefix() -> None:
    docs = DocsPage(every_scheme.api, docs_path="/api/docs", spec_path="/api/openapi.json")
    page = docs.files[""].body.decode()
    assert 'data-spec="openapi.json"' in page
    assert 'href="docs/' in page and 'data-oauth2-redirect="docs/oauth2-redirect.html"' in page
    nested = DocsPage(every_scheme.api, docs_path="/reference/docs", spec_path="/openapi.json")
    assert 'data-spec="../openapi.json"' in nested.files[""].body.decode()


def test_swagger_ui_comes_from_the_pinned_package_in_the_layout_the_adapter_reads() -> None:
    # The contract of bastion.openapi._swagger_ui: the release pinned in pyproject.toml,
    # the Swagger UI it ships (5.x renders OpenAPI 3.1), and every file the page loads.
    assert importlib.metadata.version("swagger-ui-py") == _swagger_ui.SWAGGER_UI_PY
    pyproject = (ROOT / "pyproject.toml").read_text()
    assert f'"swagger-ui-py=={_swagger_ui.SWAGGER_UI_PY}"' in pyproject
    readme = importlib.metadata.metadata("swagger-ui-py")["Description"] or ""
    assert f"Swagger UI version is `v{SWAGGER_UI_VERSION}`" in readme
    for name in _swagger_ui.FILES:
        assert _swagger_ui.read(name), name
    assert b"SwaggerUIBundle" in _swagger_ui.read("swagger-ui-bundle.js")


# -- in a real browser --------------------------------------------------------------------


def _operations(doc: dict[str, Any]) -> set[tuple[str, str]]:
    verbs = {"get", "put", "post", "delete", "patch", "head", "options"}
    return {(verb.upper(), path) for path, item in doc["paths"].items()
            for verb in item if verb in verbs}


@pytest.mark.integration
def test_the_example_docs_work_offline_and_try_it_out_answers_200(tmp_path: Path) -> None:
    from tests.support.browser import chromium, watched_page

    with bastion_serve("examples.orders.main:app", tmp_path) as served, chromium() as browser:
        doc = httpx.get(served.url + "/openapi.json", timeout=10).json()
        seen = watched_page(browser)
        page = seen.page
        page.goto(served.url + "/docs")
        page.wait_for_selector(".opblock-summary", timeout=30_000)
        rendered = {
            (op.locator(".opblock-summary-method").inner_text(),
             op.locator(".opblock-summary-path").get_attribute("data-path"))
            for op in page.locator(".opblock").all()
        }
        assert rendered == _operations(doc)

        _authorize(page, "api_key (apiKey)", DEMO_API_KEY)
        status, sent = _try_it_out(page, "GET", "/orders")
        assert status == "200"
        assert sent["x-api-key"] == DEMO_API_KEY

        assert seen.hosts() == {served.url.removeprefix("http://")}
        assert seen.console == []  # no CSP violation, no failed load, no script error


class TokenEndpoint(http.server.BaseHTTPRequestHandler):
    """An OAuth2 token endpoint on loopback: grants the demo token to any client."""

    grants: ClassVar[list[dict[str, list[str]]]] = []

    def _cors(self) -> None:
        self.send_header("access-control-allow-origin", "*")
        self.send_header("access-control-allow-headers",
                         "authorization, content-type, x-requested-with")

    def do_OPTIONS(self) -> None:
        self.send_response(204)
        self._cors()
        self.end_headers()

    def do_POST(self) -> None:
        form = parse_qs(self.rfile.read(int(self.headers["content-length"])).decode())
        type(self).grants.append(form)
        body = json.dumps({"access_token": every_scheme.DEMO_TOKEN, "token_type": "bearer",
                           "expires_in": 3600}).encode()
        self.send_response(200)
        self._cors()
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def token_endpoint() -> Iterator[str]:
    """Serve `TokenEndpoint` on a free loopback port; yield its URL."""
    TokenEndpoint.grants = []
    with HTTPServerThread(TokenEndpoint) as server:
        yield f"{server.url}/token"


@pytest.mark.integration
def test_the_authorize_dialog_offers_every_scheme_and_each_one_works(tmp_path: Path) -> None:
    from tests.support.browser import chromium, watched_page

    with token_endpoint() as token_url, bastion_serve(
        "tests.support.every_scheme:app", tmp_path, env={"THINGS_TOKEN_URL": token_url}
    ) as served, chromium() as browser:
        seen = watched_page(browser)
        page = seen.page
        page.goto(served.url + "/docs")
        page.wait_for_selector(".opblock-summary", timeout=30_000)
        page.click("button.authorize")
        dialog = page.locator(".dialog-ux .modal-ux")
        headings = dialog.locator(".auth-container h4").all_inner_texts()
        titles = [" ".join(t.split()) for t in headings]
        assert titles == [
            "basic (http, Basic)", "api_key (apiKey)", "jwt (http, Bearer)",
            "oauth (OAuth2, authorizationCode)", "oauth (OAuth2, implicit)",
            "oauth (OAuth2, password)", "oauth (OAuth2, clientCredentials)",
        ]
        dialog.locator("button.close-modal").click()

        _authorize(page, "basic (http, Basic)", every_scheme.DEMO_USER, every_scheme.DEMO_PASSWORD)
        _authorize(page, "api_key (apiKey)", every_scheme.DEMO_KEY)
        _authorize(page, "jwt (http, Bearer)", every_scheme.DEMO_TOKEN)
        _authorize_client_credentials(page, "things-docs", "s3cret")
        expected = {("GET", "/basic"): "Basic " + base64.b64encode(
                        f"{every_scheme.DEMO_USER}:{every_scheme.DEMO_PASSWORD}".encode()).decode(),
                    ("GET", "/key"): every_scheme.DEMO_KEY,
                    ("GET", "/jwt"): f"Bearer {every_scheme.DEMO_TOKEN}",
                    ("POST", "/oauth"): f"Bearer {every_scheme.DEMO_TOKEN}"}
        for (verb, path), credential in expected.items():
            status, sent = _try_it_out(page, verb, path)
            assert status == "200", (verb, path)
            assert credential in (sent.get("authorization"), sent.get("x-api-key")), sent

        # The token came from the token endpoint of the design, reached under the policy.
        assert [g["grant_type"] for g in TokenEndpoint.grants] == [["client_credentials"]]
        assert seen.hosts() == {served.url.removeprefix("http://"),
                                token_url.removeprefix("http://").removesuffix("/token")}
        assert seen.console == []


def _auth_box(page: Any, title: str) -> Any:
    dialog = page.locator(".dialog-ux .modal-ux")
    # Swagger UI puts a no-break space after the scheme's name.
    pattern = r"\s+".join(re.escape(word) for word in title.split())
    return dialog.locator(".auth-container").filter(
        has=page.locator("h4", has_text=re.compile(rf"^\s*{pattern}\s*$")))


def _authorize(page: Any, title: str, *values: str) -> None:
    """Give `values` to the scheme titled `title` in the Authorize dialog, then close it."""
    page.click("button.authorize")
    box = _auth_box(page, title)
    for field_, value in zip(box.locator("input").all(), values, strict=True):
        field_.fill(value)
    box.locator("button.authorize").click()
    box.locator("button", has_text="Logout").wait_for()
    page.locator(".dialog-ux button.close-modal").click()


def _authorize_client_credentials(page: Any, client_id: str, secret: str) -> None:
    page.click("button.authorize")
    box = _auth_box(page, "oauth (OAuth2, clientCredentials)")
    box.locator("input#client_id_clientCredentials").fill(client_id)
    box.locator("input#client_secret_clientCredentials").fill(secret)
    box.locator("button.authorize").click()
    box.locator("button", has_text="Logout").wait_for()
    page.locator(".dialog-ux button.close-modal").click()


def _try_it_out(page: Any, verb: str, path: str) -> tuple[str, dict[str, str]]:
    """Run operation `verb path` from its "Try it out" form; return the status and the
    headers the browser sent."""
    op = page.locator(f".opblock-{verb.lower()}").filter(
        has=page.locator(f'.opblock-summary-path[data-path="{path}"]'))
    op.locator(".opblock-summary").click()
    op.locator(".try-out__btn").click()
    with page.expect_request(lambda r: r.url.split("?")[0].endswith(path)) as sent:
        op.locator("button.execute").click()
    status = op.locator(".live-responses-table tbody .response-col_status").first
    status.wait_for(timeout=15_000)
    return status.inner_text().strip(), sent.value.headers
