"""Debian's headless Chromium, driven by Playwright, with every non-loopback host unreachable.

No browser is downloaded: Playwright drives `/usr/bin/chromium` (installed by
scripts/install-system-deps). Names resolve to nothing but 127.0.0.1 and every other
request goes to a dead proxy, so a page that tried the network would fail visibly.
"""

from __future__ import annotations

import contextlib
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import BrowserContext, ConsoleMessage, Page, Request, sync_playwright

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    # Port 9 (discard) on loopback listens to nothing: a proxied request fails at once.
    "--proxy-server=http://127.0.0.1:9", "--proxy-bypass-list=127.0.0.1",
]


@contextlib.contextmanager
def chromium() -> Iterator[BrowserContext]:
    """A fresh Chromium profile (its own --user-data-dir), closed after."""
    if not CHROMIUM.exists():
        raise RuntimeError("chromium is not installed: run scripts/install-system-deps")
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile, sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            profile, executable_path=str(CHROMIUM), headless=True, args=FLAGS,
            viewport={"width": 1280, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


@dataclass
class Watched:
    """A page, with what it asked the network for and what its console said."""

    page: Page
    requests: list[str] = field(default_factory=list)
    console: list[str] = field(default_factory=list)  # errors and warnings

    def hosts(self) -> set[str]:
        """Every host the page sent a request to."""
        return {urlsplit(url).netloc for url in self.requests}


def watched_page(context: BrowserContext) -> Watched:
    """A new page whose requests, console messages and uncaught errors are recorded."""
    page = context.new_page()
    watched = Watched(page)

    def on_console(message: ConsoleMessage) -> None:
        # Errors and warnings: a refused load, a CSP violation. Chromium's "verbose" DOM
        # advice (autocomplete attributes and the like) is not about the page working.
        if message.type in ("error", "warning"):
            watched.console.append(f"{message.type}: {message.text}")

    def on_request(request: Request) -> None:
        watched.requests.append(request.url)

    page.on("console", on_console)
    page.on("request", on_request)
    page.on("pageerror", lambda error: watched.console.append(f"pageerror: {error}"))
    return watched
