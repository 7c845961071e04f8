"""Hybrid search's fusion of the full-text and semantic rankings (``STRATA_SEARCH_FUSION``).

- ``relative_score`` (default): each list's scores are min-max normalised to [0, 1] (its best hit
  1, its weakest 0; a chunk a list misses gets 0 from it), then summed with the per-mode weights.
  Unlike rank fusion it keeps how far apart the hits are: a BM25 hit far ahead of the rest stays
  ahead, and a weak semantic tail adds little.
- ``rrf``: weighted reciprocal rank fusion, score = sum of weight / (k + rank)
  (``STRATA_SEARCH_RRF_K``).

Weights: full-text ``STRATA_SEARCH_WEIGHT_FULLTEXT`` (1.0), semantic
``STRATA_SEARCH_WEIGHT_SEMANTIC``; its default ``auto`` is the embedding model's own weight for
the method, measured on the tuning split of the standard-library corpus (README, "Search
relevance"). Only the ratio of the two weights changes the order.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

Ranked = list[tuple[int, float]]
METHODS = ("relative_score", "rrf")


def method() -> str:
    chosen = str(settings.STRATA_SEARCH_FUSION).strip().lower()
    if chosen not in METHODS:
        raise ImproperlyConfigured(f"STRATA_SEARCH_FUSION must be one of {', '.join(METHODS)}, not {chosen!r}")
    return chosen


def semantic_weight(embedder: Any | None) -> float:
    """STRATA_SEARCH_WEIGHT_SEMANTIC, or with "auto" the embedding model's measured weight for the
    active fusion method (1.0 for a model without one)."""
    configured = settings.STRATA_SEARCH_WEIGHT_SEMANTIC
    if str(configured).strip().lower() != "auto":
        return float(configured)
    weights = getattr(embedder, "fusion_weights", None) or {}
    return float(weights.get(method(), 1.0))


def _normalised(ranked: Ranked) -> dict[int, float]:
    if not ranked:
        return {}
    scores = [score for _, score in ranked]
    low, high = min(scores), max(scores)
    span = high - low
    return {chunk_id: (score - low) / span if span > 0 else 1.0 for chunk_id, score in ranked}


def fuse(weighted: Sequence[tuple[float, Ranked]]) -> Ranked:
    """``(chunk_id, fused score)`` best first (ties by chunk id) from ``(weight, ranking)`` pairs,
    each ranking best first with its own scores."""
    scores: dict[int, float] = {}
    if method() == "rrf":
        k = int(settings.STRATA_SEARCH_RRF_K)
        for weight, ranked in weighted:
            for rank, (chunk_id, _) in enumerate(ranked, start=1):
                scores[chunk_id] = scores.get(chunk_id, 0.0) + weight / (k + rank)
    else:
        for weight, ranked in weighted:
            for chunk_id, value in _normalised(ranked).items():
                scores[chunk_id] = scores.get(chunk_id, 0.0) + weight * value
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def cache_token() -> tuple[object, ...]:
    """What changes a fused ranking (for search cache keys)."""
    return (
        settings.STRATA_SEARCH_FUSION,
        settings.STRATA_SEARCH_RRF_K,
        settings.STRATA_SEARCH_WEIGHT_SEMANTIC,
        settings.STRATA_SEARCH_WEIGHT_FULLTEXT,
        settings.STRATA_SEARCH_FUSION_POOL,
    )
