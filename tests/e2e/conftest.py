"""Browser tests: Playwright driving Debian's chromium against the session's embedded stack.

A second local origin (`host_site`) plays the customer's website that pastes the widget's one
`<script>` tag; the same server reached as `localhost` is a different origin, not on any list.
Screenshots of each flow land in tests/artifacts/screenshots/ (kept by CI, and worth a look).
"""

from __future__ import annotations

import functools
import shutil
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import Browser, Page, async_playwright

from cortex.stack import free_port
from tests.pages import serve_pages

CHROMIUM = "/usr/bin/chromium"
# Without the background-networking flags chromium keeps dialling Google's hosts, which this
# machine's closed network refuses; --no-sandbox because CI runs as root.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"


@dataclass
class HostSite:
    """A customer's website on its own origin; pages are added by the tests."""

    port: int
    pages: dict[str, bytes] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def other_origin(self) -> str:
        """The same server under another name: a different origin, on no widget key's list."""
        return f"http://localhost:{self.port}"

    def add(self, path: str, html: str) -> str:
        self.pages[path] = html.encode()
        return self.origin + path


@pytest.fixture(scope="session")
def host_site() -> Iterator[HostSite]:
    site = HostSite(port=free_port())
    with serve_pages(site.pages, port=site.port):
        yield site


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium (apt-get install chromium)")
    shutil.rmtree(SCREENSHOTS, ignore_errors=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        await browser.close()


@dataclass
class Tab:
    """A page plus what its console said (errors fail the test that reads them)."""

    page: Page
    console: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[str]:
        return [line for line in self.console if line.startswith("error")]

    async def shot(self, name: str) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        await self.page.screenshot(path=str(path))
        return path


@pytest.fixture
async def new_tab(browser: Browser) -> AsyncIterator[functools.partial]:
    contexts = []

    async def make(viewport: dict[str, int] | None = None) -> Tab:
        context = await browser.new_context(viewport=viewport or {"width": 1280, "height": 800})
        contexts.append(context)
        page = await context.new_page()
        page.set_default_timeout(30_000)
        tab = Tab(page)
        page.on("console", lambda message: tab.console.append(f"{message.type}: {message.text}"))
        page.on("pageerror", lambda error: tab.console.append(f"error: {error}"))
        return tab

    yield make
    for context in contexts:
        await context.close()
