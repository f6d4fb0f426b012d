"""What a browser never shows: such text must not become knowledge, since pages can hide prompt injections in it.

Only the page's own markup is judged (attributes, inline styles, inert elements); rules from stylesheets
(``.sr-only``, ``<style>.x{display:none}</style>``) would need a CSS engine and are not applied.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import lxml.html

# Never rendered. <noscript> shows only with JavaScript off, so in practice crawlers alone read it: a classic
# place for text meant for machines rather than people.
_HIDDEN_TAGS = frozenset({"script", "style", "template", "noscript"})
# Inline declarations that hide an element and everything in it. opacity:0 and font-size:0 are left out:
# page builders ship visible text as opacity:0 for a script to fade in, and font-size:0 on a container is a
# layout trick whose children set their own size, so dropping either would lose text people do see.
_HIDING_DECLARATIONS = {"display": {"none"}, "visibility": {"hidden", "collapse"}, "content-visibility": {"hidden"}}
_CSS_COMMENT = re.compile(r"/\*.*?(?:\*/|$)", re.DOTALL)
_CSS_ESCAPE = re.compile(r"\\(?:([0-9a-fA-F]{1,6})[ \t\r\n\f]?|(.))", re.DOTALL)
_IMPORTANT = re.compile(r"!\s*important$")


def _css_unescape(text: str) -> str:
    """Resolve CSS escapes, so ``d\\isplay: n\\6f ne`` reads as a browser reads it."""

    def resolve(match: re.Match[str]) -> str:
        if match[1] is None:
            return match[2]
        code = int(match[1], 16)
        return chr(code) if 0 < code <= 0x10FFFF else "\ufffd"

    return _CSS_ESCAPE.sub(resolve, text)


def style_hides(style: str) -> bool:
    """Whether an inline ``style`` attribute hides its element.

    Any hiding declaration counts, even one "overridden" later: splitting at ";" cannot tell a later
    declaration from text inside a CSS string, so trusting it would let a page unhide text on paper only.
    """
    for declaration in _css_unescape(_CSS_COMMENT.sub("", style)).split(";"):
        name, _, value = declaration.partition(":")
        value = _IMPORTANT.sub("", value.strip().lower()).strip()
        if value in _HIDING_DECLARATIONS.get(name.strip().lower(), ()):
            return True
    return False


def is_hidden(tag: str, attributes: Mapping[str, str | None]) -> bool:
    """Whether an element's own markup hides it, and with it everything inside it, from people."""
    if tag in _HIDDEN_TAGS or "hidden" in attributes:
        return True
    if tag == "input" and (attributes.get("type") or "").strip().lower() == "hidden":
        return True
    if tag == "dialog" and "open" not in attributes:
        return True  # a closed dialog shows only when a script opens it, like a display:none panel
    if (attributes.get("aria-hidden") or "").strip().lower() == "true":
        return True
    return style_hides(attributes.get("style") or "")


def drop_hidden(root: lxml.html.HtmlElement) -> None:
    """Remove hidden elements, comments and processing instructions from a parsed page, keeping the text after each."""
    if is_hidden(root.tag, root.attrib):
        root.clear()
        return
    doomed = [
        element
        for element in root.iterdescendants()
        if not isinstance(element.tag, str) or is_hidden(element.tag, element.attrib)
    ]
    for element in doomed:
        element.drop_tree()  # moves the element's tail (the text after its end tag) onto what precedes it
