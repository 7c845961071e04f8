"""The HNSW index of a pgvector collection: what it is built on, how it is built and rebuilt.

Each collection has one PARTIAL HNSW index (``WHERE collection_id = <id>``) on ``strata_vector``,
whose column stays ``VECTOR(1536)`` (full precision, exact distances, exact round trips). The
index is one of (``strata_vector_collection.index_type``):

- ``halfvec`` (the default for new collections): an expression index on
  ``(embedding::halfvec(1536))``. Half the size of a ``vector`` index (391 vs 781 MB at 100k),
  15-30% less CPU per query and per insert, the same recall within 0.005 (issue 9's study). The
  search orders by the same expression and re-sorts the hits by the exact full-precision
  distance.
- ``vector``: the index on ``embedding`` itself, what collections created before the halfvec
  default have. It keeps working as it is; ``manage.py vector_reindex`` rebuilds it (below).
- ``binary`` (per collection: ``create_collection(index="binary")``): an expression index on
  ``(binary_quantize(embedding)::bit(1536))`` with Hamming distance. 8x smaller than halfvec and
  2-3x faster to build (issue 9's study: 48 MB at 100k, 2,300-3,450 vectors per CPU-second);
  a search walks it for ``STRATA_VECTOR_BINARY_CANDIDATES`` (default 100) candidates and
  re-ranks them by the exact distance, so hits and distances stay exact, recall is that of
  the candidate list.

Rebuilding (``rebuild``) never leaves a collection without a valid index: the new index is built
with ``CREATE INDEX CONCURRENTLY`` under a temporary name (searches go on using the old one,
writes go on too), then one short transaction drops the old index, renames the new one and
records its type. A search reads the type with the collection, so it uses one valid index or
the other; the swap's DROP INDEX waits for the searches in flight and holds new ones for that
moment. Not inside a transaction (PostgreSQL refuses CONCURRENTLY there, and index DDL does not
belong in a long transaction).

pgvector < 0.8.2 has CVE-2026-3172 (a buffer overflow in parallel HNSW builds): there every
build runs with ``max_parallel_maintenance_workers = 0``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.conf import settings
from psycopg import sql

STORED_DIMENSION = 1536
INDEX_TYPES = ("halfvec", "vector", "binary")
SAFE_PARALLEL_HNSW_BUILD = (0, 8, 2)  # first pgvector without CVE-2026-3172

_OPS = {"cosine": "cosine_ops", "l2": "l2_ops", "inner_product": "ip_ops"}
_HALFVEC = f"halfvec({STORED_DIMENSION})"
_BIT = f"bit({STORED_DIMENSION})"


def opclass(index_type: str, metric: str) -> str:
    if index_type == "binary":
        return "bit_hamming_ops"
    return f"{index_type}_{_OPS[metric]}"


@dataclass(frozen=True)
class Indexed:
    """What an index is built on and how a query reaches it: ``expression`` (the ORDER BY's left
    side), ``query`` (a template with ``{}`` for the query vector parameter), ``operator`` (None:
    the metric's own) and ``rerank`` (walk that many candidates, then re-sort exactly)."""

    expression: str
    query: str = "{}"
    operator: str | None = None
    rerank: bool = False


def indexed_expression(index_type: str, dims: int = STORED_DIMENSION) -> Indexed:
    """How the index of ``index_type`` is built and reached; ``dims`` < 1536: on the vectors'
    leading ``dims`` components only (the collection's ``index_dimensions``: a model with fewer
    native dimensions whose vectors are zero-padded, so the distances are the same)."""
    dims = int(dims)
    if dims == STORED_DIMENSION:
        if index_type == "halfvec":
            return Indexed(f"(embedding::{_HALFVEC})", "{}::" + _HALFVEC)
        if index_type == "binary":
            return Indexed(f"(binary_quantize(embedding)::{_BIT})", "binary_quantize({}::vector)::" + _BIT, "<~>", True)
        return Indexed("embedding")
    lead, query = f"subvector(embedding, 1, {dims})", f"subvector({{}}::vector, 1, {dims})"
    if index_type == "halfvec":
        return Indexed(f"({lead}::halfvec({dims}))", f"{query}::halfvec({dims})")
    if index_type == "binary":
        return Indexed(f"(binary_quantize({lead})::bit({dims}))", f"binary_quantize({query})::bit({dims})", "<~>", True)
    return Indexed(f"({lead}::vector({dims}))", f"{query}::vector({dims})")


def check_index_dimensions(dims: int | None) -> int:
    """The leading components an index covers: 1-1536 (None: all 1536)."""
    if dims is None:
        return STORED_DIMENSION
    if isinstance(dims, bool) or not isinstance(dims, int) or not 1 <= dims <= STORED_DIMENSION:
        raise ValueError(f"index_dimensions must be an integer from 1 to {STORED_DIMENSION}, not {dims!r}")
    return dims


def index_name(collection_id: int, index_type: str = "halfvec") -> str:
    suffix = "" if index_type == "vector" else f"_{index_type}"  # the vector index kept its old name
    return f"strata_vector_hnsw_{int(collection_id)}{suffix}"


#: ``index_name`` in SQL over a ``strata_vector_collection`` row (its ``id`` and ``index_type``).
INDEX_NAME_SQL = "'strata_vector_hnsw_' || id || CASE WHEN index_type = 'vector' THEN '' ELSE '_' || index_type END"


def parallel_hnsw_build_is_safe(version: str | None) -> bool:
    """False for pgvector versions affected by CVE-2026-3172 (and for an unknown version)."""
    if not version:
        return False
    parts = tuple(int(part) for part in re.findall(r"\d+", version)[:3])
    return parts >= SAFE_PARALLEL_HNSW_BUILD


def check_index_type(index_type: str) -> str:
    if index_type not in INDEX_TYPES:
        raise ValueError(f"unknown vector index type {index_type!r}; one of {', '.join(INDEX_TYPES)}")
    return index_type


def create_statement(
    collection_id: int,
    metric: str,
    index_type: str,
    *,
    concurrently: bool = False,
    name: str | None = None,
    dims: int = STORED_DIMENSION,
) -> str:
    expression = indexed_expression(index_type, dims).expression
    return (
        sql.SQL(
            "CREATE INDEX {concurrently}{index} ON strata_vector USING hnsw ({expression} {opclass}) "
            "WITH (m = {m}, ef_construction = {ef_construction}) WHERE collection_id = {collection_id}"
        )
        .format(
            concurrently=sql.SQL("CONCURRENTLY " if concurrently else ""),
            index=sql.Identifier(name or index_name(collection_id, index_type)),
            expression=sql.SQL(expression),
            opclass=sql.SQL(opclass(index_type, metric)),
            m=sql.Literal(int(settings.STRATA_HNSW_M)),
            ef_construction=sql.Literal(int(settings.STRATA_HNSW_EF_CONSTRUCTION)),
            collection_id=sql.Literal(int(collection_id)),
        )
        .as_string()
    )


def server_version(cursor) -> str | None:
    cursor.execute("SELECT extversion FROM pg_extension WHERE extname = 'vector'")
    row = cursor.fetchone()
    return row[0] if row else None


def limit_parallel_build(cursor, *, local: bool) -> None:
    """No parallel build workers on pgvector < 0.8.2 (CVE-2026-3172)."""
    if not parallel_hnsw_build_is_safe(server_version(cursor)):
        cursor.execute(f"SET {'LOCAL ' if local else ''}max_parallel_maintenance_workers = 0")


def build_settings(version: str | None, workers: int) -> tuple[list[str], list[str]]:
    """(statements before a one-off index build, statements after it) for a session in
    autocommit mode: ``maintenance_work_mem`` from ``STRATA_HNSW_BUILD_MEMORY``; serial on
    pgvector < 0.8.2 (CVE-2026-3172); else ``workers`` parallel workers, with the
    ``parallel_workers`` reloption on ``strata_vector`` (its TOASTed vectors make the heap look
    tiny, so PostgreSQL would plan no worker at all otherwise)."""
    memory = sql.Literal(str(settings.STRATA_HNSW_BUILD_MEMORY))
    before = [sql.SQL("SET maintenance_work_mem = {}").format(memory).as_string()]
    after = ["RESET maintenance_work_mem", "RESET max_parallel_maintenance_workers"]
    workers = max(0, int(workers))
    if not parallel_hnsw_build_is_safe(version) or workers == 0:
        before.append("SET max_parallel_maintenance_workers = 0")
    else:
        before.append(f"ALTER TABLE strata_vector SET (parallel_workers = {workers})")
        before.append(f"SET max_parallel_maintenance_workers = {workers}")
    return before, after


def build_concurrently(
    cursor, *, collection_id: int, metric: str, index_type: str, name: str, dims: int = STORED_DIMENSION
) -> None:
    """``CREATE INDEX CONCURRENTLY`` of the collection's index under ``name`` (outside any
    transaction), with the settings of ``build_settings``; a failed build's INVALID leftover of
    that name is dropped first."""
    cursor.execute(sql.SQL("DROP INDEX CONCURRENTLY IF EXISTS {}").format(sql.Identifier(name)).as_string())
    before, after = build_settings(server_version(cursor), int(settings.STRATA_HNSW_BUILD_WORKERS))
    for statement in before:
        cursor.execute(statement)
    try:
        cursor.execute(create_statement(collection_id, metric, index_type, concurrently=True, name=name, dims=dims))
    finally:
        for statement in after:
            cursor.execute(statement)


def create(cursor, collection_id: int, metric: str, index_type: str, dims: int = STORED_DIMENSION) -> None:
    """Build the index of a new (empty) collection inside the current transaction."""
    limit_parallel_build(cursor, local=True)
    fire_deferred_foreign_key_checks(cursor)
    cursor.execute(create_statement(collection_id, metric, index_type, dims=dims))


def drop_statements(collection_id: int) -> list[str]:
    return [
        sql.SQL("DROP INDEX IF EXISTS {}").format(sql.Identifier(index_name(collection_id, kind))).as_string()
        for kind in INDEX_TYPES
    ]


def rebuild(
    cursor, *, collection_id: int, metric: str, old_type: str, new_type: str, dims: int = STORED_DIMENSION
) -> None:
    """Build ``new_type``'s index concurrently, then swap it in (see the module doc).

    ``cursor`` is a Django cursor on a connection in autocommit mode (no transaction)."""
    from django.db import transaction

    check_index_type(new_type)
    building = f"strata_vector_hnsw_{int(collection_id)}_building"
    build_concurrently(
        cursor, collection_id=collection_id, metric=metric, index_type=new_type, name=building, dims=dims
    )
    # The swap: one short transaction (DROP INDEX waits for the searches in flight to finish).
    with transaction.atomic(using=cursor.db.alias):
        for statement in drop_statements(collection_id):
            cursor.execute(statement)
        cursor.execute(
            sql.SQL("ALTER INDEX {} RENAME TO {}")
            .format(sql.Identifier(building), sql.Identifier(index_name(collection_id, new_type)))
            .as_string()
        )
        cursor.execute(
            "UPDATE strata_vector_collection SET index_type = %s, index_dimensions = %s WHERE id = %s",
            [new_type, int(dims), int(collection_id)],
        )


def nonzero_tail_key(cursor, collection_id: int, dims: int) -> str | None:
    """The key of a vector of the collection with a non-zero component beyond the first ``dims``
    (None: every tail is zero, so an index of ``dims`` components gives the same distances)."""
    if dims >= STORED_DIMENSION:
        return None
    cursor.execute(
        "SELECT key FROM strata_vector WHERE collection_id = %s "
        "AND vector_norm(subvector(embedding, %s::int, %s::int)) > 0 LIMIT 1",
        [int(collection_id), int(dims) + 1, STORED_DIMENSION - int(dims)],
    )
    row = cursor.fetchone()
    return row[0] if row else None


def fire_deferred_foreign_key_checks(cursor) -> None:
    """Run the deferred FK checks queued by earlier writes to strata_vector in this transaction.

    Django's foreign keys are DEFERRABLE INITIALLY DEFERRED, and PostgreSQL refuses CREATE INDEX
    on a table with pending trigger events ("cannot CREATE INDEX ... because it has pending
    trigger events"), e.g. when one transaction upserts vectors and then creates a collection.
    Switching the constraints to IMMEDIATE runs the queued checks now; they are then deferred
    again, as Django declared them.
    """
    cursor.execute(
        "SELECT conname FROM pg_constraint "
        "WHERE conrelid = 'strata_vector'::regclass AND contype = 'f' AND condeferred ORDER BY conname"
    )
    constraints = [sql.Identifier(row[0]) for row in cursor.fetchall()]
    if constraints:
        names = sql.SQL(", ").join(constraints)
        cursor.execute(sql.SQL("SET CONSTRAINTS {} IMMEDIATE").format(names).as_string())
        cursor.execute(sql.SQL("SET CONSTRAINTS {} DEFERRED").format(names).as_string())
