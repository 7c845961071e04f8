"""Reads of content: search (semantic, full-text, hybrid), the document page, lists, summaries.

Everything here is scoped to one workspace and only reads. Search results and the document page
are cached through the content app's cache port, tagged with the workspace (and the document),
so the ingest/delete services invalidate them when they commit a change.
"""

from __future__ import annotations

import hashlib
import html
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank
from django.core.paginator import Page, Paginator
from django.db.models import Count, F, Q
from django.utils.safestring import SafeString, mark_safe

from content import stores
from content.models import Chunk, Document, WorkspaceEmbedding
from core.storage.ports import InvalidInput, Node, NodeNotFound, NodeRef, UnknownCollection, UnknownLabel

SearchMode = Literal["semantic", "fulltext", "hybrid"]
SEARCH_MODES: tuple[str, ...] = ("hybrid", "semantic", "fulltext")
MAX_QUERY_CHARS = 1000
MAX_LIMIT = 100
RRF_K = 60
TS_CONFIG = "english"
DOCUMENTS_PER_PAGE = 50
MAX_SIMILAR = 20
_PASSAGE_CHARS = 2000
_MAX_K = 1000  # the vector port's largest k (pgvector's ef_search bound)
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


@dataclass(frozen=True)
class ChunkView:
    id: int
    ordinal: int
    text: str
    start_offset: int
    end_offset: int
    token_count: int
    embedding_model: str


@dataclass(frozen=True)
class SimilarDocument:
    document_id: int
    title: str
    external_id: str
    score: float


@dataclass(frozen=True)
class DocumentContext:
    """Everything the document page shows, read from the four data models in one place."""

    document: Document
    title: str
    text: str
    metadata: dict[str, Any]
    chunks: list[ChunkView] = field(default_factory=list)
    similar: list[SimilarDocument] = field(default_factory=list)
    related: list[Node] = field(default_factory=list)


# ---------------------------------------------------------------- helpers


def _cache_key(prefix: str, *parts: Any) -> str:
    digest = hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()
    return f"content:{prefix}:{digest}"


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
        normalised = json.loads(json.dumps(dict(filters), allow_nan=False))
    except (TypeError, ValueError) as exc:
        raise SearchError(f"metadata filters must be plain JSON values: {exc}") from None
    return normalised or None


def stored_embedding_model(*, workspace_id: int) -> str | None:
    """The model the workspace's chunk vectors were made with (None before any embedding)."""
    return WorkspaceEmbedding.objects.filter(workspace_id=workspace_id).values_list("model", flat=True).first()


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
            f"Run `python manage.py reembed` to re-embed the workspace with the configured model "
            f"(full-text search still works meanwhile)."
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

    key = _cache_key("search", workspace_id, query, mode, clean_filters, limit)
    return stores.cache().get_or_set(key, compute, tags=[stores.workspace_cache_tag(workspace_id)])


# ---------------------------------------------------------------- the document page


def _similar_documents(
    *, workspace_id: int, document: Document, chunk_ids: list[int], similar: int
) -> list[SimilarDocument]:
    model = stored_embedding_model(workspace_id=workspace_id)
    if not model or similar <= 0 or not chunk_ids:
        return []
    collection = stores.chunk_collection(workspace_id=workspace_id, model=model)
    vector_store = stores.vectors()
    vectors = []
    try:
        for chunk_id in chunk_ids[:32]:
            item = vector_store.get(collection, str(chunk_id))
            if item is not None:
                vectors.append(np.asarray(item.vector, dtype=np.float32))
    except UnknownCollection:
        return []
    if not vectors:
        return []
    centroid = np.mean(vectors, axis=0)
    norm = float(np.linalg.norm(centroid))
    if not math.isfinite(norm) or norm == 0.0:
        return []
    centroid = centroid / norm
    # The document's own chunks come first; ask for enough to get past them, widening if needed.
    k = min(len(chunk_ids) + similar * 4, _MAX_K)
    best: dict[int, float] = {}
    while True:
        hits = vector_store.search(
            collection, centroid.tolist(), model=model, k=k, filter={"workspace_id": workspace_id}
        )
        best = {}
        for hit in hits:
            try:
                doc_id = int(hit.metadata.get("document_id"))
            except (TypeError, ValueError):
                continue
            if doc_id != document.pk and doc_id not in best:
                best[doc_id] = float(hit.score)  # hits are closest first: the first is the best
        if len(best) >= similar or len(hits) < k or k >= _MAX_K:
            break
        k = min(k * 4, _MAX_K)
    rows = {
        row["id"]: row
        for row in Document.objects.filter(workspace_id=workspace_id, id__in=list(best)).values(
            "id", "title", "external_id"
        )
    }
    ranked = sorted(((score, doc_id) for doc_id, score in best.items() if doc_id in rows), key=lambda x: (-x[0], x[1]))
    return [
        SimilarDocument(
            document_id=doc_id, title=rows[doc_id]["title"], external_id=rows[doc_id]["external_id"], score=s
        )
        for s, doc_id in ranked[:similar]
    ]


