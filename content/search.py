"""Search of a workspace's chunks: semantic (vectors), full-text (tsvector) and hybrid
(reciprocal rank fusion of both), with highlighted passages. Results are cached under the
workspace's content version (content/caching.py), so a committed change is seen at once."""

from __future__ import annotations

import html
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from django.conf import settings
from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank
from django.db.models import F
from django.utils.safestring import SafeString, mark_safe

from content import caching, stores
from content.documents import document_ids_matching_metadata, stored_embedding_model
from content.models import Chunk
from core.storage import filters as storage_filters
from core.storage import validation
from core.storage.ports import InvalidInput, UnknownCollection

SearchMode = Literal["semantic", "fulltext", "hybrid"]
SEARCH_MODES: tuple[str, ...] = ("hybrid", "semantic", "fulltext")
MAX_QUERY_CHARS = 1000
MAX_LIMIT = 100
RRF_K = 60
TS_CONFIG = "english"
_PASSAGE_CHARS = 2000

# Highlight markers for ts_headline: private-use characters, turned into <mark> after escaping.
_MARK_START = "\ue000"
_MARK_STOP = "\ue001"


class SearchError(InvalidInput):
    """The search request is refused (bad query, bad filters, or vectors of another model)."""


class SearchModelMismatch(SearchError):
    """The configured embedder is not the model the workspace's vectors were made with."""


@dataclass(frozen=True)
class SearchHit:
    document_id: int
    chunk_id: int
    title: str
    passage: str
    start_offset: int
    end_offset: int
    score: float
    # The passage fragment with the matched terms in <mark>; the text is HTML-escaped (a SafeString).
    highlighted_html: str = ""
    external_id: str = ""


# ---------------------------------------------------------------- helpers


def highlight_html(headline: str) -> SafeString:
    """Escape a ts_headline result and turn its private markers into balanced <mark> tags."""
    out: list[str] = []
    is_open = False
    buf: list[str] = []
    for ch in headline:
        if ch == _MARK_START or ch == _MARK_STOP:
            out.append(html.escape("".join(buf)))
            buf = []
            if ch == _MARK_START and not is_open:
                out.append("<mark>")
                is_open = True
            elif ch == _MARK_STOP and is_open:
                out.append("</mark>")
                is_open = False
        else:
            buf.append(ch)
    out.append(html.escape("".join(buf)))
    if is_open:
        out.append("</mark>")
    return mark_safe("".join(out))  # noqa: S308 -- every piece of text above went through html.escape


