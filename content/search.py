"""Search of a workspace's chunks: semantic (``content.semantic``), full-text (``content.fulltext``:
BM25 or ts_rank_cd) and hybrid (``content.fusion``: both rankings fused), with highlighted
passages; the query language is ``content.query``'s. Results are cached under the workspace's
content version (content/caching.py), so a committed change is seen at once."""

from __future__ import annotations

import html
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal, overload

from django.conf import settings
from django.db import connection
from django.utils.module_loading import import_string
from django.utils.safestring import SafeString, mark_safe
from psycopg import sql

from content import caching, fulltext, fusion
from content.documents import document_ids_matching_metadata
from content.models import Chunk, Document
from content.query import ParsedQuery, SearchError, parse_query
from content.semantic import query_embedder, query_vector_soon, semantic_ranked
from core.storage import filters as storage_filters
from core.storage import validation
from core.storage.ports import InvalidInput

SearchMode = Literal["semantic", "fulltext", "hybrid"]
SEARCH_MODES: tuple[str, ...] = ("hybrid", "semantic", "fulltext")


def search_modes() -> tuple[str, ...]:
    """The built-in modes, then those other apps add (``STRATA_SEARCH_EXTRA_MODES``, e.g. the
    knowledge app's graph-aware "graph" mode)."""
    extra = tuple(m for m in getattr(settings, "STRATA_SEARCH_EXTRA_MODES", {}) if m not in SEARCH_MODES)
    return SEARCH_MODES + extra


MAX_QUERY_CHARS = 1000
MAX_LIMIT = 100
TS_CONFIG = "english"
_MAX_POOL = 1000  # the vector port's largest k (pgvector's ef_search bound)
OVERLAP_ENCODING = True  # hybrid: embed the query while the full-text ranking runs (bench/ compares)
_PASSAGE_CHARS = 2000

# Highlight markers for ts_headline: private-use characters, turned into <mark> after escaping.
_MARK_START = "\ue000"
_MARK_STOP = "\ue001"
_MARKERS = re.compile(f"([{_MARK_START}{_MARK_STOP}])")


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
    # What a person can read: the cosine similarity to the query (semantic; None when not ranked
    # by meaning) and which of the query's words the passage contains.
    similarity: float | None = None
    matched_words: tuple[str, ...] = ()
    query_words: int = 0

    @property
    def match_summary(self) -> str:
        """e.g. "3 of 4 words · 72% similar in meaning"."""
        parts = []
        if self.query_words:
            parts.append(f"{len(self.matched_words)} of {self.query_words} word{'s' if self.query_words != 1 else ''}")
        if self.similarity is not None:
            parts.append(f"{max(0, round(self.similarity * 100))}% similar in meaning")
        return " · ".join(parts)


# ---------------------------------------------------------------- helpers


def highlight_html(headline: str) -> SafeString:
    """Escape a ts_headline result and turn its private markers into balanced <mark> tags (a start
    inside a mark and a stop outside one are dropped; an open mark is closed at the end)."""
    out: list[str] = []
    is_open = False
    # text, marker, text, marker, ...: one step per marker instead of one per character
    for position, piece in enumerate(_MARKERS.split(headline)):
        if position % 2 == 0:
            out.append(html.escape(piece))
        elif piece == _MARK_START and not is_open:
            out.append("<mark>")
            is_open = True
        elif piece == _MARK_STOP and is_open:
            out.append("</mark>")
            is_open = False
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


# ---------------------------------------------------------------- search


def _fulltext_ranked(
    *, workspace_id: int, parsed: ParsedQuery, filters: dict[str, Any] | None, limit: int
) -> list[tuple[int, float]]:
    """(chunk_id, BM25 or ts_rank_cd score) best first: chunks with ANY of the words."""
    document_ids = None
    if filters:
        document_ids = document_ids_matching_metadata(workspace_id=workspace_id, metadata=filters)
        if not document_ids:
            return []
    return fulltext.ranked_chunks(workspace_id=workspace_id, parsed=parsed, document_ids=document_ids, limit=limit)


