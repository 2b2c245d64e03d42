"""The docs page: Swagger UI over the design's OpenAPI document, from the app's own origin.

Every file the page loads is served by the app itself — Swagger UI from the pinned
`swagger-ui-py` package, the page and its start-up script from here — so the page works
with no network at all, under a Content-Security-Policy that allows nothing else. Readers
can try every operation against the server that served the page, after giving
credentials in the "Authorize" dialog, which lists each security scheme of the design.
"""

from __future__ import annotations

import base64
import hashlib
import posixpath
from dataclasses import dataclass
from html import escape
from urllib.parse import urlsplit

from bastion.dsl.expr import APIExpr
from bastion.openapi import _swagger_ui
from bastion.openapi._swagger_ui import SWAGGER_UI_VERSION
from bastion.security.scheme import SchemeKind

__all__ = ["SWAGGER_UI_VERSION", "DocsFile", "DocsPage", "docs_html"]

# Starts Swagger UI once its bundle has loaded. A file, not an inline script, so that the
# page's policy can forbid inline code. It reads its settings from data attributes.
INIT_JS = b"""\
"use strict";
(function () {
  var root = document.getElementById("swagger-ui");
  var specUrl = new URL(root.dataset.spec, window.location.href);
  fetch(specUrl, {credentials: "same-origin"}).then(function (response) {
    if (!response.ok) { throw new Error(specUrl + " answered " + response.status); }
    return response.json();
  }).then(function (spec) {
    // Try it out calls the server that served this page: the one the policy allows.
    var here = new URL(".", specUrl).href.replace(/\\/$/, "");
    var others = (spec.servers || []).filter(function (s) { return s.url !== here; });
    spec.servers = [{url: here, description: "this server"}].concat(others);
    window.ui = SwaggerUIBundle({
      spec: spec,
      dom_id: "#swagger-ui",
      deepLinking: true,
      displayRequestDuration: true,
      validatorUrl: null,
      presets: [SwaggerUIBundle.presets.apis],
      layout: "BaseLayout",
      oauth2RedirectUrl: new URL(root.dataset.oauth2Redirect, window.location.href).href
    });
  }).catch(function (error) {
    root.textContent = "The API description could not be loaded: " + error.message;
  });
})();
"""

_INIT = "bastion-docs.js"
_REDIRECT = "oauth2-redirect.html"
_NOSNIFF = (b"x-content-type-options", b"nosniff")
_REVALIDATE = (b"cache-control", b"no-cache")
_IMMUTABLE = (b"cache-control", b"public, max-age=31536000, immutable")


@dataclass(frozen=True, slots=True)
class DocsFile:
    """One response of the docs page: its body and its headers (content type included)."""

    body: bytes
    headers: tuple[tuple[bytes, bytes], ...]


def docs_html(
    spec_url: str = "openapi.json",
    title: str = "API reference",
    *,
    assets_url: str = "docs/",
    oauth2_redirect_url: str = "docs/" + _REDIRECT,
) -> str:
    """Return the HTML of the docs page: Swagger UI rendering the spec at `spec_url`.

    URLs may be relative to the page. The page holds no inline script or style; every
    value is HTML-escaped, so a title or URL can never inject markup.
    """
    t, spec, assets = escape(title), escape(spec_url), escape(assets_url)
    redirect = escape(oauth2_redirect_url)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{t}</title>
