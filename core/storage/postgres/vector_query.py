"""The pgvector search statement: one statement the planner cannot wreck.

A vector query goes wrong in three known ways (issue 9's study, 100k vectors on this machine):

1. A generic plan. After 5 executions of a prepared statement PostgreSQL may switch to a generic
   plan, which for ``ORDER BY embedding <=> $1 LIMIT $2`` with a filter is a sequential scan and
   a sort (214 ms instead of 0.8 ms). The statement is never prepared (``pipelined.py`` sends it
   with ``prepare=False``, an unnamed statement planned with its actual values) and
   ``plan_cache_mode = force_custom_plan`` is set for it as well.
2. A filter of the wrong size for the plan. The planner picks an exact sort at ~10% selectivity
   (52-62 ms) where HNSW with ``hnsw.iterative_scan = relaxed_order`` answers in 2 ms, and an
   HNSW walk at 0.1% has to visit hundreds of times k candidates. So a filtered search decides by
   a capped count of the matching rows (``LIMIT cap + 1``, served by the ``jsonb_path_ops`` GIN
   index on ``metadata`` and the ``(collection_id, key)`` btree, or by a scan that stops after
   ``cap + 1`` matches when the filter is broad), inside the same statement:

   - no match: the statement returns nothing, having read no vector;
   - at most ``STRATA_VECTOR_EXACT_MAX_ROWS`` matches (a selective filter): the exact distance to
     every matching row (``OFFSET 0`` keeps the HNSW index out of that branch) and a sort;
   - more (a broad filter, or none): the collection's HNSW index with the iterative scan and
     ``enable_sort = off``, re-sorted exactly by the outer query.

   Each branch sits behind a one-time filter on the count (an init plan), so only the chosen
   branch runs. The ``path`` column says which one answered (for tests and benchmarks).
3. Settings that outlive the query. They are transaction-local and ``pipelined.py`` rolls back to
   its savepoint after the read inside a caller's transaction, so they end with the query.

The collection id is a literal (the partial HNSW index's predicate must match a constant).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import sql

from core.storage.postgres.vector_index import Indexed

MAX_K = 1000  # pgvector's upper bound for hnsw.ef_search

FULL_PRECISION = Indexed("embedding")

DISTANCE = {"cosine": "<=>", "l2": "<->", "inner_product": "<#>"}

_INDEX_ONLY = """
    SELECT key, metadata, {exact} AS distance, 'hnsw'::text AS path FROM (
        SELECT key, metadata, embedding FROM strata_vector
        WHERE collection_id = {collection_id}
        ORDER BY {indexed} LIMIT %s
    ) AS nearest
    ORDER BY distance, key LIMIT %s
"""

_PLANNED = """
    WITH matching AS MATERIALIZED (
        SELECT count(*) AS n FROM (
            SELECT 1 FROM strata_vector WHERE collection_id = {collection_id} AND {filter} LIMIT {probe}
        ) AS probe
    )
    (
        SELECT key, metadata, {exact} AS distance, 'exact'::text AS path FROM (
            SELECT key, metadata, embedding FROM strata_vector
            WHERE collection_id = {collection_id} AND {filter} OFFSET 0
        ) AS candidates
        WHERE (SELECT n FROM matching) BETWEEN 1 AND {cap}
        ORDER BY distance, key LIMIT %s
    )
    UNION ALL
    (
        SELECT key, metadata, {exact} AS distance, 'hnsw'::text AS path FROM (
            SELECT key, metadata, embedding FROM strata_vector
            WHERE collection_id = {collection_id} AND {filter}
            ORDER BY {indexed} LIMIT %s
        ) AS nearest
        WHERE (SELECT n FROM matching) > {cap}
        ORDER BY distance, key LIMIT %s
    )
"""


@dataclass(frozen=True)
class SearchStatement:
    """The statement, its parameters and the settings it runs with (transaction-local)."""

    query: str  # the query vector as a binary parameter (%b)
    logged_query: str  # the same with %s placeholders only (for Django's query log)
    params: list[Any]
    settings: list[tuple[str, str]]


def search_statement(
    *,
    collection_id: int,
    metric: str,
    vector: Any,
    k: int,
    where: sql.Composable | None,
    where_params: list[Any],
    ef_search: int,
    exact_max_rows: int,
    indexed: Indexed = FULL_PRECISION,
    candidates: int = 0,
) -> SearchStatement:
    """The search of ``k`` nearest rows of one collection; ``where`` is a compiled metadata filter.

    ``indexed`` names what the HNSW index was built on (``embedding`` itself, or an expression
    such as ``(embedding::halfvec(1536))`` with the query vector cast the same way), so the ORDER
    BY matches the index; distances returned are always exact. An index that ``rerank``s (the
    binary one) is walked for ``max(k, candidates)`` rows, of which the exact distance keeps k.
    """
    op = DISTANCE[metric]
    walked = min(MAX_K, max(k, int(candidates))) if indexed.rerank else k
    settings = [
        ("plan_cache_mode", "force_custom_plan"),
        ("hnsw.ef_search", str(min(MAX_K, max(int(ef_search), walked)))),
        ("hnsw.iterative_scan", "off" if where is None else "relaxed_order"),
        # The planner does not cost the TOASTed 1536-d vectors, so at ~100k rows (or with stale
        # statistics after a bulk load) it picks a scan + top-N sort over the whole collection
        # (~300 ms) instead of the HNSW index (~2 ms); the exact branch sorts all the same.
        ("enable_sort", "off"),
        # The same tiny-looking heap makes a sequential scan that evaluates the JSON filter on
        # every row of the table look cheaper than the GIN bitmap of the matching rows: at 100k
        # vectors a 1% filter took 125 ms that way and 12 ms through the GIN index (the pages
        # are in memory, so a random read costs about what a sequential one does).
        ("random_page_cost", "1.1"),
        # The vectors are stored inline (migration 0008), one row per page, so a broad filter's
        # capped count is cheapest through the (collection_id, key) btree, stopping after cap + 1
        # matches (50% at 100k: 2.5 ms), while the planner, costing a GIN entry at a 200th of a
        # page, built the full GIN bitmap of 50,000 matches first (37 ms). At 0.05 a GIN entry
        # costs about what it does here, and 10%, 1% and 0.1% filters keep the GIN bitmap.
        ("cpu_index_tuple_cost", "0.05"),
    ]

    def render(placeholder: str) -> tuple[str, list[Any]]:
        param = sql.SQL(placeholder)
        parts = {
            "collection_id": sql.Literal(int(collection_id)),
            "exact": sql.SQL("embedding {} {}").format(sql.SQL(op), param),
            "indexed": sql.SQL("{} {} {}").format(
                sql.SQL(indexed.expression), sql.SQL(indexed.operator or op), sql.SQL(indexed.query).format(param)
            ),
        }
        if where is None:
            text = sql.SQL(_INDEX_ONLY).format(**parts).as_string()
            return text, [vector, vector, walked, k]  # exact distance; ORDER BY; walked; LIMIT
        cap = max(0, int(exact_max_rows))  # 0: always the HNSW index
        text = (
            sql.SQL(_PLANNED)
            .format(**parts, filter=where, cap=sql.Literal(cap), probe=sql.Literal(cap + 1))
            .as_string()
        )
        # probe filter; exact: distance vector, filter, k; hnsw: distance vector, filter, ORDER BY
        # vector, walked, k
        return text, [*where_params, vector, *where_params, k, vector, *where_params, vector, walked, k]

    query, params = render("%b")
    logged_query, _ = render("%s::vector")
    return SearchStatement(query=query, logged_query=logged_query, params=params, settings=settings)
