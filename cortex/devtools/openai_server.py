"""A local server speaking OpenAI's /v1/chat/completions wire format (SSE streaming included).

Stands in for a hosted OpenAI-compatible endpoint we cannot reach from here; it answers with a
fixed text, token by token, and can be told to fail the next N requests with a status code.
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


class _Server(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that drops its kept-alive connection is normal here, not a traceback on stderr."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class OpenAIServer:
    """The stand-in endpoint on a free loopback port; `url` is its base URL (without /v1)."""

    def __init__(self, answer: str = "We open at 7am [1].", token_delay_s: float = 0.0) -> None:
        self.answer = answer
        self.token_delay_s = token_delay_s
        self.fail_next: list[int] = []
        self.cut_after_first_token = False  # drop the connection mid-answer
        self.requests: list[dict[str, Any]] = []
        self.streams: list[str] = []  # per streamed answer: "completed", or "abandoned" by the client
        self._server = _Server(("127.0.0.1", 0), self._handler())
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Each token is written as it comes, as a real streaming server does (Nagle off).
            disable_nagle_algorithm = True

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                server.requests.append({"body": body, "auth": self.headers.get("Authorization")})
                if server.fail_next:
                    status = server.fail_next.pop(0)
                    payload = json.dumps({"error": {"message": "upstream trouble", "type": "server_error"}}).encode()
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                words = server.answer.split(" ")
                if not body.get("stream"):
                    payload = json.dumps(
                        {
                            "id": "chatcmpl-1",
                            "object": "chat.completion",
                            "choices": [
                                {
                                    "index": 0,
                                    "message": {"role": "assistant", "content": server.answer},
                                    "finish_reason": "stop",
                                }
                            ],
                        }
                    ).encode()
                    self.send_response(200)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                pieces = [{"role": "assistant"}] + [
                    {"content": w + (" " if i < len(words) - 1 else "")} for i, w in enumerate(words)
                ]
                try:
                    for delta in pieces:
                        chunk = {
                            "id": "chatcmpl-1",
                            "object": "chat.completion.chunk",
                            "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
                        }
                        self._chunk(f"data: {json.dumps(chunk)}\n\n".encode())
                        if server.cut_after_first_token and "content" in delta:
                            self.close_connection = True
                            self.connection.shutdown(socket.SHUT_RDWR)
                            return
                        time.sleep(server.token_delay_s)
                    self._chunk(b"data: [DONE]\n\n")
                    self._chunk(b"")
                except (BrokenPipeError, ConnectionResetError):
                    server.streams.append("abandoned")
                    self.close_connection = True
                    return
                server.streams.append("completed")

            def _chunk(self, data: bytes) -> None:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

        return Handler

    def start(self) -> OpenAIServer:
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