def _validate_filters(filters: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if filters is None:
        return None
    if not isinstance(filters, Mapping):
        raise SearchError("metadata filters must be a JSON object")
    if not all(isinstance(key, str) and key for key in filters):
        raise SearchError("metadata filter keys must be non-empty strings")
    try:
        text = validation.json_object_text(
            filters, what="metadata filters", max_bytes=settings.STRATA_MAX_METADATA_BYTES
        )
    except InvalidInput as exc:
        raise SearchError(f"metadata filters must be plain JSON values: {exc}") from None
    try:
        storage_filters.from_containment(filters, what="metadata filter")  # every store can run it
    except InvalidInput as exc:
        raise SearchError(str(exc)) from None
    return json.loads(text) or None


def _query_embedder(*, workspace_id: int) -> tuple[Any, str] | None:
    """The configured embedder and the stored model, refusing a model mismatch."""
    from content.embeddings import get_embedder

    model = stored_embedding_model(workspace_id=workspace_id)
    if not model:
        return None
    embedder = get_embedder()
    if embedder.model != model:
        raise SearchModelMismatch(
            f"This workspace's vectors were made with the embedding model {model!r}, but the configured "
            f"embedder is {embedder.model!r}; semantic search would compare unrelated vectors. "
            f"Re-embed the workspace with the configured model: `./strata manage reembed --workspace "
            f"{workspace_id} --provider {settings.STRATA_EMBEDDING_PROVIDER}` (full-text search still works "
            f"meanwhile)."
        )
    return embedder, model


# ---------------------------------------------------------------- search


def _semantic_ranked(
    *, workspace_id: int, query: str, filters: dict[str, Any] | None, limit: int, resolved: tuple[Any, str] | None
) -> list[tuple[int, float]]:
    """(chunk_id, cosine similarity) closest first; ``resolved`` is ``_query_embedder``'s answer."""
    if resolved is None:
        return []
    embedder, model = resolved
    vector = np.asarray(embedder.embed([query]), dtype=np.float32)[0]
    vector_filter: dict[str, Any] = {"workspace_id": workspace_id}
    if filters:
        vector_filter["doc"] = filters
    try:
        hits = stores.vectors().search(
            stores.chunk_collection(workspace_id=workspace_id, model=model),
            vector.tolist(),
            model=model,
            k=limit,
            filter=vector_filter,
        )
    except UnknownCollection:
        return []
    ranked: list[tuple[int, float]] = []
    for hit in hits:
        if hit.metadata.get("workspace_id") != workspace_id:  # defence in depth; the filter already scopes
            continue
        chunk_id = hit.metadata.get("chunk_id", hit.key)
        try:
            ranked.append((int(chunk_id), float(hit.score)))
        except (TypeError, ValueError):
            continue
    return ranked


def _fulltext_ranked(
    *, workspace_id: int, query: str, filters: dict[str, Any] | None, limit: int
) -> list[tuple[int, float]]:
    """(chunk_id, ts_rank) best first."""
    search_query = SearchQuery(query, search_type="websearch", config=TS_CONFIG)
    chunks = Chunk.objects.filter(workspace_id=workspace_id, search_vector=search_query)
    if filters:
        document_ids = document_ids_matching_metadata(workspace_id=workspace_id, metadata=filters)
        if not document_ids:
            return []
        chunks = chunks.filter(document_id__in=document_ids)
    rows = (
        chunks.annotate(rank=SearchRank(F("search_vector"), search_query))
        .order_by("-rank", "id")
        .values_list("id", "rank")[:limit]
    )
    return [(chunk_id, float(rank)) for chunk_id, rank in rows]


def _fuse(ranked_lists: list[list[tuple[int, float]]], *, k: int = RRF_K) -> list[tuple[int, float]]:
    """Reciprocal rank fusion: score(chunk) = sum over lists of 1 / (k + rank)."""
    scores: dict[int, float] = {}
    for ranked in ranked_lists:
        for rank, (chunk_id, _score) in enumerate(ranked, start=1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + 1.0 / (k + rank)
    return sorted(scores.items(), key=lambda item: (-item[1], item[0]))


def _hits(*, workspace_id: int, query: str, ranked: list[tuple[int, float]]) -> list[SearchHit]:
    if not ranked:
        return []
    ids = [chunk_id for chunk_id, _ in ranked]
    search_query = SearchQuery(query, search_type="websearch", config=TS_CONFIG)
    rows = {
        row["id"]: row
        for row in Chunk.objects.filter(workspace_id=workspace_id, id__in=ids)
        .annotate(
            headline=SearchHeadline(
                "text",
                search_query,
                config=TS_CONFIG,
                start_sel=_MARK_START,
                stop_sel=_MARK_STOP,
                max_words=45,
                min_words=15,
                max_fragments=2,
                fragment_delimiter=" … ",
            ),
            title=F("document__title"),
            external_id=F("document__external_id"),
        )
        .values("id", "document_id", "text", "start_offset", "end_offset", "headline", "title", "external_id")
    }
    hits: list[SearchHit] = []
    for chunk_id, score in ranked:
        row = rows.get(chunk_id)
        if row is None:  # a vector whose chunk is gone (deleted meanwhile)
            continue
        hits.append(
            SearchHit(
                document_id=row["document_id"],
                chunk_id=chunk_id,
                title=row["title"],
                passage=row["text"][:_PASSAGE_CHARS],
                start_offset=row["start_offset"],
                end_offset=row["end_offset"],
                score=score,
                highlighted_html=highlight_html(row["headline"] or ""),
                external_id=row["external_id"],
            )
        )
    return hits


def search(
    *,
    workspace_id: int,
    query: str,
    mode: SearchMode = "hybrid",
    filters: Mapping[str, Any] | None = None,
    limit: int = 10,
) -> list[SearchHit]:
    """Chunks of the workspace's documents that match ``query``, best first.

    ``filters`` is a JSON object the document's metadata must contain. Raises SearchError for a
    bad request and SearchModelMismatch when the workspace's vectors were made by another model
    than the configured embedder (semantic and hybrid modes).
    """
    if mode not in SEARCH_MODES:
        raise SearchError(f"unknown search mode {mode!r}; expected one of {', '.join(SEARCH_MODES)}")
    if not isinstance(query, str):
        raise SearchError("the query must be text")
    query = query.strip()
    if len(query) > MAX_QUERY_CHARS:
        raise SearchError(f"the query is too long ({len(query)} characters; the limit is {MAX_QUERY_CHARS})")
    if "\x00" in query:
        raise SearchError("the query contains a NUL character")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise SearchError(f"limit must be an integer between 1 and {MAX_LIMIT}")
    clean_filters = _validate_filters(filters)
    if not query:
        return []
    workspace_id = int(workspace_id)
    # Refuse a model mismatch before touching the cache, so it is reported even for cached queries.
    resolved = _query_embedder(workspace_id=workspace_id) if mode != "fulltext" else None

    def compute() -> list[SearchHit]:
        args = {"workspace_id": workspace_id, "query": query, "filters": clean_filters}
        if mode == "semantic":
            ranked = _semantic_ranked(**args, limit=limit, resolved=resolved)
        elif mode == "fulltext":
            ranked = _fulltext_ranked(**args, limit=limit)
        else:
            pool = min(max(limit * 3, 30), 300)
            ranked = _fuse(
                [_semantic_ranked(**args, limit=pool, resolved=resolved), _fulltext_ranked(**args, limit=pool)]
            )[:limit]
        return _hits(workspace_id=workspace_id, query=query, ranked=ranked)

    return caching.cached(
        "search", workspace_id=workspace_id, parts=(query, mode, clean_filters, limit), compute=compute
    )
