"""A local HTTP server speaking the OpenAI chat completions API (on ``tests/local_http.py``): for
the LLM extractor (JSON answers) and the agents' chat (text answers, streamed as server-sent
events when the request says ``"stream": true``, as the OpenAI API does).

``answers`` maps a word found in the user message to the JSON object to answer with; ``reply``,
when set, gives the text answer for a request's payload instead; ``script`` holds what to do first
for the next requests: ``("status", code)`` answers that error, ``("sleep", seconds)`` waits that
long before answering (a timeout test), ``("cut",)`` streams one piece and breaks the stream."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.local_http import EventStream, serve_json


@dataclass
class FakeChat:
    url: str = ""
    answers: dict[str, Any] = field(default_factory=dict)
    reply: Callable[[dict[str, Any]], str] | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    script: list[tuple] = field(default_factory=list)
    pieces: int = 4  # a streamed answer comes in this many pieces


def _split(text: str, parts: int) -> list[str]:
    size = max(1, -(-len(text) // max(parts, 1)))
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


@contextmanager
def serve_fake_chat() -> Iterator[FakeChat]:
    api = FakeChat()

    def answer(path: str, headers: Any, payload: Any) -> tuple[int, Any, dict[str, str]]:
        api.requests.append({"path": path, "json": payload, "auth": headers.get("Authorization")})
        action = api.script.pop(0) if api.script else None
        if action and action[0] == "sleep":
            time.sleep(action[1])
        elif action and action[0] == "status":
            return action[1], {"error": {"message": "scripted failure", "type": "server_error"}}, {}
        if api.reply is not None:
            content = api.reply(payload)
        else:
            user = payload["messages"][-1]["content"]
            content = json.dumps(next((a for word, a in api.answers.items() if word in user), {"entities": []}))
        if payload.get("stream"):
            chunks = [
                {
                    "id": "chatcmpl-1",
                    "object": "chat.completion.chunk",
                    "created": 0,
                    "model": payload["model"],
                    "choices": [{"index": 0, "delta": {"content": piece}, "finish_reason": None}],
                }
                for piece in _split(content, api.pieces)
            ]
            return 200, EventStream(chunks, delay=0.01, cut=bool(action and action[0] == "cut")), {}
        message = {"role": "assistant", "content": content}
        body = {
            "id": "chatcmpl-1",
            "object": "chat.completion",
            "created": 0,
            "model": payload["model"],
            "choices": [{"index": 0, "finish_reason": "stop", "message": message}],
        }
        return 200, body, {}

    with serve_json(answer) as url:
        api.url = url
        yield api
