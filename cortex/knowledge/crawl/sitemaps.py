"""Reading sitemaps and sitemap indexes (sitemaps.org protocol), safely.

Our own expat reader, not a library's, for measured reasons (50,000-URL urlset, 2 cores):
- ``ultimate-sitemap-parser`` refuses DTDs as this does, but took 0.85 s against 0.19 s here, accepts a
  truncated file as an empty sitemap (no warning for the owner), and would be a new dependency;
- ``trafilatura.sitemaps`` took 0.95 s, drops a ``<loc>`` with surrounding whitespace, tells pages from
  sitemaps by a ``.xml`` suffix, and cleans URLs with courlan's rules, which merge distinct pages.
Fetching stays with the crawler either way: every sitemap goes through the guarded fetcher.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Literal, NoReturn
from xml.parsers import expat

# The sitemap protocol's limits for one file: 50 MB uncompressed and 50,000 URLs.
MAX_SITEMAP_BYTES = 50 * 1024 * 1024
MAX_SITEMAP_URLS = 50_000


class SitemapError(ValueError):
    """A sitemap that is not one, too large, or uses DTDs/entities (refused: entity expansion attacks)."""


@dataclass(frozen=True)
class SitemapDocument:
    """A parsed sitemap: page URLs (urlset) or child sitemap URLs (sitemapindex)."""

    kind: Literal["urlset", "sitemapindex"]
    locations: list[str]


def parse_sitemap_document(xml: bytes) -> SitemapDocument:
    """Parse a sitemap or sitemap index with expat, refusing any DTD or entity declaration."""
    if len(xml) > MAX_SITEMAP_BYTES:
        raise SitemapError(f"sitemap larger than {MAX_SITEMAP_BYTES} bytes")
    parser = expat.ParserCreate(namespace_separator=" ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    root: list[str] = []
    stack: list[str] = []
    text: list[str] = []
    locations: list[str] = []

    def refuse(*_: object) -> NoReturn:
        raise SitemapError("sitemaps with a DTD or entity declarations are refused")

    def start(name: str, _attributes: dict[str, str]) -> None:
        local = name.rsplit(" ", 1)[-1]  # "namespace-uri local-name"
        if not root:
            root.append(local)
        stack.append(local)
        text.clear()

    def end(name: str) -> None:
        local = stack.pop()
        if local == "loc" and stack and stack[-1] in ("url", "sitemap") and len(locations) < MAX_SITEMAP_URLS:
            location = "".join(text).strip()
            if location:
                locations.append(location)

    def characters(data: str) -> None:
        if stack and stack[-1] == "loc":
            text.append(data)

    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.UnparsedEntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = characters
    try:
        parser.Parse(xml, True)
    except expat.ExpatError as exc:
        raise SitemapError(f"not well-formed XML: {exc}") from exc
    kind = root[0] if root else "missing"
    if kind == "urlset":
        return SitemapDocument(kind="urlset", locations=locations)
    if kind == "sitemapindex":
        return SitemapDocument(kind="sitemapindex", locations=locations)
    raise SitemapError(f"not a sitemap: the root element is {kind}")


def parse_sitemap(xml: bytes) -> list[str]:
    """The ``<loc>`` URLs of a sitemap (pages) or sitemap index (child sitemaps); gzip is undone."""
    return parse_sitemap_document(gunzip_if_needed(xml)).locations


def gunzip_if_needed(data: bytes) -> bytes:
    """A gzip-compressed sitemap (``sitemap.xml.gz``) decompressed, bounded by the protocol's size limit."""
    if not data.startswith(b"\x1f\x8b"):
        return data
    try:
        inflated = zlib.decompressobj(zlib.MAX_WBITS | 16).decompress(data, MAX_SITEMAP_BYTES + 1)
    except zlib.error as exc:
        raise SitemapError(f"corrupt gzip: {exc}") from exc
    if len(inflated) > MAX_SITEMAP_BYTES:
        raise SitemapError(f"sitemap larger than {MAX_SITEMAP_BYTES} bytes once decompressed")
    return inflated