_HITS = """
SELECT c.id, c.document_id, c.text, c.start_offset, c.end_offset, d.title, d.external_id,
       ts_headline({config}, c.text, q.query, %s) AS headline,
       ARRAY(SELECT w FROM unnest(%s::text[]) AS w WHERE c.search_vector @@ plainto_tsquery({config}, w)) AS matched
FROM {chunk} c JOIN {document} d ON d.id = c.document_id, (SELECT {or_query} AS query) q
WHERE c.workspace_id = %s AND c.id = ANY(%s)
"""
_HEADLINE_OPTIONS = (
    f'StartSel={_MARK_START}, StopSel={_MARK_STOP}, MaxWords=45, MinWords=15, MaxFragments=2, FragmentDelimiter=" … "'
)


def _hits(
    *, workspace_id: int, parsed: ParsedQuery, ranked: list[tuple[int, float]], similarity: dict[int, float]
) -> list[SearchHit]:
    if not ranked:
        return []
    ids = [chunk_id for chunk_id, _ in ranked]
    words = list(dict.fromkeys(w.lower() for w in parsed.words))
    or_query, or_params = fulltext.match_tsquery(parsed)
    statement = sql.SQL(_HITS).format(
        config=sql.SQL("'english'::regconfig"),
        chunk=sql.Identifier(Chunk._meta.db_table),
        document=sql.Identifier(Document._meta.db_table),
        or_query=or_query,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            statement.as_string(connection.connection),
            [_HEADLINE_OPTIONS, words, *or_params, workspace_id, ids],
        )
        columns = [col.name for col in cursor.description]
        rows = {row[0]: dict(zip(columns, row, strict=True)) for row in cursor.fetchall()}
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
                similarity=similarity.get(chunk_id),
                matched_words=tuple(row["matched"] or ()),
                query_words=len(words),
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
    use_cache: bool = True,
) -> list[SearchHit]:
    """Chunks of the workspace's documents that match ``query``, best first.

    The query language is ``content.query``'s: any of the words, "quoted phrases" required,
    ``-word`` excluded. ``filters`` is a JSON object the document's metadata must contain.
    Semantic hits under the embedding model's relevance floor are dropped unless they share a
    word with the query, so a query that matches no word and nothing close in meaning finds
    nothing. Raises SearchError for a bad
    request and SearchModelMismatch when this process cannot build the workspace's embedder
    (semantic and hybrid modes). ``use_cache=False`` computes the results afresh (evaluation).
    """
    results = search_results(
        workspace_id=workspace_id, query=query, mode=mode, filters=filters, limit=limit, use_cache=use_cache
    )
    return list(results[:])


class SearchResults(Sequence[SearchHit]):
    """The ranked hits of one search (``search_results``): the ranking is computed (or read from
    the cache) at once; a hit's passage, headline and matched words are read from PostgreSQL only
    when its slice is, so a page of 20 out of 100 ranked hits highlights 20 passages. Slices of
    one ranking never disagree (the ranking is cached once, under the content version)."""

    def __init__(self, *, fetch: Callable[[int, int], list[SearchHit]], ranked: list[tuple[int, float]]) -> None:
        self._fetch = fetch
        self._ranked = ranked

    def __len__(self) -> int:
        return len(self._ranked)

    def __eq__(self, other: object) -> bool:
        """Equal to a list (or another result) of the same hits (reads every hit)."""
        if not isinstance(other, (list, SearchResults)):
            return NotImplemented
        return len(self) == len(other) and self[:] == list(other)

    __hash__ = None  # type: ignore[assignment]  # mutable-looking sequence, as a list

    @property
    def best_score(self) -> float | None:
        return self._ranked[0][1] if self._ranked else None

    @overload
    def __getitem__(self, index: int) -> SearchHit: ...

    @overload
    def __getitem__(self, index: slice) -> list[SearchHit]: ...

    def __getitem__(self, index: int | slice) -> SearchHit | list[SearchHit]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self._ranked))
            hits = self._fetch(start, stop) if start < stop else []
            return hits[::step] if step != 1 else hits
        position = range(len(self._ranked))[index]  # IndexError as a list's
        hits = self._fetch(position, position + 1)
        if not hits:  # its chunk was deleted meanwhile
            raise IndexError(index)
        return hits[0]


