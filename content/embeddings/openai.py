"""Embeddings from any OpenAI-compatible ``POST {base_url}/embeddings`` endpoint (OpenAI, Azure
proxies, vLLM, Ollama, LM Studio, ...), through the official ``openai`` SDK.

Vectors must be at most ``DIMENSION`` long: the ``dimensions`` request field asks models that
support it (``text-embedding-3-*``, or ``STRATA_OPENAI_DIMENSIONS=1``) for exactly 1536;
shorter vectors are zero-padded (cosine is unchanged), longer ones are refused.
The SDK retries rate limits (429), conflicts and timeouts (408/409), server errors (5xx),
timeouts and connection errors with exponential backoff (honouring ``Retry-After``) up to
``STRATA_OPENAI_MAX_RETRIES`` times; other failures, and failures left after the retries, raise
``EmbeddingError``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

import numpy as np
import openai
from django.conf import settings

from content.embeddings import DIMENSION, EmbeddingError, normalize_rows

#: Statuses the SDK retries (besides timeouts and connection errors).
RETRY_STATUSES = frozenset({408, 409, 429}) | frozenset(range(500, 600))


class OpenAIEmbedder:
    dimension = DIMENSION
    # Not calibrated here (no network): set STRATA_RELEVANCE_FLOORS for your model.
    relevance_floor = 0.0
    fusion_weights = {"rrf": 1.0, "relative_score": 1.0}  # not measured here: equal weights

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
        self._base_url = base_url
        self._client: openai.OpenAI | None = None

    @classmethod
    def from_settings(cls, model: str | None = None) -> OpenAIEmbedder:
        """Configured from settings; ``model`` (a workspace's recorded model) overrides
        ``STRATA_OPENAI_EMBEDDING_MODEL``."""
        model = model or settings.STRATA_OPENAI_EMBEDDING_MODEL
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

    @property
    def client(self) -> openai.OpenAI:
        """The SDK client (made on first use: a missing key is reported by ``embed``)."""
        if self._client is None:
            self._client = openai.OpenAI(
                base_url=self._base_url,
                # A local server may need no key. The SDK insists on one: give it a placeholder and
                # omit the Authorization header from the requests (``_post``).
                api_key=self.api_key or "unused",
                timeout=self.timeout,
                max_retries=self.max_retries,
            )
        return self._client

    def _post(self, payload: dict[str, Any]) -> Any:
        """The embeddings endpoint's JSON answer (checked by the caller), retried by the SDK."""
        try:
            no_key = {} if self.api_key else {"extra_headers": {"Authorization": openai.omit}}
            response = self.client.embeddings.with_raw_response.create(**payload, **no_key)
        except (openai.AuthenticationError, openai.PermissionDeniedError) as exc:
            raise EmbeddingError(
                f"{self.url} refused the credentials (HTTP {exc.status_code}): {_error_message(exc)}; "
                f"check STRATA_OPENAI_API_KEY"
            ) from exc
        except openai.APIStatusError as exc:
            failure = f"HTTP {exc.status_code}: {_error_message(exc)}"
            if exc.status_code in RETRY_STATUSES:
                raise self._gave_up(failure) from exc
            raise EmbeddingError(f"{self.url} failed with {failure}") from exc
        except openai.APIConnectionError as exc:  # timeouts too; the cause says what failed
            raise self._gave_up(f"request failed: {exc.__cause__ or exc}") from exc
        try:
            return json.loads(response.text)
        except ValueError as exc:
            raise EmbeddingError(f"{self.url} returned invalid JSON: {exc}") from exc

    def _gave_up(self, failure: str) -> EmbeddingError:
        return EmbeddingError(f"{self.url} still failing after {self.max_retries + 1} attempts ({failure})")


def _error_message(exc: openai.APIStatusError) -> str:
    """The server's message: ``error.message`` of an OpenAI-style body, else the body's text."""
    body = exc.body
    if isinstance(body, dict) and body.get("message"):
        return str(body["message"])
    if isinstance(body, str) and body:
        return body
    try:
        text = exc.response.text
    except Exception:  # a streamed body that cannot be read again
        text = ""
    return text.strip()[:300] or exc.response.reason_phrase or exc.message
