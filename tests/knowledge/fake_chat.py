"""A real local HTTP server speaking the OpenAI chat completions API, for the LLM extractor.

``answers`` maps a word found in the user message to the JSON object to answer with; ``script``
holds failures to answer first (``("status", code)``)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.local_http import serve_json


@dataclass
class FakeChat:
    url: str = ""
    answers: dict[str, Any] = field(default_factory=dict)
    requests: list[dict[str, Any]] = field(default_factory=list)
    script: list[tuple] = field(default_factory=list)


@contextmanager
def serve_fake_chat() -> Iterator[FakeChat]:
    api = FakeChat()

    def answer(path: str, headers: Any, payload: Any) -> tuple[int, Any, dict[str, str]]:
        api.requests.append({"path": path, "json": payload, "auth": headers.get("Authorization")})
        if api.script:
            action = api.script.pop(0)
            return action[1], {"error": {"message": "scripted failure", "type": "server_error"}}, {}
        user = payload["messages"][-1]["content"]
        found = next((a for word, a in api.answers.items() if word in user), {"entities": []})
        message = {"role": "assistant", "content": json.dumps(found)}
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
