"""A real local HTTP server speaking the OpenAI embeddings API, for the content tests.

It returns deterministic fake vectors (``fake_vector``) and follows a script of failures
(``FakeAPI.script``) so the client's batching, retries and errors are tested over real HTTP.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from content.embeddings import DIMENSION
from tests.local_http import serve_json


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

    def answer(path: str, headers: Any, payload: Any) -> tuple[int, Any, dict[str, str]]:
        # the parsed headers themselves: HTTP header names are case-insensitive (the SDK sends them lowercase)
        api.requests.append({"path": path, "headers": headers, "json": payload})
        action = api.script.pop(0) if api.script else ("ok",)
        if action[0] == "sleep":
            time.sleep(action[1])
            action = ("ok",)
        elif action[0] == "hold":
            action[1].wait(60)
            action = ("ok",)
        if action[0] == "status":
            return action[1], action[2], action[3] if len(action) > 3 else {}
        if action[0] == "json":
            return 200, action[1], {}
        dimension = payload.get("dimensions", api.native_dimension)
        data = [
            {"object": "embedding", "index": i, "embedding": fake_vector(text, dimension)}
            for i, text in enumerate(payload["input"])
        ]
        return 200, {"object": "list", "data": data[::-1], "model": payload["model"]}, {}  # any order

    with serve_json(answer) as url:
        api.url = url
        yield api
