"""A website the tests stand up: paths to HTML pages, served on 127.0.0.1 from a thread."""

from __future__ import annotations

import contextlib
import http.server
import threading
from collections.abc import Iterator, Mapping


@contextlib.contextmanager
def serve_pages(pages: Mapping[str, bytes], *, port: int = 0) -> Iterator[str]:
    """Serve `pages` (looked up at each request, so a test may add some) until the block ends;
    yields the origin. Unknown paths are 404s; the favicon browsers ask for is an empty 204."""

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            if self.path == "/favicon.ico":  # a 404 would read as a console error in the browser
                self.send_response(204)
                self.end_headers()
                return
            body = pages.get(self.path.split("?")[0])
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(body or b"not found")

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
