"""Full-text ranking of a workspace's chunks: BM25 through ``pg_textsearch`` where the server has it,
``ts_rank_cd`` over the chunks' ``tsvector`` otherwise.

Both read a query parsed by ``content.query``: a chunk matches when it contains ANY of the words
(OR semantics), contains every quoted phrase and none of the excluded words or phrases.

- **BM25** (``pg_textsearch``): score = BM25(chunk text) + ``STRATA_SEARCH_TITLE_WEIGHT`` x
  BM25(document title). A workspace with its own BM25 indexes (``content.bm25_workspaces``) is
  ranked from them: its own term statistics, and the index scan reads only its rows. Otherwise
  (not created yet, or stale) from the table-wide indexes (``content_chunk_text_bm25``,
  ``content_document_title_bm25``): term statistics of every workspace, and the index scan skips
  other workspaces' rows until the filter has yielded enough (slower the more matching text other
  workspaces hold). Results are always filtered to the workspace.
- **ts_rank_cd** (fallback): cover density over the chunk's ``tsvector`` (title weight A, text B),
  with the title weight from the same setting.

``STRATA_FULLTEXT_RANKING``: ``auto`` (BM25 when available), ``bm25`` (required) or ``ts_rank``.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Literal

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import connection
from psycopg import sql

from content import bm25, bm25_workspaces
from content.models import Chunk, Document
from content.query import ParsedQuery

Ranking = Literal["bm25", "ts_rank"]
TS_CONFIG = "english"
TEXT_INDEX = bm25.TEXT_INDEX
TITLE_INDEX = bm25.TITLE_INDEX
_CONFIG = sql.SQL("'english'::regconfig")
# Each of the two BM25 lists (chunk text, document title) reads at least this many candidates before
# they are merged (a document can rank by its title alone). 10 instead of 50: the same MRR@10 on the
# tuning split, and the BM25 index scan stops sooner (bench/search_bench.py latency).
BM25_MIN_POOL = 10


def bm25_status() -> dict[str, object]:
    """What the server offers (``content.bm25.status``)."""
    return bm25.status()


@lru_cache(maxsize=8)
def _bm25_ready(database: str) -> bool:
    return bool(bm25_status()["ready"])


def active_ranking() -> Ranking:
    """``bm25`` or ``ts_rank``, per ``STRATA_FULLTEXT_RANKING`` and what the server has."""
    wanted = settings.STRATA_FULLTEXT_RANKING
    if wanted == "ts_rank":
        return "ts_rank"
    ready = _bm25_ready(str(connection.settings_dict.get("NAME")))
    if wanted == "bm25" and not ready:
        raise ImproperlyConfigured(
            "STRATA_FULLTEXT_RANKING=bm25 but pg_textsearch is not ready: the server must preload it "
            "(shared_preload_libraries = 'pg_textsearch'), then run `./strata manage fulltext_index`"
        )
    if wanted not in ("auto", "bm25"):
        raise ImproperlyConfigured(f"STRATA_FULLTEXT_RANKING must be auto, bm25 or ts_rank, not {wanted!r}")
    return "bm25" if ready else "ts_rank"


def _or_tsquery(words: Sequence[str]) -> tuple[sql.Composable, list[str]]:
    """``plainto_tsquery(w1) || plainto_tsquery(w2) || ...``: any of the words (each word's own parts,
    e.g. ``e-mail``, stay together). Stop words give empty queries, which match nothing."""
    parts = [sql.SQL("plainto_tsquery({}, %s)").format(_CONFIG) for _ in words]
    return sql.SQL(" || ").join(parts), list(words)


def match_tsquery(parsed: ParsedQuery) -> tuple[sql.Composable, list[str]]:
    """The OR query of the words, for highlighting and the fallback ranking."""
    return _or_tsquery(parsed.words)


def constraints(parsed: ParsedQuery, *, vector: sql.Composable) -> tuple[sql.Composable, list[str]]:
    """``AND vector @@ phrase ... AND NOT vector @@ excluded ...`` for the parsed query."""
    clauses: list[sql.Composable] = []
    params: list[str] = []
    for phrase in parsed.phrases:
        clauses.append(sql.SQL(" AND {} @@ phraseto_tsquery({}, %s)").format(vector, _CONFIG))
        params.append(phrase)
    for excluded in parsed.excluded:
        clauses.append(sql.SQL(" AND NOT ({} @@ phraseto_tsquery({}, %s))").format(vector, _CONFIG))
        params.append(excluded)
    return sql.Composed(clauses), params


def _document_filter(document_ids: Sequence[int] | None, column: sql.Composable) -> tuple[sql.Composable, list]:
    if document_ids is None:
        return sql.SQL(""), []
    return sql.SQL(" AND {} = ANY(%s)").format(column), [list(document_ids)]


_BM25 = """
WITH text_hits AS ({text_hits}
), title_hits AS ({title_hits}
), candidates AS (
    SELECT id, document_id, text_score FROM text_hits
    UNION ALL
    SELECT c.id, c.document_id, -({chunk_text} <@> to_bm25query(%s, {text_index}))
    FROM title_hits t JOIN {chunk} c ON c.document_id = t.document_id AND c.ordinal = 0{chunk_own}
    WHERE t.title_score > 0
      AND NOT EXISTS (SELECT 1 FROM text_hits h WHERE h.document_id = t.document_id){chunk_where}
)
SELECT cand.id,
       cand.text_score + %s * COALESCE(t.title_score, -({document_title} <@> to_bm25query(%s, {title_index}))) AS score
