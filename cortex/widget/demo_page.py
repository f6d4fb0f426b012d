"""The demo page at `/demo`: a sample business site with the demo bot's widget, pasted as a customer would.

`cortex demo` puts the demo's public widget key in Redis (the widget application may run on a
node that cannot read the CLI's files); the page is `web/demo/index.html` with the one-line
loader filled in. Everything put into the HTML is escaped.
"""

from __future__ import annotations

import html

from cortex.widget.assets import Assets

#: Where `cortex demo` leaves the demo's public widget key.
REDIS_KEY = "cortex:demo:public_key"
PAGE = "demo/index.html"

NO_DEMO_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>No demo yet · Cortex</title></head>
<body>
<h1>No demo yet</h1>
<p>No demo yet: run <code>cortex demo</code> (or <code>make run</code>, which builds it on first start),
then reload this page.</p>
</body>
</html>
"""


def embed_snippet(public_url: str, public_key: str) -> str:
    """The one line a customer pastes (as HTML source, escaped)."""
    src = html.escape(f"{public_url.rstrip('/')}/embed.js", quote=True)
    return f'<script src="{src}" data-bot-key="{html.escape(public_key, quote=True)}" async></script>'


def render(assets: Assets, *, public_url: str, public_key: str) -> bytes | None:
    """The demo page with the loader in place and shown as text; None when the template is missing."""
    page = assets.page(PAGE)
    if page is None:
        return None
    snippet = embed_snippet(public_url, public_key)
    return page.body.replace(b"{{snippet_text}}", html.escape(snippet).encode()).replace(
        b"{{snippet}}", snippet.encode()
    )