def _related_nodes(*, document_id: int, limit: int = 50) -> list[Node]:
    try:
        return stores.graph().neighbours(NodeRef(stores.GRAPH_LABEL, str(document_id)), direction="both", limit=limit)
    except (NodeNotFound, UnknownLabel):
        return []


def document_with_context(*, workspace_id: int, document_id: int, similar: int = 8) -> DocumentContext:
    """The document page in one read: the row, its body and metadata, its chunks, the most similar
    other documents of the workspace and its neighbours in the graph.

    Raises Document.DoesNotExist when the document is not in the workspace.
    """
    workspace_id, document_id = int(workspace_id), int(document_id)
    similar = max(0, min(int(similar), MAX_SIMILAR))

    def compute() -> DocumentContext:
        # Raises Document.DoesNotExist for another workspace's document; nothing is cached then.
        # (The cache key holds the workspace, so a cached page is only ever served to its workspace.)
        document = Document.objects.get(pk=document_id, workspace_id=workspace_id)
        body = _body(document.pk) or {}
        chunks = [
            ChunkView(**row)
            for row in Chunk.objects.filter(document=document, workspace_id=workspace_id)
            .order_by("ordinal")
            .values("id", "ordinal", "text", "start_offset", "end_offset", "token_count", "embedding_model")
        ]
        return DocumentContext(
            document=document,
            title=body.get("title") or document.title,
            text=body.get("text") or "",
            metadata=body.get("metadata") or {},
            chunks=chunks,
            similar=_similar_documents(
                workspace_id=workspace_id, document=document, chunk_ids=[c.id for c in chunks], similar=similar
            ),
            related=_related_nodes(document_id=document.pk),
        )

    key = _cache_key("document", workspace_id, document_id, similar)
    return stores.cache().get_or_set(
        key,
        compute,
        tags=[stores.workspace_cache_tag(workspace_id), stores.document_cache_tag(document_id)],
    )


def document_body(*, workspace_id: int, document_id: int) -> dict[str, Any] | None:
    """The stored JSON body of one document of the workspace (None if it has none)."""
    if not Document.objects.filter(pk=document_id, workspace_id=workspace_id).exists():
        return None
    return _body(int(document_id))


def _body(document_id: int) -> dict[str, Any] | None:
    try:
        return stores.documents().get(stores.DOCUMENTS_COLLECTION, str(document_id))
    except UnknownCollection:
        return None


# ---------------------------------------------------------------- lists and summaries


def document_list(*, workspace_id: int, status: str | None = None, q: str | None = None, page: int | str = 1) -> Page:
    """One page of the workspace's documents, newest first; ``q`` matches title or external id."""
    documents = Document.objects.filter(workspace_id=workspace_id)
    if status:
        documents = documents.filter(status=status)
    if q and q.strip():
        documents = documents.filter(Q(title__icontains=q.strip()) | Q(external_id__icontains=q.strip()))
    documents = documents.order_by("-updated_at", "-id")
    return Paginator(documents, DOCUMENTS_PER_PAGE).get_page(page)


def document_ids_matching_metadata(*, workspace_id: int | None, metadata: Mapping[str, Any]) -> list[int]:
    """Ids of the workspace's documents whose metadata contains ``metadata`` (``workspace_id=None``:
    any workspace, for callers that scope the ids themselves, like the admin's queryset)."""
    contains: dict[str, Any] = {"metadata": dict(metadata)}
    if workspace_id is not None:
        contains["workspace_id"] = int(workspace_id)
    try:
        ids = stores.documents().find_ids(stores.DOCUMENTS_COLLECTION, contains=contains)
    except UnknownCollection:  # nothing was ever ingested
        return []
    return [int(doc_id) for doc_id in ids if doc_id.isdigit()]


def workspace_summary(*, workspace_id: int) -> dict[str, Any]:
    """The content section of the home page."""
    counts = Document.objects.filter(workspace_id=workspace_id).aggregate(
        total=Count("id"),
        ready=Count("id", filter=Q(status=Document.Status.READY)),
        pending=Count("id", filter=Q(status=Document.Status.PENDING)),
        failed=Count("id", filter=Q(status=Document.Status.FAILED)),
    )
    return {
        "title": "Content",
        "items": [
            ("Documents", counts["total"]),
            ("Ready", counts["ready"]),
            ("Waiting for embedding", counts["pending"]),
            ("Embedding failed", counts["failed"]),
            ("Chunks", Chunk.objects.filter(workspace_id=workspace_id).count()),
            ("Embedding model", stored_embedding_model(workspace_id=workspace_id) or "none yet"),
        ],
    }