FROM candidates cand
JOIN {document} d ON d.id = cand.document_id{document_own}
LEFT JOIN title_hits t ON t.document_id = cand.document_id
ORDER BY score DESC, cand.id
LIMIT %s
"""


# From the table-wide indexes: the index scan skips other workspaces' rows (the filter).
_SHARED_TEXT_HITS = """
    SELECT c.id, c.document_id, -(c.text <@> to_bm25query(%s, {text_index})) AS text_score
    FROM {chunk} c
    WHERE c.workspace_id = %s{chunk_where}
    ORDER BY c.text <@> to_bm25query(%s, {text_index})
    LIMIT %s"""
_SHARED_TITLE_HITS = """
    SELECT d.id AS document_id, -(d.title <@> to_bm25query(%s, {title_index})) AS title_score
    FROM {document} d
    WHERE d.workspace_id = %s{document_where}
    ORDER BY d.title <@> to_bm25query(%s, {title_index})
    LIMIT %s"""
# From the workspace's own tables (only its rows): a plain index scan; phrases, exclusions and
# document filters are checked per row in index order (the chunk's tsvector read by its id), so no
# join tempts the planner into scoring every row and sorting. ``%s IS NOT NULL``: the workspace id,
# keeping the parameters of the shared form. (The selected score is computed again per returned row,
# ~70 us each: pg_textsearch's planner hook, which reuses the index scan's score, skips CTEs that are
# read twice; ``bm25_get_current_score()`` by hand would silently give 0 under any other plan.)
_OWN_TEXT_HITS = """
    SELECT o.id, o.document_id, -(o.body <@> to_bm25query(%s, {text_index})) AS text_score
    FROM {own_chunk} o
    WHERE %s IS NOT NULL{own_chunk_where}
    ORDER BY o.body <@> to_bm25query(%s, {text_index})
    LIMIT %s"""
_OWN_TITLE_HITS = """
    SELECT o.id AS document_id, -(o.body <@> to_bm25query(%s, {title_index})) AS title_score
    FROM {own_title} o
    WHERE %s IS NOT NULL{own_document_where}
    ORDER BY o.body <@> to_bm25query(%s, {title_index})
    LIMIT %s"""


def _bm25_ranked(
    *, workspace_id: int, parsed: ParsedQuery, document_ids: Sequence[int] | None, limit: int
) -> list[tuple[int, float]]:
    text = parsed.text
    weight = float(settings.STRATA_SEARCH_TITLE_WEIGHT)
    pool = max(limit, BM25_MIN_POOL)
    where, constraint_params = constraints(parsed, vector=sql.SQL("c.search_vector"))
    chunk_docs, chunk_doc_params = _document_filter(document_ids, sql.SQL("c.document_id"))
    doc_docs, doc_doc_params = _document_filter(document_ids, sql.SQL("d.id"))
    chunk_where = sql.Composed([where, chunk_docs])
    chunk_where_params = [*constraint_params, *chunk_doc_params]
    chunk, document = sql.Identifier(Chunk._meta.db_table), sql.Identifier(Document._meta.db_table)
    own = bm25_workspaces.indexes_for(workspace_id)
    if own is None:  # the table-wide indexes
        text_index, title_index = sql.Literal(TEXT_INDEX), sql.Literal(TITLE_INDEX)
        text_hits = sql.SQL(_SHARED_TEXT_HITS).format(chunk=chunk, text_index=text_index, chunk_where=chunk_where)
        title_hits = sql.SQL(_SHARED_TITLE_HITS).format(
            document=document, title_index=title_index, document_where=doc_docs
        )
        chunk_text, chunk_own, document_title, document_own = (
            sql.SQL("c.text"), sql.SQL(""), sql.SQL("d.title"), sql.SQL(""),
        )  # fmt: skip
    else:
        text_index, title_index = sql.Literal(own.chunk_index), sql.Literal(own.title_index)
        vector = sql.SQL("(SELECT v.search_vector FROM {} v WHERE v.id = o.id)").format(chunk)
        own_where, _ = constraints(parsed, vector=vector)
        own_docs, _ = _document_filter(document_ids, sql.SQL("o.document_id"))
        own_title_docs, _ = _document_filter(document_ids, sql.SQL("o.id"))
        text_hits = sql.SQL(_OWN_TEXT_HITS).format(
            own_chunk=sql.Identifier(own.chunk_table), text_index=text_index,
            own_chunk_where=sql.Composed([own_where, own_docs]),
        )  # fmt: skip
        title_hits = sql.SQL(_OWN_TITLE_HITS).format(
            own_title=sql.Identifier(own.title_table), title_index=title_index, own_document_where=own_title_docs
        )
        # pg_textsearch scores a column only with an index built on it: the own tables' bodies
        chunk_own = sql.SQL(" JOIN {} oc ON oc.id = c.id").format(sql.Identifier(own.chunk_table))
        document_own = sql.SQL(" JOIN {} od ON od.id = d.id").format(sql.Identifier(own.title_table))
        chunk_text, document_title = sql.SQL("oc.body"), sql.SQL("od.body")
    statement = sql.SQL(_BM25).format(
        text_hits=text_hits,
        title_hits=title_hits,
        chunk=chunk,
        document=document,
        text_index=text_index,
        title_index=title_index,
        chunk_text=chunk_text,
        chunk_own=chunk_own,
        document_title=document_title,
        document_own=document_own,
        chunk_where=chunk_where,
    )
    params: list = [
        text, workspace_id, *chunk_where_params, text, pool,
        text, workspace_id, *doc_doc_params, text, pool,
        text, *chunk_where_params,
        weight, text, limit,
    ]  # fmt: skip
    with connection.cursor() as cursor:
        cursor.execute(statement.as_string(connection.connection), params)
        rows = cursor.fetchall()
    return [(int(chunk_id), float(score)) for chunk_id, score in rows if score and score > 0]


_TS_RANK = """
SELECT c.id, ts_rank_cd(%s::float4[], c.search_vector, q.query, 1) AS score
FROM {chunk} c, (SELECT {or_query} AS query) q
WHERE c.workspace_id = %s AND c.search_vector @@ q.query{chunk_where}
ORDER BY score DESC, c.id
LIMIT %s
"""


def _ts_rank_ranked(
    *, workspace_id: int, parsed: ParsedQuery, document_ids: Sequence[int] | None, limit: int
) -> list[tuple[int, float]]:
    or_query, or_params = _or_tsquery(parsed.words)
    where, constraint_params = constraints(parsed, vector=sql.SQL("c.search_vector"))
    chunk_docs, chunk_doc_params = _document_filter(document_ids, sql.SQL("c.document_id"))
    statement = sql.SQL(_TS_RANK).format(
        chunk=sql.Identifier(Chunk._meta.db_table),
        or_query=or_query,
        chunk_where=sql.Composed([where, chunk_docs]),
    )
    # {D, C, B, A}: text is B, the title A
    title = max(float(settings.STRATA_SEARCH_TITLE_WEIGHT), 0.0)
    scale = max(title, 1.0)  # ts_rank_cd takes weights in [0, 1]
    weights = [0.1 / scale, 0.2 / scale, 1.0 / scale, title / scale]
    params = [weights, *or_params, workspace_id, *constraint_params, *chunk_doc_params, limit]
    with connection.cursor() as cursor:
        cursor.execute(statement.as_string(connection.connection), params)
        return [(int(chunk_id), float(score)) for chunk_id, score in cursor.fetchall() if score and score > 0]


def ranked_chunks(
    *,
    workspace_id: int,
    parsed: ParsedQuery,
    document_ids: Sequence[int] | None = None,
    limit: int,
    ranking: Ranking | None = None,
) -> list[tuple[int, float]]:
    """``(chunk_id, score)`` best first, at most ``limit``; ``document_ids`` restricts the documents
    (a metadata filter). Scores are BM25 or ts_rank_cd values (higher is better, > 0)."""
    if parsed.is_empty or (document_ids is not None and not document_ids):
        return []
    ranking = ranking or active_ranking()
    ranker = _bm25_ranked if ranking == "bm25" else _ts_rank_ranked
    return ranker(workspace_id=int(workspace_id), parsed=parsed, document_ids=document_ids, limit=int(limit))


def cache_token() -> tuple[object, ...]:
    """What changes full-text rankings and the relevance floor (for search cache keys)."""
    return (
        active_ranking(),
        settings.STRATA_SEARCH_TITLE_WEIGHT,
        sorted((settings.STRATA_RELEVANCE_FLOORS or {}).items()),
    )


def _reset(*, setting: str, **kwargs: object) -> None:
    if setting in ("STRATA_FULLTEXT_RANKING", "DATABASES"):
        _bm25_ready.cache_clear()


setting_changed.connect(_reset)
