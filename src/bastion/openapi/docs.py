"""A small HTML page that renders the OpenAPI document in the reader's browser.

The page loads Redoc from a CDN, so the server ships no JavaScript; pass `script_url`
to serve a pinned copy yourself (offline networks, strict Content-Security-Policy).
"""

from __future__ import annotations

from html import escape

__all__ = ["REDOC_SCRIPT", "docs_html"]

#: Redoc's standalone bundle, pinned to its major version on jsDelivr.
REDOC_SCRIPT = "https://cdn.jsdelivr.net/npm/redoc@2/bundles/redoc.standalone.js"


def docs_html(
    spec_url: str = "/openapi.json",
    title: str = "API reference",
    *,
    script_url: str = REDOC_SCRIPT,
) -> str:
    """Return an HTML page that renders the spec at `spec_url` with Redoc.

    Every value is HTML-escaped, so a title or URL can never inject markup.
    """
    t, spec, script = escape(title), escape(spec_url), escape(script_url)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{t}</title>
<style>body {{ margin: 0; padding: 0; }}</style>
</head>
<body>
<noscript><p>This page needs JavaScript. The raw document is at
<a href="{spec}">{spec}</a>.</p></noscript>
<redoc spec-url="{spec}"></redoc>
<script src="{script}" crossorigin="anonymous"></script>
</body>
</html>
"""
