"""Helpers for browser tests of the widget: a customer's page with the one script tag, the frame."""

from __future__ import annotations

import asyncio
import time

from playwright.async_api import Frame, Page

# The customer's own CSS tries to restyle every iframe and button on the page: the widget lives
# in a shadow root, so none of it may reach the widget.
HOSTILE_CSS = "iframe { display: none !important; } button { background: red !important; }"


def host_page(stack_url: str, public_key: str, *, title: str = "Sunrise Bakery", body: str = "") -> str:
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>{HOSTILE_CSS} body {{ font: 18px Georgia, serif; margin: 40px; background: #fffbeb; }}</style></head>
<body><h1>{title}</h1><p>Fresh bread every morning since 1987.</p>{body}
<script src="{stack_url}/embed.js" data-bot-key="{public_key}" async></script>
</body></html>"""


async def widget_frame(page: Page, timeout_s: float = 30) -> Frame:
    """The widget's iframe (inside a closed shadow root, so found among the page's frames)."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for frame in page.frames:
            if "/widget?v=" in frame.url:
                return frame
        await asyncio.sleep(0.05)
    raise AssertionError(f"no widget frame on {page.url} within {timeout_s}s")


async def ask(frame: Frame, text: str) -> None:
    """Type a message and send it with Enter, as a visitor would."""
    await frame.locator("#input").fill(text)
    await frame.locator("#input").press("Enter")


async def wait_bot_answers(frame: Frame, count: int, timeout_ms: int = 60_000) -> None:
    """Until `count` stored bot replies (with ids, i.e. finished) are on screen."""
    await frame.wait_for_function(
        'n => document.querySelectorAll(\'li.message.bot[data-id]:not([data-id="welcome"]):not([data-id=""])\')'
        ".length >= n",
        arg=count,
        timeout=timeout_ms,
    )
