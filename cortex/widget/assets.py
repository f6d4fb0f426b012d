"""The static files of `web/` (widget, embed loader, dashboard), served with a versioned URL.

Every file is reachable at `/static/<version>/<path>`, where the version is a hash of the whole
tree: one change anywhere gives every asset a new URL, so versioned assets can be cached for a
year, and relative ES-module imports inside them stay on the same version. Pages and the loader
(`embed.js`) are templates: `{{static}}` becomes `/static/<version>`, `{{version}}` the version.
Files are read from disk (a changed file is served at once, which is what a developer editing
the dashboard wants); the version is recomputed only when a file's size or mtime changes.
"""

from __future__ import annotations

import hashlib
import mimetypes
import threading
import time
from dataclasses import dataclass
from pathlib import Path

WEB_DIR = Path(__file__).resolve().parents[2] / "web"
# How often the tree is re-listed for changes: cheap (a few dozen stat calls), and a developer's
# edit shows up on the next reload.
RESCAN_S = 2.0
TEXT_TYPES = {".js": "text/javascript", ".mjs": "text/javascript", ".css": "text/css", ".html": "text/html"}


@dataclass(frozen=True)
class Asset:
    body: bytes
    content_type: str
    etag: str


class Assets:
    """The web/ tree: versioned static files and templated pages."""

    def __init__(self, root: Path = WEB_DIR) -> None:
        self.root = root.resolve()
        self._lock = threading.Lock()
        self._signature: tuple = ()
        self._version = ""
        self._scanned_at = 0.0

    @property
    def version(self) -> str:
        """A hash of the whole tree's contents (10 hex digits)."""
        now = time.monotonic()
        if now - self._scanned_at < RESCAN_S and self._version:
            return self._version
        with self._lock:
            files = sorted(p for p in self.root.rglob("*") if p.is_file() and not p.name.startswith("."))
            signature = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
            if signature != self._signature:
                digest = hashlib.sha256()
                for path in files:
                    digest.update(str(path.relative_to(self.root)).encode() + b"\0" + path.read_bytes() + b"\0")
                self._version = digest.hexdigest()[:10]
                self._signature = signature
            self._scanned_at = now
        return self._version

    def file(self, relative: str) -> Asset | None:
        """A file under the root, or None (also for anything that would escape the root)."""
        if not relative or "\\" in relative or "\0" in relative:
            return None
        path = (self.root / relative).resolve()
        if not path.is_relative_to(self.root) or not path.is_file() or path.name.startswith("."):
            return None
        body = path.read_bytes()
        return Asset(body=body, content_type=_content_type(path), etag=_etag(body))

    def page(self, relative: str) -> Asset | None:
        """A template with `{{static}}` and `{{version}}` filled in."""
        asset = self.file(relative)
        if asset is None:
            return None
        version = self.version
        body = asset.body.replace(b"{{static}}", f"/static/{version}".encode()).replace(
            b"{{version}}", version.encode()
        )
        return Asset(body=body, content_type=asset.content_type, etag=_etag(body))


def _content_type(path: Path) -> str:
    kind = TEXT_TYPES.get(path.suffix) or mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return f"{kind}; charset=utf-8" if kind.startswith("text/") or kind.endswith(("json", "svg+xml")) else kind


def _etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
