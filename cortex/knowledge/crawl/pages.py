"""What an HTML page yields to the crawler: title, main text, links to follow and robots directives."""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urljoin

import lxml.html
from lxml import etree

from cortex.knowledge.crawl.urls import canonicalize_url
from cortex.knowledge.parsing import page_text
from cortex.knowledge.visibility import drop_hidden

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml"})


@dataclass(frozen=True)
class PageAnalysis:
    """What an HTML page yields: title, main text, outgoing links and robots directives."""

    title: str
    text: str  # the visible main text as Markdown (parsing.page_text, as for uploads), "" when none was found
    links: list[str]  # canonical, unique, in document order; rel=nofollow links left out
    canonical: str | None  # <link rel=canonical>, canonicalised
    noindex: bool
    nofollow: bool


def _tokens(value: str | None) -> set[str]:
    return {token for token in re.split(r"[\s,]+", (value or "").lower()) if token}


def analyse_html(body: bytes, *, url: str, charset: str | None = None, robots_header: str = "") -> PageAnalysis:
    """Read a page's links and directives, and extract its main text as an uploaded page's, hidden text left out."""
    parser = None
    if charset:
        try:
            parser = lxml.html.HTMLParser(encoding=charset)
        except LookupError:
            parser = None
    try:
        document = lxml.html.document_fromstring(body, parser=parser)
    except (ValueError, etree.ParserError):
        return PageAnalysis(title="", text="", links=[], canonical=None, noindex=False, nofollow=False)
    base = url
    for element in document.iter("base"):
        if element.get("href"):
            base = urljoin(url, element.get("href", "").strip())
            break
    directives = _tokens(robots_header)
    for meta in document.iter("meta"):
        if meta.get("name", "").strip().lower() in ("robots", "cortexbot"):
            directives |= _tokens(meta.get("content"))
    noindex = bool(directives & {"noindex", "none"})
    nofollow = bool(directives & {"nofollow", "none"})
    canonical = None
    for link in document.iter("link"):
        if "canonical" in _tokens(link.get("rel")) and link.get("href"):
            canonical = canonicalize_url(link.get("href", ""), base=base)
            break
    # Links no visitor can see are not followed either: hidden links are the classic crawler trap.
    drop_hidden(document)
    links: dict[str, None] = {}
    for anchor in document.iter("a"):
        href = anchor.get("href")
        if href and "nofollow" not in _tokens(anchor.get("rel")):
            target = canonicalize_url(href, base=base)
            if target is not None:
                links[target] = None
    title = " ".join((document.findtext(".//title") or "").split())
    if not title:
        heading = document.find(".//h1")
        title = " ".join(heading.text_content().split()) if heading is not None else ""
    return PageAnalysis(
        title=title,
        text=page_text(body, charset=charset),
        links=list(links),
        canonical=canonical,
        noindex=noindex,
        nofollow=nofollow,
    )
