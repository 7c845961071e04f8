"""A real local HTTP server answering JSON POSTs, shared by the fake OpenAI-compatible APIs of
the tests (``tests/content/fake_openai.py``: embeddings; ``tests/knowledge/fake_chat.py``: chat).

``serve_json(answer)`` serves on a free local port until the block ends and yields its base URL
(``http://127.0.0.1:<port>/v1``). ``answer(path, headers, payload)`` returns ``(status, body,
headers)``; the server sends ``body`` as JSON."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Answer = Callable[[str, Any, Any], tuple[int, Any, dict[str, str]]]


@contextmanager
def serve_json(answer: Answer) -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            status, body, headers = answer(self.path, self.headers, payload)
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
