"""A real local HTTP server speaking the OpenAI embeddings API, for the content tests.

It returns deterministic fake vectors (``fake_vector``) and follows a script of failures
(``FakeAPI.script``) so the client's batching, retries and errors are tested over real HTTP.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np

from content.embeddings import DIMENSION


def fake_vector(text: str, dimension: int) -> list[float]:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    return np.random.default_rng(seed).normal(size=dimension).round(6).tolist()


@dataclass
class FakeAPI:
    url: str = ""
    native_dimension: int = DIMENSION
    requests: list[dict[str, Any]] = field(default_factory=list)
    # what to answer next: ("ok",), ("status", code, body, headers), ("sleep", seconds), ("json", body),
    # ("hold", threading.Event): answer once the test sets the event (at most 60 s)
    script: list[tuple] = field(default_factory=list)


@contextmanager
def serve_fake_api() -> Iterator[FakeAPI]:
    """Serve the fake API on a free local port until the block ends."""
    api = FakeAPI()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 (http.server's name)
            payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            # the parsed headers themselves: HTTP header names are case-insensitive (the SDK sends them lowercase)
            api.requests.append({"path": self.path, "headers": self.headers, "json": payload})
            action = api.script.pop(0) if api.script else ("ok",)
            if action[0] == "sleep":
                time.sleep(action[1])
                action = ("ok",)
            elif action[0] == "hold":
                action[1].wait(60)
                action = ("ok",)
            if action[0] == "status":
                self._send(action[1], action[2], action[3] if len(action) > 3 else {})
            elif action[0] == "json":
                self._send(200, action[1])
            else:
                dimension = payload.get("dimensions", api.native_dimension)
                data = [
                    {"object": "embedding", "index": i, "embedding": fake_vector(text, dimension)}
                    for i, text in enumerate(payload["input"])
                ]
                self._send(200, {"object": "list", "data": data[::-1], "model": payload["model"]})  # any order

        def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
            raw = json.dumps(body).encode()
            try:
                self.send_response(status)
                for name, value in (headers or {}).items():
                    self.send_header(name, value)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)
            except (BrokenPipeError, ConnectionResetError):  # the client gave up (timeout test)
                pass

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    api.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    try:
        yield api
    finally:
        server.shutdown()
        server.server_close()
