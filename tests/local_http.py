"""A real local HTTP server answering JSON POSTs, shared by the fake OpenAI-compatible APIs of
the tests (``tests/content/fake_openai.py``: embeddings; ``tests/knowledge/fake_chat.py``: chat).

``serve_json(answer)`` serves on a free local port until the block ends and yields its base URL
(``http://127.0.0.1:<port>/v1``). ``answer(path, headers, payload)`` returns ``(status, body,
headers)``; the server sends ``body`` as JSON, or, when it is an ``EventStream``, as server-sent
events (``data: <json>`` each, then ``data: [DONE]``), the way OpenAI-compatible APIs stream."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = Callable[[str, Any, Any], tuple[int, Any, dict[str, str]]]


@dataclass(frozen=True)
class EventStream:
    """A streamed answer: each event's JSON, sent ``delay`` seconds apart; ``cut``: the
    connection breaks after the first event (a malformed line, no ``[DONE]``)."""

    events: list[Any] = field(default_factory=list)
    delay: float = 0.0
    cut: bool = False


@contextmanager
def serve_json(answer: Answer) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status, body, headers = answer(self.path, self.headers, payload)
            if isinstance(body, EventStream):
                self._stream(status, body)
                return
            raw = json.dumps(body).encode()
            try:
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout tests)
                pass

        def _stream(self, status: int, stream: EventStream) -> None:
            try:
                self.send_response(status)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()  # HTTP/1.0: the body ends when the connection closes
                for i, event in enumerate(stream.events):
                    if i and stream.delay:
                        time.sleep(stream.delay)
                    self.wfile.write(f"data: {json.dumps(event)}\n\n".encode())
                    self.wfile.flush()
                    if stream.cut:
                        self.wfile.write(b"data: {not json")
                        return
                self.wfile.write(b"data: [DONE]\n\n")
            except (BrokenPipeError, ConnectionResetError):
                pass

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1"
    finally:
        server.shutdown()
        server.server_close()