def search_results(
    *,
    workspace_id: int,
    query: str,
    mode: SearchMode = "hybrid",
    filters: Mapping[str, Any] | None = None,
    limit: int = 10,
    use_cache: bool = True,
) -> SearchResults:
    """``search``'s hits as a sequence whose slices are read on demand (the search page shows 20
    of up to 100). Same arguments, errors and caching as ``search``."""
    if mode not in search_modes():
        raise SearchError(f"unknown search mode {mode!r}; expected one of {', '.join(search_modes())}")
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
    if mode not in SEARCH_MODES:  # another app's mode: its own selector ranks (uncached: it reads more than content)
        extra = import_string(settings.STRATA_SEARCH_EXTRA_MODES[mode])
        found = list(extra(workspace_id=int(workspace_id), query=query, filters=clean_filters, limit=limit))
        return SearchResults(fetch=lambda start, stop: found[start:stop], ranked=[(h.chunk_id, h.score) for h in found])
    parsed = parse_query(query)
    if parsed.is_empty:
        return SearchResults(fetch=lambda start, stop: [], ranked=[])
    workspace_id = int(workspace_id)
    # Refuse an unusable embedder before touching the cache, so it is reported even for cached queries.
    resolved = query_embedder(workspace_id=workspace_id) if mode != "fulltext" else None

    def rank() -> tuple[list[tuple[int, float]], dict[int, float]]:
        args = {"workspace_id": workspace_id, "parsed": parsed, "filters": clean_filters}
        semantic: list[tuple[int, float]] = []
        if mode == "semantic":
            ranked = semantic = semantic_ranked(**args, limit=limit, resolved=resolved)
        elif mode == "fulltext":
            ranked = _fulltext_ranked(**args, limit=limit)
        else:
            pool = min(max(limit * 3, int(settings.STRATA_SEARCH_FUSION_POOL)), _MAX_POOL)
            # the query is embedded in the background while PostgreSQL ranks the full text
            vector = query_vector_soon(resolved, parsed.text, workspace_id=workspace_id) if OVERLAP_ENCODING else None
            lexical = _fulltext_ranked(**args, limit=pool)
            semantic = semantic_ranked(**args, limit=pool, resolved=resolved, vector=vector)
            ranked = fusion.fuse(
                [
                    (fusion.semantic_weight(resolved[0] if resolved else None), semantic),
                    (float(settings.STRATA_SEARCH_WEIGHT_FULLTEXT), lexical),
                ]
            )[:limit]
        return ranked, dict(semantic)

    parts = (query, mode, clean_filters, limit, fulltext.cache_token(), fusion.cache_token())
    if use_cache:
        # its own name: the values under "search" (whole hit lists, before) have another shape
        ranked, similarity = caching.cached("search-ranking", workspace_id=workspace_id, parts=parts, compute=rank)
    else:
        ranked, similarity = rank()

    def fetch(start: int, stop: int) -> list[SearchHit]:
        chosen = ranked[start:stop]

        def hits() -> list[SearchHit]:
            return _hits(workspace_id=workspace_id, parsed=parsed, ranked=chosen, similarity=similarity)

        if not use_cache:
            return hits()
        # keyed by the slice's ranking itself, not its position: a ranking computed under another
        # content version never shares a key with this one
        ranking = tuple((chunk_id, score, similarity.get(chunk_id)) for chunk_id, score in chosen)
        return caching.cached("search-hits", workspace_id=workspace_id, parts=(*parts, ranking), compute=hits)

    return SearchResults(fetch=fetch, ranked=ranked)
