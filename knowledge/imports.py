"""Graph import from JSON Lines (``manage.py graph_import``; the line checks are in
knowledge/import_lines.py, ``graph_export`` in knowledge/exports.py).

Each line is one object::

    {"kind": "node", "key": "requests", "label": "Package", "properties": {"name": "requests", "aliases": []}}
    {"kind": "edge", "source": "requests", "target": "urllib3", "label": "DEPENDS_ON", "properties": {"weight": 2}}

A node is an entity of the workspace (``key`` its key, ``label`` its type, lower-cased; ``name``
and ``aliases`` in the properties, the rest kept as its properties). A key ``doc:<external_id>``
names that document of the workspace (it must exist). An edge to a key no node line names (yet)
creates a bare entity with that key, which a later node line fills in, so the file is read once,
in order, a batch at a time (never held in memory). Duplicates merge: a node repeated updates the
entity; an edge repeated (in the file, or already imported) updates its one relation row
(provenance ``import``). Every bad line is reported as ``file:line: message`` and skipped.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import IO, Any

import orjson
import psycopg
from django.db import DatabaseError, connection, transaction

from content import selectors as content
from core.services import audit_record
from core.storage import write_stores
from knowledge import graph_sql, import_pipeline, import_sql, stores, writes
from knowledge.entities import lock_workspace, types_by_name
from knowledge.import_lines import LineError, parse_line
from knowledge.models import IMPORT_PROVENANCE
from knowledge.normalize import normalize_name

PROVENANCE = IMPORT_PROVENANCE
BATCH_LINES = 20000
ANALYZE_AFTER = 10000  # rows written by an import that refresh the planner's statistics after it
# numbers orjson may refuse where jsonb does not (beyond 64 bits or a double's range): a run of
# 19 digits or an exponent of 3, found as substrings once digits are folded to 0 (a regex took
# 40 ns a byte, 3 us of an edge's line)
_FOLD_DIGITS = bytes.maketrans(b"123456789E", b"000000000e")
_RISKY_NUMBERS = (b"0" * 19, b"e000", b"e+000", b"e-000")


@dataclass
class ImportReport:
    nodes: int = 0
    edges: int = 0
    lines: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def failed(self) -> int:
        return len(self.errors)


class ImportInterrupted(Exception):
    """PostgreSQL stopped a batch (the connection was lost, or the server failed it): that
    batch's transaction was rolled back, the batches before it are stored (``report`` counts
    them) and re-running the import is safe."""

    def __init__(self, report: ImportReport, first: int, last: int, cause: BaseException) -> None:
        self.report, self.first, self.last, self.cause = report, first, last, cause
        sqlstate = getattr(cause, "sqlstate", None) or getattr(cause.__cause__, "sqlstate", None) or ""
        lost = sqlstate[:2] in {"", "08", "57"}
        self.what = "lost the connection to PostgreSQL" if lost else "PostgreSQL failed the batch"
        detail = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        super().__init__(f"{self.what} while importing lines {first}-{last} ({detail})")


def graph_import(
    *,
    stream: IO[bytes],
    name: str,
    workspace_id: int,
    actor: Any = None,
    progress: Callable[[int], None] | None = None,
    batch_lines: int = BATCH_LINES,
) -> ImportReport:
    """Import a JSON Lines file into the workspace's knowledge graph, ``batch_lines`` lines per
    transaction (rows and the graph-changed event; the graph follows by projection). The lines
    are staged, parsed and upserted set-based in PostgreSQL (knowledge/import_sql.py)."""
    report = ImportReport()
    labels: set[str] = set()

    def batches() -> Iterator[tuple[int, list[bytes]]]:
        while chunk := list(islice(stream, batch_lines)):
            pending.append(len(chunk))
            yield report.lines + 1, chunk
            report.lines += len(chunk)

    def prepare(cursor: Any, batch: tuple[int, list[bytes]]) -> _Prepared:
        return _prepare(cursor, workspace_id, name, *batch)

    pending: deque[int] = deque()  # the line counts of the batches not written yet, in order
    stored = 0
    analyzed = False
    try:
        for written in import_pipeline.run_in_order(
            batches(), setup=_create_tables, teardown=_drop_tables, prepare=prepare, write=_write
        ):
            stored += pending.popleft()
            report.nodes += written.nodes
            report.edges += written.edges
            report.errors.extend(written.errors)
            labels.update(written.labels)
            if not analyzed and report.nodes + report.edges >= ANALYZE_AFTER and not connection.in_atomic_block:
                # once the import has written many rows, the planner's statistics still describe
                # the tables before it (a new workspace: "no entities"), and the next batches'
                # key lookups were planned from that (a scan of the workspace's entities per key)
                with import_sql.cursor() as cursor:
                    _analyze(cursor, labels)
                analyzed = True
            if progress is not None:
                progress(written.size)
    except (psycopg.Error, DatabaseError) as exc:  # the server stopped a batch: it was rolled back
        report.lines = stored
        raise ImportInterrupted(report, stored + 1, stored + (pending[0] if pending else 0), exc) from exc
    if report.nodes + report.edges >= ANALYZE_AFTER:
        with import_sql.cursor() as cursor:
            _analyze(cursor, labels)
    with transaction.atomic():
        audit_record(
            actor=actor,
            action="knowledge.graph.import",
            object_type="knowledge.Relation",
            object_id=name[:255],
            workspace_id=workspace_id,
            changes={"nodes": report.nodes, "edges": report.edges, "failed": report.failed},
        )
    return report


def _python_checks(data: bytes, *, longest: int) -> bool:
    """Whether these lines need parse_line before PostgreSQL sees them (see import_sql)."""
    return (
        longest > import_sql.SQL_LINE_BYTES
        or not data.isascii()
        or b"\\u" in data
        or b"\x00" in data
        or _risky_number(data)
    )


def _risky_number(data: bytes) -> bool:
    """Whether ``data`` holds a run of 19 digits or an e/E, maybe a sign, then 3 digits."""
    folded = data.translate(_FOLD_DIGITS)
    return any(pattern in folded for pattern in _RISKY_NUMBERS)


def _stage(chunk: list[bytes], name: str, first: int, errors: dict[int, str]) -> bytes:
    """The chunk as COPY data for the staging table. Lines SQL does not check alone (see
    import_sql) are parsed here; a bad one is reported and staged blank."""
    lines = [raw.rstrip(b"\r\n") for raw in chunk]
    data = b"\n".join(lines)
    if _python_checks(data, longest=max(map(len, lines))):
        for i, raw in enumerate(lines):
            if _python_checks(raw, longest=len(raw)):
                try:
                    parse_line(raw)
                except LineError as exc:
                    errors[first + i] = f"{name}:{first + i}: {exc}"
                    lines[i] = b""
        data = b"\n".join(lines)
    return import_sql.escape_copy(data) + b"\n"


def _create_tables(cursor: Any) -> None:
    """The session's staging tables (temporary; after an error they stay until the next import
    on the session drops them, or the session ends)."""
    _drop_tables(cursor)
    for statement in import_sql.TABLES:
        cursor.execute(statement)


def _drop_tables(cursor: Any) -> None:
    cursor.execute(f"DROP TABLE IF EXISTS {import_sql.TEMP_TABLES}")


@dataclass
class _Prepared:
    """A batch staged and parsed in its session, before its transaction."""

    workspace_id: int
    size: int  # bytes (the progress bar)
    errors: dict[int, str]
    type_names: list[str]
    labels: list[str]
    triples: int | None  # the edges merged into strata_import_triples already (None: not yet)


@dataclass
class _Written:
    size: int
    nodes: int
    edges: int
    errors: list[str]
    labels: list[str]


def _prepare(cursor: Any, workspace_id: int, name: str, first: int, chunk: list[bytes]) -> _Prepared:
    """Stage, parse and check one batch (nothing other sessions see, but new edge types)."""
    errors: dict[int, str] = {}
    data = _stage(chunk, name, first, errors)
    cursor.execute(
        "TRUNCATE strata_import_lines, strata_import_items, strata_import_ids, strata_import_triples, "
        "strata_import_docs, strata_import_text, strata_import_written RESTART IDENTITY"
    )
    with cursor.copy("COPY strata_import_lines (raw) FROM STDIN") as copy:
        copy.write(data)
    try:
        with transaction.atomic():
            cursor.execute(import_sql.PARSE)
    except psycopg.errors.DataError:  # a line is not JSON: test each line first
        cursor.execute(import_sql.PARSE_GUARDED)
    cursor.execute("ANALYZE strata_import_items")
    cursor.execute("SELECT n, err FROM strata_import_items WHERE err IS NOT NULL")
    for n, err in cursor.fetchall():
        number = first + n - 1
        if err == "json":
            try:
                parse_line(chunk[n - 1].rstrip(b"\r\n"))
                err = "invalid JSON: PostgreSQL's jsonb refused it"
            except LineError as exc:
                err = str(exc)
        errors[number] = f"{name}:{number}: {err}"
    cursor.execute(import_sql.TEXTS_TO_NORMALIZE)
    texts = [value for (value,) in cursor.fetchall()]
    if texts:
        with cursor.copy("COPY strata_import_text (value, stripped, normalized) FROM STDIN") as copy:
            for value in texts:
                copy.write_row((value, value.strip(), normalize_name(value)))
    cursor.execute(
        "SELECT DISTINCT key FROM strata_import_items WHERE err IS NULL AND kind = 'doc' UNION "
        "SELECT DISTINCT v FROM strata_import_items, LATERAL (VALUES (source), (target)) e(v) "
        "WHERE err IS NULL AND kind = 'edge' AND starts_with(v, 'doc:')"
    )
    prefix = len(stores.DOCUMENT_PREFIX)
    wanted = {key[prefix:] for (key,) in cursor.fetchall()}
    doc_ids = content.document_ids_by_external_id(workspace_id=workspace_id, external_ids=wanted) if wanted else {}
    if doc_ids:
        with cursor.copy("COPY strata_import_docs (key, id) FROM STDIN") as copy:
            for external_id, doc_id in doc_ids.items():
                copy.write_row((stores.DOCUMENT_PREFIX + external_id, doc_id))
    cursor.execute(
        "SELECT n, key FROM strata_import_items WHERE err IS NULL AND kind = 'doc' "
        "AND NOT EXISTS (SELECT 1 FROM strata_import_docs d WHERE d.key = strata_import_items.key)"
    )
    missing = cursor.fetchall()
    cursor.execute(import_sql.MISSING_DOCUMENTS)
    for n, key in [*missing, *cursor.fetchall()]:
        number = first + n - 1
        errors[number] = f"{name}:{number}: no document with external id {key[prefix:]!r} in this workspace"
    cursor.execute(import_sql.ENDS, {"ws": int(workspace_id)})
    cursor.execute("ANALYZE strata_import_ids")
    # a batch of edges whose ends were all found (no node lines, nothing new or merged) has its
    # triples merged here too; its transaction merges them again only if an end changed since
    cursor.execute(import_sql.TRIPLES_READY)
    triples = None
    if cursor.fetchone()[0]:
        cursor.execute(import_sql.TRIPLES, {"ws": int(workspace_id), "origin": PROVENANCE})
        triples = cursor.rowcount
    cursor.execute(
        "SELECT array(SELECT DISTINCT type FROM strata_import_items WHERE err IS NULL AND kind = 'node'), "
        "array(SELECT DISTINCT label FROM strata_import_items WHERE err IS NULL AND kind = 'edge')"
    )
    type_names, labels = cursor.fetchone()
    _define_labels(labels)
    return _Prepared(workspace_id, sum(map(len, chunk)), errors, type_names, labels, triples)


def _write(cursor: Any, batch: _Prepared) -> _Written:
    """Write a prepared batch in one transaction: the rows, the event, the inline projection."""
    workspace_id = batch.workspace_id
    params = {"ws": int(workspace_id), "origin": PROVENANCE}
    with transaction.atomic():
        lock_workspace(workspace_id)
        types = types_by_name(workspace_id, set(batch.type_names) | {"concept"})
        params.update(type_names=list(types), type_ids=[t.pk for t in types.values()], concept=types["concept"].pk)
        cursor.execute(import_sql.UPSERT_NODES, params)
        nodes = cursor.rowcount
        changed = 0
        for statement in (import_sql.VALIDATE_ENDS, import_sql.ENDS_FOUND, import_sql.ENDS_ADDED):
            cursor.execute(statement, params)
            changed += cursor.rowcount
        edges_written = batch.triples
        if edges_written is None or changed:
            cursor.execute("TRUNCATE strata_import_triples")
            cursor.execute(import_sql.TRIPLES, params)
            edges_written = cursor.rowcount
        cursor.execute(import_sql.UPSERT_RELATIONS, params)
        cursor.execute(import_sql.EVENT_LISTS)
        edges, entities, documents, ranges, rows, labels = cursor.fetchone()
        with graph_sql.staged_import(provenance=PROVENANCE):  # its projection may read the staged rows
            writes.publish_graph_payload(
                workspace_id=workspace_id,
                edges=orjson.loads(edges),
                entities=orjson.loads(entities),
                documents=orjson.loads(documents),
                relations=writes.RelationRanges(orjson.loads(ranges), rows, orjson.loads(labels)),
            )
    errors = [batch.errors[n] for n in sorted(batch.errors)]
    return _Written(batch.size, nodes, edges_written, errors, batch.labels)


def _analyze(cursor: Any, labels: set[str]) -> None:
    """After a large import: fresh planner statistics for the rows and the graph's label tables
    it wrote, so the first queries and traversals are planned from what is there now."""
    cursor.execute("ANALYZE knowledge_entity")
    cursor.execute("ANALYZE knowledge_relation")
    for _, store in write_stores(stores.APP, "graph"):
        analyze = getattr(store, "analyze", None)  # a store in this database (AGE)
        if analyze is not None:
            analyze([stores.ENTITY_LABEL, stores.DOCUMENT_LABEL, *sorted(labels)])


def _define_labels(labels: Iterable[str]) -> None:
    """Edge types are created before the batch's transaction (creating one is DDL)."""
    for _, store in write_stores(stores.APP, "graph"):
        known = set(store.edge_types())  # type: ignore[attr-defined]
        for label in sorted(set(labels) - known):
            store.define_edge_type(label)  # type: ignore[attr-defined]
