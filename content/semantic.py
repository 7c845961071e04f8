"""Semantic ranking of a workspace's chunks: the query embedded with the workspace's own model
(cached in Redis per workspace, by model and text), its nearest chunk vectors, and the model's
relevance floor.

The relevance floor: a hit under the model's floor is noise for that model unless it shares a
word with the query, so a query that matches no word and nothing close in meaning finds nothing. Hits that break the
query's phrases and exclusions are dropped too.
"""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
from django.conf import settings
from django.db import connection
from psycopg import sql

from content import fulltext, stores, workspace_model
from content.embeddings import EmbeddingError, embed_query, relevance_floor
from content.models import Chunk
from content.query import ParsedQuery, SearchModelMismatch
from core.storage.ports import UnknownCollection


def query_embedder(*, workspace_id: int) -> tuple[Any, str] | None:
    """The workspace's own embedder (its recorded provider and model, whatever this process's
    settings say) and model; None before anything was embedded. SearchModelMismatch when this
    process cannot build it."""
    try:
        return workspace_model.query_embedder(workspace_id)
    except EmbeddingError as exc:
        raise SearchModelMismatch(f"{exc} (full-text search still works meanwhile)") from None


def workspace_floor(*, workspace_id: int, model: str) -> float:
    """The relevance floor of the workspace's model (its ``STRATA_RELEVANCE_FLOORS`` entry when this
    process cannot build the embedder)."""
    try:
        resolved = query_embedder(workspace_id=workspace_id)
    except SearchModelMismatch:
        return float((settings.STRATA_RELEVANCE_FLOORS or {}).get(model, 0.0))
    return relevance_floor(resolved[0]) if resolved else 0.0


def query_cache_key(embedder: Any, model: str, text: str, *, workspace_id: int) -> str:
    """Where the query's embedding is cached: per workspace, by model and text (and the embedder's
    ``query_cache_tag`` when its query vectors differ from the model's own, e.g. MiniLM's int8 graph).

    The workspace is part of the key so that a hit (no model call: many ms faster) tells nobody
    what another workspace searched."""
    tag = getattr(embedder, "query_cache_tag", "")
    parts = (model, tag, text) if tag else (model, text)
    return stores.cache_key("query-embedding", int(workspace_id), *parts)


def query_vector(embedder: Any, model: str, text: str, *, workspace_id: int) -> np.ndarray:
    """The query's embedding, cached in Redis per workspace by (model, text) for
    STRATA_QUERY_EMBEDDING_CACHE_SECONDS."""
    key = query_cache_key(embedder, model, text, workspace_id=workspace_id)
    cache = stores.cache()
    cached = cache.get(key)
    if isinstance(cached, bytes) and len(cached) == 4 * embedder.dimension:
        return np.frombuffer(cached, dtype=np.float32)
    vector = np.ascontiguousarray(embed_query(embedder, text), dtype=np.float32)
    cache.set(key, vector.tobytes(), timeout=settings.STRATA_QUERY_EMBEDDING_CACHE_SECONDS)
    return vector


# Hybrid search encodes the query here while its own thread waits for the full-text ranking from
# PostgreSQL (another process, another core): the slower of the two sets the latency, not their sum.
# The encoder threads touch only the embedder and the cache, never the database connection.
_ENCODERS = ThreadPoolExecutor(max_workers=2, thread_name_prefix="strata-query-encoder")


def query_vector_soon(resolved: tuple[Any, str] | None, text: str, *, workspace_id: int) -> Future | None:
    """Start embedding ``text`` with the workspace's embedder (``query_embedder``'s answer) in the
    background; ``semantic_ranked(vector=...)`` waits for it."""
    if resolved is None:
        return None
    embedder, model = resolved
    return _ENCODERS.submit(query_vector, embedder, model, text, workspace_id=int(workspace_id))


def semantic_ranked(
    *,
    workspace_id: int,
    parsed: ParsedQuery,
    filters: dict[str, Any] | None,
    limit: int,
    resolved: tuple[Any, str] | None,
    vector: Future | None = None,
) -> list[tuple[int, float]]:
    """(chunk_id, cosine similarity) closest first; ``resolved`` is ``query_embedder``'s answer,
    ``vector`` the query's embedding started by ``query_vector_soon`` (else it is computed here).

    The relevance floor: a hit under the model's floor is kept only when it shares a word with
    the query, so a query that matches no word and nothing close in meaning finds nothing. Hits
    that break the query's phrases and exclusions are dropped."""
    if resolved is None:
        return []
    embedder, model = resolved
    try:
        query = (
            vector.result()
            if vector is not None
            else query_vector(embedder, model, parsed.text, workspace_id=workspace_id)
        )
    except EmbeddingError as exc:
        raise SearchModelMismatch(
            f"could not embed the query with this workspace's model {model!r}: {exc} (full-text search still works)"
        ) from None
    floor = relevance_floor(embedder)
    # The collection holds this workspace's chunks only (stores.chunk_collection), so only a
    # metadata filter goes to the store: a filter matching every row would cost the vector
    # planner a capped count before each HNSW walk. Hits are still checked below.
    vector_filter: dict[str, Any] | None = {"doc": filters} if filters else None
    try:
        hits = stores.vectors().search(
            stores.chunk_collection(workspace_id=workspace_id, model=model),
            query.tolist(),
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
    weak = [chunk_id for chunk_id, score in ranked if score < floor]
    if weak:
        lexical = chunks_sharing_a_word(workspace_id=workspace_id, parsed=parsed, chunk_ids=weak)
        ranked = [(chunk_id, score) for chunk_id, score in ranked if score >= floor or chunk_id in lexical]
    if ranked and (parsed.phrases or parsed.excluded):
        allowed = _chunks_obeying(workspace_id=workspace_id, parsed=parsed, chunk_ids=[c for c, _ in ranked])
        ranked = [(chunk_id, score) for chunk_id, score in ranked if chunk_id in allowed]
    return ranked


def chunks_sharing_a_word(*, workspace_id: int, parsed: ParsedQuery, chunk_ids: list[int]) -> set[int]:
    """The chunks among ``chunk_ids`` that contain any of the query's words (title included)."""
    or_query, params = fulltext.match_tsquery(parsed)
    statement = sql.SQL("SELECT id FROM {} WHERE workspace_id = %s AND id = ANY(%s) AND search_vector @@ ({})").format(
        sql.Identifier(Chunk._meta.db_table), or_query
    )
    with connection.cursor() as cursor:
        cursor.execute(statement.as_string(connection.connection), [workspace_id, chunk_ids, *params])
        return {row[0] for row in cursor.fetchall()}


def _chunks_obeying(*, workspace_id: int, parsed: ParsedQuery, chunk_ids: list[int]) -> set[int]:
    """The chunks among ``chunk_ids`` that contain every phrase and no excluded word or phrase."""
    constraints, params = fulltext.constraints(parsed, vector=sql.SQL("search_vector"))
    statement = sql.SQL("SELECT id FROM {} WHERE workspace_id = %s AND id = ANY(%s){}").format(
        sql.Identifier(Chunk._meta.db_table), constraints
    )
    with connection.cursor() as cursor:
        cursor.execute(statement.as_string(connection.connection), [workspace_id, chunk_ids, *params])
        return {row[0] for row in cursor.fetchall()}