<link rel="icon" type="image/png" href="{assets}favicon-32x32.png">
<link rel="stylesheet" href="{assets}swagger-ui.css">
</head>
<body>
<noscript><p>This page needs JavaScript. The raw document is at
<a href="{spec}">{spec}</a>.</p></noscript>
<div id="swagger-ui" data-spec="{spec}" data-oauth2-redirect="{redirect}"></div>
<script src="{assets}swagger-ui-bundle.js"></script>
<script src="{assets}{_INIT}"></script>
</body>
</html>
"""


class DocsPage:
    """The docs page of `api` at `docs_path` and every file it loads, built once.

    `find("")` is the page itself; `find(rest)` a file under `docs_path/`. Static files
    live under a digest of their contents, so browsers may cache them for good; the page
    and the OAuth2 redirect page (whose URL is registered with identity providers) keep
    stable URLs and are revalidated.
    """

    def __init__(
        self,
        api: APIExpr,
        *,
        docs_path: str = "/docs",
        spec_path: str = "/openapi.json",
        title: str | None = None,
    ) -> None:
        static = {name: _swagger_ui.read(name) for name in _swagger_ui.FILES
                  if name != _REDIRECT}
        static[_INIT] = INIT_JS
        digest = hashlib.sha256()
        for name in sorted(static):
            digest.update(name.encode() + b"\0" + static[name])
        version = digest.hexdigest()[:12]
        types = {**_swagger_ui.FILES, _INIT: "text/javascript; charset=utf-8"}
        self.files: dict[str, DocsFile] = {
            f"{version}/{name}": DocsFile(body, _headers(types[name], _IMMUTABLE))
            for name, body in static.items()
        }
        # Links relative to the page keep working behind a proxy that adds a path prefix.
        here = posixpath.basename(docs_path.rstrip("/"))
        spec_url = posixpath.relpath(spec_path, posixpath.dirname(docs_path) or "/")
        page = docs_html(spec_url, title or api.title or api.name,
                         assets_url=f"{here}/{version}/",
                         oauth2_redirect_url=f"{here}/{_REDIRECT}")
        #: The page's Content-Security-Policy: its own origin only, plus the token
        #: endpoints of the design's OAuth2 flows, which Swagger UI calls to get tokens.
        self.policy = page_policy(api)
        self.files[""] = DocsFile(page.encode(), _headers(
            "text/html; charset=utf-8", _REVALIDATE,
            (b"content-security-policy", self.policy.encode()),
            (b"referrer-policy", b"same-origin")))
        redirect = _swagger_ui.read(_REDIRECT)
        self.files[_REDIRECT] = DocsFile(redirect, _headers(
            _swagger_ui.FILES[_REDIRECT], _REVALIDATE,
            (b"content-security-policy", redirect_policy(redirect.decode()).encode())))

    def find(self, rest: str) -> DocsFile | None:
        """Return the file at `docs_path/rest` (the page for ""), or None."""
        return self.files.get(rest)


def page_policy(api: APIExpr) -> str:
    """The docs page's Content-Security-Policy for `api`: same origin only, no inline code."""
    token_origins = sorted({
        origin
        for scheme in api.schemes.values() if scheme.kind is SchemeKind.OAUTH2
        for flow in scheme.flows
        for url in (flow.token_url, flow.refresh_url) if url
        if (origin := _origin(url))
    })
    connect = " ".join(["'self'", *token_origins])
    return ("default-src 'none'; script-src 'self'; style-src 'self'; "
            f"img-src 'self' data:; font-src 'self'; connect-src {connect}; "
            "form-action 'none'; base-uri 'none'; frame-ancestors 'none'")


def redirect_policy(html: str) -> str:
    """The policy of Swagger UI's OAuth2 redirect page: its own inline code, by hash."""
    scripts, handlers = _swagger_ui.inline_scripts(html)
    hashes = [_sha256(code) for code in scripts + handlers]
    unsafe_hashes = ["'unsafe-hashes'"] if handlers else []
    sources = " ".join(hashes + unsafe_hashes) or "'none'"
    return (f"default-src 'none'; script-src {sources}; "
            "base-uri 'none'; form-action 'none'")


def _origin(url: str) -> str | None:
    # A relative URL is the page's own origin, which 'self' already allows.
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        return None
    return f"{parts.scheme}://{parts.netloc}"


def _sha256(code: str) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(code.encode()).digest()).decode() + "'"


def _headers(content_type: str, *extra: tuple[bytes, bytes]) -> tuple[tuple[bytes, bytes], ...]:
    return ((b"content-type", content_type.encode()), _NOSNIFF, *extra)
