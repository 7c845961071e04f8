"""A real local HTTP server speaking the OpenAI chat completions API, for the LLM extractor.

``answers`` maps a word found in the user message to the JSON object to answer with; ``script``
holds failures to answer first (``("status", code)``)."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class FakeChat:
    url: str = ""
    answers: dict[str, Any] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    script: list[tuple] = field(default_factory=list)


@contextmanager
def serve_fake_chat() -> Iterator[FakeChat]:
    api = FakeChat()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802
            payload = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            api.requests.append({"path": self.path, "json": payload, "auth": self.headers.get("Authorization")})
            if api.script:
                action = api.script.pop(0)
                self._send(action[1], {"error": {"message": "scripted failure", "type": "server_error"}})
                return
            user = payload["messages"][-1]["content"]
            answer = next((a for word, a in api.answers.items() if word in user), {"entities": []})
            body = {
                "id": "chatcmpl-1",
                "object": "chat.completion",
                "created": 0,
                "model": payload["model"],
                "choices": [
                    {
                        "index": 0,
                        "finish_reason": "stop",
                        "message": {"role": "assistant", "content": json.dumps(answer)},
                    }
                ],
            }
            self._send(200, body)

        def _send(self, status: int, body: Any) -> None:
            raw = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

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
