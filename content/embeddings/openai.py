"""Embeddings from any OpenAI-compatible ``POST {base_url}/embeddings`` endpoint (OpenAI, Azure
proxies, vLLM, Ollama, LM Studio, ...), with the standard library's HTTP client.

Vectors must be at most ``DIMENSION`` long: the ``dimensions`` request field asks models that
support it (``text-embedding-3-*``, or ``STRATA_OPENAI_DIMENSIONS=1``) for exactly 1536;
shorter vectors are zero-padded (cosine is unchanged), longer ones are refused.
Rate limits (429) and server errors (5xx), timeouts and connection errors are retried with
exponential backoff (honouring ``Retry-After``); other failures raise ``EmbeddingError``.
"""

from __future__ import annotations

import json
import logging
import random
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import numpy as np
from django.conf import settings

from content.embeddings import DIMENSION, EmbeddingError, normalize_rows

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504})
MAX_RETRY_AFTER_SECONDS = 60.0


class OpenAIEmbedder:
    dimension = DIMENSION

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        model: str,
        send_dimensions: bool,
        batch_size: int = 256,
        timeout: float = 30.0,
        max_retries: int = 5,
        backoff: float = 1.0,
    ) -> None:
        parts = urlsplit(base_url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise EmbeddingError(f"STRATA_OPENAI_BASE_URL must be an http(s) URL, got {base_url!r}")
        if not model:
            raise EmbeddingError("STRATA_OPENAI_EMBEDDING_MODEL is empty")
        if batch_size < 1:
            raise EmbeddingError(f"STRATA_EMBEDDING_BATCH_SIZE must be positive, got {batch_size}")
        self.url = base_url.rstrip("/") + "/embeddings"
        self.api_key = api_key
        self.model = model
        self.send_dimensions = send_dimensions
        self.batch_size = batch_size
        self.timeout = timeout
        self.max_retries = max(0, max_retries)
        self.backoff = backoff

    @classmethod
    def from_settings(cls) -> OpenAIEmbedder:
        model = settings.STRATA_OPENAI_EMBEDDING_MODEL
        flag = str(settings.STRATA_OPENAI_DIMENSIONS).strip().lower()
        if flag == "auto":
            send_dimensions = model.startswith("text-embedding-3")
        else:
            send_dimensions = flag in {"1", "true", "yes", "on"}
        return cls(
            base_url=settings.STRATA_OPENAI_BASE_URL,
            api_key=settings.STRATA_OPENAI_API_KEY,
            model=model,
            send_dimensions=send_dimensions,
            batch_size=settings.STRATA_EMBEDDING_BATCH_SIZE,
            timeout=settings.STRATA_OPENAI_TIMEOUT,
            max_retries=settings.STRATA_OPENAI_MAX_RETRIES,
            backoff=settings.STRATA_OPENAI_BACKOFF_SECONDS,
        )

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) == 0:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if not self.api_key and urlsplit(self.url).hostname == "api.openai.com":
            raise EmbeddingError("STRATA_OPENAI_API_KEY is not set (needed for api.openai.com)")
        parts = [self._embed_batch(list(texts[i : i + self.batch_size])) for i in range(0, len(texts), self.batch_size)]
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def _embed_batch(self, texts: list[str]) -> np.ndarray:
        # Empty strings are refused by the OpenAI API; a single space embeds "nothing".
        payload: dict[str, Any] = {
            "model": self.model,
            "input": [text if text.strip() else " " for text in texts],
            "encoding_format": "float",
        }
        if self.send_dimensions:
            payload["dimensions"] = self.dimension
        body = self._post(payload)
        data = body.get("data") if isinstance(body, dict) else None
        if not isinstance(data, list) or len(data) != len(texts):
            got = len(data) if isinstance(data, list) else "no"
            raise EmbeddingError(f"{self.url} returned {got} embeddings for {len(texts)} inputs")
        try:
            ordered = sorted(data, key=lambda item: item.get("index", 0))
            rows = [item["embedding"] for item in ordered]
            lengths = {len(row) for row in rows}
            if len(lengths) != 1:
                raise EmbeddingError(f"{self.url} returned embeddings of different lengths {sorted(lengths)}")
            vectors = np.asarray(rows, dtype=np.float32)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise EmbeddingError(f"{self.url} returned a malformed embeddings response: {exc}") from exc
        if vectors.shape[1] > self.dimension:
            raise EmbeddingError(
                f"model {self.model!r} returned {vectors.shape[1]}-dimensional vectors; Strata stores at most "
                f"{self.dimension} (set STRATA_OPENAI_DIMENSIONS=1 if the model accepts a `dimensions` parameter)"
            )
        return normalize_rows(vectors, dimension=self.dimension)

    def _post(self, payload: dict[str, Any]) -> Any:
        data = json.dumps(payload).encode("utf-8")
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        attempt = 0
        while True:
            request = urllib.request.Request(self.url, data=data, headers=headers, method="POST")
            retry_after: float | None = None
            try:
                with urllib.request.urlopen(request, timeout=self.timeout) as response:  # scheme checked in __init__
                    raw = response.read()
                try:
                    return json.loads(raw)
                except ValueError as exc:
                    raise EmbeddingError(f"{self.url} returned invalid JSON: {exc}") from exc
            except urllib.error.HTTPError as exc:
                message = _error_message(exc)
                if exc.code in (401, 403):
                    raise EmbeddingError(
                        f"{self.url} refused the credentials (HTTP {exc.code}): {message}; check STRATA_OPENAI_API_KEY"
                    ) from exc
                if exc.code not in RETRY_STATUSES:
                    raise EmbeddingError(f"{self.url} failed with HTTP {exc.code}: {message}") from exc
                failure = f"HTTP {exc.code}: {message}"
                retry_after = _retry_after(exc.headers.get("Retry-After"))
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                reason = getattr(exc, "reason", exc)
                failure = f"request failed: {reason}"
            if attempt >= self.max_retries:
                raise EmbeddingError(f"{self.url} still failing after {attempt + 1} attempts ({failure})")
            delay = retry_after if retry_after is not None else self.backoff * (2**attempt) * (1 + random.random() / 4)
            logger.warning(
                "embedding request to %s failed (%s); retry %d in %.2fs", self.url, failure, attempt + 1, delay
            )
            time.sleep(delay)
            attempt += 1


def _error_message(exc: urllib.error.HTTPError) -> str:
    try:
        raw = exc.read(4096)
    except OSError:
        return exc.reason or ""
    try:
        body = json.loads(raw)
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict) and error.get("message"):
            return str(error["message"])
        if isinstance(error, str):
            return error
    except ValueError:
        pass
    return raw.decode("utf-8", "replace").strip()[:300] or str(exc.reason)


def _retry_after(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER_SECONDS)
    except ValueError:
        return None
