"""The measured evolution advisor (``manage.py storage_report``, the staff page /storage/report/):
per app and kind of store, what it holds, how it is used and how fast it answers, and a verdict
(stay, or move and why) from thresholds in the settings.

Sources: PostgreSQL's own statistics (``pg_total_relation_size``, ``pg_statio_user_tables`` and
``pg_statio_user_indexes`` for the buffer cache hit ratio, ``pg_stat_user_tables`` for the dead
rows of the AGE graph's label tables, ``shared_buffers``), the ports' counts, Redis's INFO for the
cache, and the port call timings every process records (``core.storage.timings``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import connections

from core.storage import namespaces, routing, storages, timings
from core.storage.ports import StorageError, Store
from core.storage.postgres import vector_index

SEARCH_OPERATIONS = {"vectors": {"search"}, "graph": {"neighbours", "k_hop", "shortest_path", "subgraph"}}
READ_OPERATIONS = {"documents": {"find", "get_many", "count", "scan"}, "cache": {"get", "get_many"}}
MIB = 1024 * 1024


@dataclass
class Operation:
    name: str
    calls: int
    p50_ms: float | None
    p95_ms: float | None


@dataclass
class DomainReport:
    app: str
    kind: str
    read: str
    writes: list[str]
    vendor: str
    rows: dict[str, int] = field(default_factory=dict)
    size_bytes: int | None = None
    index_bytes: int | None = None
    shared_buffers_bytes: int | None = None
    ram_bytes: int | None = None
    hit_ratio: float | None = None
    index_hit_ratio: float | None = None
    writes_per_second: float = 0.0
    peak_writes_per_second: float = 0.0
    operations: list[Operation] = field(default_factory=list)
    dead_rows: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    verdict: str = "stay"
    reasons: list[str] = field(default_factory=list)

    @property
    def total_rows(self) -> int:
        return sum(self.rows.values())


def ram_bytes() -> int | None:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return None


def _one(using: str, query: str, params: list[Any] | None = None) -> Any:
    with connections[using].cursor() as cursor:
        cursor.execute(query, params or [])
        row = cursor.fetchone()
    return row[0] if row else None


def _rows(using: str, query: str, params: list[Any] | None = None) -> list[tuple]:
    with connections[using].cursor() as cursor:
        cursor.execute(query, params or [])
        return cursor.fetchall()


def _ratio(hit: int | None, read: int | None) -> float | None:
    hit, read = int(hit or 0), int(read or 0)
    return hit / (hit + read) if hit + read else None


def _table_stats(report: DomainReport, using: str, tables: list[str], share: float) -> None:
    """Size (this app's share of shared tables, by rows) and buffer cache hit ratio."""
    total = sum(
        int(_one(using, "SELECT coalesce(pg_total_relation_size(to_regclass(%s)), 0)", [t]) or 0) for t in tables
    )
    report.size_bytes = int(total * share)
    hit, read = _rows(
        using,
        "SELECT sum(coalesce(heap_blks_hit, 0) + coalesce(idx_blks_hit, 0)), "
        "sum(coalesce(heap_blks_read, 0) + coalesce(idx_blks_read, 0)) "
        "FROM pg_statio_user_tables WHERE relname = ANY(%s)",
        [tables],
    )[0]
    report.hit_ratio = _ratio(hit, read)
    report.shared_buffers_bytes = int(_one(using, "SELECT pg_size_bytes(current_setting('shared_buffers'))"))


def _postgres_vectors(report: DomainReport, store: Store, collections: list[str]) -> None:
    using = getattr(store, "using", "default")
    total_rows = int(_one(using, "SELECT count(*) FROM strata_vector") or 0)
    _table_stats(report, using, ["strata_vector"], report.total_rows / total_rows if total_rows else 0.0)
    ids = [
        row[0] for row in _rows(using, "SELECT id FROM strata_vector_collection WHERE name = ANY(%s)", [collections])
    ]
    names = [vector_index.index_name(i, kind) for i in ids for kind in vector_index.INDEX_TYPES]
    report.index_bytes = sum(
        int(_one(using, "SELECT coalesce(pg_relation_size(to_regclass(%s)), 0)", [name]) or 0) for name in names
    )
    hit, read = _rows(
        using,
        "SELECT sum(idx_blks_hit), sum(idx_blks_read) FROM pg_statio_user_indexes WHERE indexrelname = ANY(%s)",
        [names],
    )[0]
    report.index_hit_ratio = _ratio(hit, read)


def _postgres_documents(report: DomainReport, store: Store) -> None:
    using = getattr(store, "using", "default")
    total_rows = int(_one(using, "SELECT count(*) FROM strata_document") or 0)
    _table_stats(report, using, ["strata_document"], report.total_rows / total_rows if total_rows else 0.0)


def age_dead_rows(graph: str, using: str = "default") -> list[dict[str, Any]]:
    """Live and dead rows of each label table of the AGE graph (``pg_stat_user_tables``):
    dead rows are what updates and deletes leave until VACUUM (issue 13: an idempotent reload
    doubled the graph's size on disk)."""
    found = []
    for table, live, dead, vacuumed in _rows(
        using,
        "SELECT relname, n_live_tup, n_dead_tup, greatest(last_vacuum, last_autovacuum) "
        "FROM pg_stat_user_tables WHERE schemaname = %s ORDER BY relname",
        [graph],
    ):
        found.append(
            {
                "table": table,
                "live": int(live),
                "dead": int(dead),
                "dead_ratio": round(dead / live, 3) if live else (1.0 if dead else 0.0),
                "last_vacuum": vacuumed.isoformat() if vacuumed else None,
            }
        )
    return found


def _age(report: DomainReport, store: Store, labels: list[str]) -> None:
    using, graph = getattr(store, "using", "default"), store.graph  # type: ignore[attr-defined]
    report.size_bytes = int(
        _one(
            using,
            "SELECT coalesce(sum(pg_total_relation_size(c.oid)), 0) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relname = ANY(%s)",
            [graph, labels],
        )
        or 0
    )
    hit, read = _rows(
        using,
        "SELECT sum(coalesce(heap_blks_hit, 0) + coalesce(idx_blks_hit, 0)), "
        "sum(coalesce(heap_blks_read, 0) + coalesce(idx_blks_read, 0)) "
        "FROM pg_statio_user_tables WHERE schemaname = %s AND relname = ANY(%s)",
        [graph, labels],
    )[0]
    report.hit_ratio = _ratio(hit, read)
    report.shared_buffers_bytes = int(_one(using, "SELECT pg_size_bytes(current_setting('shared_buffers'))"))
    report.dead_rows = _label_tables(store, graph, using)


def _label_tables(store: Store, graph: str, using: str) -> list[dict[str, Any]]:
    """Live and dead rows per label table: the AGE adapter's ``label_table_stats()`` (with each
    table's size), with the last (auto)vacuum from ``pg_stat_user_tables``."""
    vacuumed = {row["table"]: row["last_vacuum"] for row in age_dead_rows(graph, using)}
    stats = getattr(store, "label_table_stats", None)
    if stats is None:
        return age_dead_rows(graph, using)
    return [
        {
            "table": row.name,
            "kind": row.kind,
            "live": row.live_rows,
            "dead": row.dead_rows,
            "dead_ratio": round(row.dead_rows / row.live_rows, 3) if row.live_rows else (1.0 if row.dead_rows else 0.0),
            "bytes": row.bytes,
            "last_vacuum": vacuumed.get(row.name),
        }
        for row in stats()
    ]


def _redis(report: DomainReport) -> None:
    try:
        from django_redis import get_redis_connection

        info = get_redis_connection(getattr(storages.get(report.app, "cache"), "alias", "default")).info()
    except Exception as error:  # noqa: BLE001 (the report says so)
        report.notes.append(f"Redis did not answer INFO: {error}")
        return
    report.hit_ratio = _ratio(info.get("keyspace_hits"), info.get("keyspace_misses"))
    report.size_bytes = int(info.get("used_memory") or 0)
    report.ram_bytes = int(info.get("maxmemory") or 0) or ram_bytes()


def _counts(report: DomainReport, store: Store, namespace: namespaces.Namespace) -> tuple[list[str], list[str]]:
    collections: list[str] = []
    labels: list[str] = []
    if report.kind == "documents":
        for name in namespace.document_collections:
            try:
                report.rows[name] = store.count(name)  # type: ignore[attr-defined]
                collections.append(name)
            except StorageError:
                report.rows[name] = 0
    elif report.kind == "vectors":
        collections = namespace.vector_collections(store)  # type: ignore[arg-type]
        for name in collections:
            report.rows[name] = store.count(name)  # type: ignore[attr-defined]
    elif report.kind == "graph":
        labels, types = namespace.labels_in(store)  # type: ignore[arg-type]
        for label in labels:
            report.rows[f"node:{label}"] = store.count_nodes(label)  # type: ignore[attr-defined]
        for edge_type in types:
            report.rows[f"edge:{edge_type}"] = store.count_edges(edge_type)  # type: ignore[attr-defined]
    return collections, labels


def _timings(report: DomainReport, hourly: dict[int, dict[tuple[str, str, str, str], timings.Histogram]]) -> None:
    """Latencies and write rate of the backend serving reads (it receives every write too)."""
    merged: dict[str, timings.Histogram] = {}
    peak = total = 0
    for per_hour in hourly.values():
        writes = 0
        for (app, kind, alias, operation), histogram in per_hour.items():
            if (app, kind, alias) != (report.app, report.kind, report.read):
                continue
            merged.setdefault(operation, timings.Histogram()).buckets.update(histogram.buckets)
            if operation in timings.WRITE_OPERATIONS:
                writes += histogram.calls
        peak, total = max(peak, writes), total + writes
    hours = max(1, len(hourly))
    report.writes_per_second = total / (hours * 3600)
    report.peak_writes_per_second = peak / 3600
    report.operations = sorted(
        (
            Operation(
                name,
                h.calls,
                None if h.percentile(0.5) is None else h.percentile(0.5) * 1000,
                None if h.percentile(0.95) is None else h.percentile(0.95) * 1000,
            )
            for name, h in merged.items()
        ),
        key=lambda op: -op.calls,
    )


def _mb(value: float | None) -> str:
    return "n/a" if value is None else f"{value / MIB:,.1f} MiB"


def _verdict(report: DomainReport) -> None:
    """Stay, or move and why, from the thresholds in the settings (README, storage_report)."""
    s = settings
    reasons, move = [], False
    searches = [op for op in report.operations if op.name in SEARCH_OPERATIONS.get(report.kind, set())]
    slowest = max(
        (op for op in searches if op.calls >= s.STRATA_ADVISOR_MIN_CALLS and op.p95_ms is not None),
        key=lambda op: op.p95_ms,
        default=None,
    )
    on_postgres = report.vendor == "postgresql"
    if report.kind == "vectors" and on_postgres and report.index_bytes is not None:
        ram = report.ram_bytes or 0
        if ram and report.index_bytes > s.STRATA_ADVISOR_HNSW_RAM_FRACTION * ram:
            move = True
            reasons.append(
                f"the HNSW indexes ({_mb(report.index_bytes)}) pass {s.STRATA_ADVISOR_HNSW_RAM_FRACTION:.0%} of RAM "
                f"({_mb(ram)}): searches will read from disk"
            )
        buffers = report.shared_buffers_bytes or 0
        if (
            buffers
            and report.index_bytes > buffers
            and (report.index_hit_ratio or 1.0) < s.STRATA_ADVISOR_MIN_HIT_RATIO
        ):
            move = True
            reasons.append(
                f"the HNSW indexes ({_mb(report.index_bytes)}) outgrew shared_buffers ({_mb(buffers)}) and "
                f"their hit ratio is {report.index_hit_ratio:.1%} (< {s.STRATA_ADVISOR_MIN_HIT_RATIO:.0%})"
            )
        elif buffers:
            reasons.append(
                f"the HNSW indexes ({_mb(report.index_bytes)}) are {report.index_bytes / buffers:.1%} of shared_buffers"
            )
    limit = {"vectors": s.STRATA_ADVISOR_VECTOR_P95_MS, "graph": s.STRATA_ADVISOR_GRAPH_P95_MS}.get(report.kind)
    if limit is not None and slowest is not None and on_postgres:
        if slowest.p95_ms > limit:
            move = True
            reasons.append(f"{slowest.name} p95 is {slowest.p95_ms:.1f} ms over {slowest.calls} calls (> {limit:g} ms)")
        else:
            reasons.append(f"{slowest.name} p95 {slowest.p95_ms:.1f} ms <= {limit:g} ms")
    if report.kind == "documents" and on_postgres:
        if report.size_bytes is not None and report.size_bytes > s.STRATA_ADVISOR_DOCUMENTS_MAX_GB * 1024**3:
            move = True
            reasons.append(f"the documents take {_mb(report.size_bytes)} (> {s.STRATA_ADVISOR_DOCUMENTS_MAX_GB:g} GB)")
        if report.peak_writes_per_second > s.STRATA_ADVISOR_DOCUMENTS_MAX_WRITES_PER_SECOND:
            move = True
            reasons.append(
                f"peak writes {report.peak_writes_per_second:.1f}/s "
                f"(> {s.STRATA_ADVISOR_DOCUMENTS_MAX_WRITES_PER_SECOND:g}/s)"
            )
    if report.kind == "graph" and on_postgres:
        bloated = [
            row
            for row in report.dead_rows
            if row["dead_ratio"] > s.STRATA_ADVISOR_MAX_DEAD_RATIO and row["dead"] > 1000
        ]
        if bloated:
            reasons.append(
                "dead rows: "
                + ", ".join(f"{row['table']} {row['dead']:,} dead / {row['live']:,} live" for row in bloated)
                + " (VACUUM them; not a reason to move)"
            )
    if not on_postgres and report.kind != "cache" and report.total_rows < s.STRATA_ADVISOR_SMALL_ROWS:
        reasons.append(
            f"only {report.total_rows:,} items on {report.vendor}: PostgreSQL would serve them in the same transaction "
            "as the rows (storage_move back if nothing else needs the dedicated store)"
        )
    if report.kind == "cache" and report.hit_ratio is not None:
        reasons.append(f"cache hit ratio {report.hit_ratio:.1%}")
    report.verdict = "move" if move else "stay"
    if not reasons:
        reasons.append("nothing measured passes a threshold")
    report.reasons = reasons


def domain_report(
    app: str, kind: str, hourly: dict[int, dict[tuple[str, str, str, str], timings.Histogram]]
) -> DomainReport:
    route = routing.route(app, kind)
    store = storages.backend(app, kind, route.read)
    report = DomainReport(
        app=app,
        kind=kind,
        read=route.read,
        writes=list(route.writes),
        vendor=store.features.vendor,
        ram_bytes=ram_bytes(),
    )
    namespace = namespaces.namespace(app)
    try:
        collections, labels = _counts(report, store, namespace)
        if report.vendor == "postgresql":
            if kind == "vectors":
                _postgres_vectors(report, store, collections)
            elif kind == "documents":
                _postgres_documents(report, store)
            elif kind == "graph":
                _age(report, store, labels)
        elif kind == "cache":
            _redis(report)
        else:
            report.notes.append(
                f"size and cache hit ratio: not measured on {report.vendor} (PostgreSQL statistics only)"
            )
    except StorageError as error:
        report.notes.append(f"{kind} backend {route.read!r} did not answer: {error}")
    _timings(report, hourly)
    _verdict(report)
    return report


def storage_report(*, hours: int | None = None) -> list[DomainReport]:
    """Every app's documents, vectors and graph (and cache), measured now."""
    hourly = timings.read_hourly(int(hours or settings.STRATA_ADVISOR_WINDOW_HOURS))
    return [
        domain_report(app, kind, hourly)
        for app in namespaces.apps()
        for kind in ("documents", "vectors", "graph", "cache")
    ]
