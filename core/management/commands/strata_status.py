"""Report what Strata runs on: PostgreSQL (+ pgvector, AGE, the graph), Redis, Celery workers
and the outbox backlog. Exits non-zero when PostgreSQL or Redis cannot be reached.

    manage.py strata_status [--json]

With the embedded default, run it as ``STRATA_EMBEDDED_AUTOSTART=0 manage.py strata_status``
to look without starting servers that are down (``./strata status`` does).
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

import redis
from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from kombu.utils.url import maybe_sanitize_url

from core import selectors
from core.embedded.postgres import pg_data_dir
from core.embedded.redis import redis_dir

# pgvector 0.6.0 - 0.8.1: buffer overflow in parallel HNSW index builds. Strata's adapters build
# HNSW indexes with parallel maintenance workers disabled on those versions, so Strata itself is
# safe; an external server may have other clients that are not.
PGVECTOR_FIXED = (0, 8, 2)
CVE_NOTE = (
    "pgvector {version} has CVE-2026-3172 (parallel HNSW index builds); mitigated: Strata builds "
    "HNSW indexes without parallel workers on pgvector < 0.8.2."
)
CVE_WARNING = (
    "pgvector {version} is older than 0.8.2 and has CVE-2026-3172 (buffer overflow in parallel HNSW "
    "builds); Strata builds its HNSW indexes with parallel maintenance workers disabled, but other "
    "clients of this server are not protected. Upgrade the server to pgvector >= 0.8.4."
)
CONNECT_TIMEOUT = 2.0
PING_TIMEOUT = 1.0


def version_tuple(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", version)[:3])


def describe_error(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else ''}".rstrip(": ")


def postgres_report() -> dict[str, Any]:
    db = settings.DATABASES["default"]
    report: dict[str, Any] = {
        "reachable": False,
        "embedded": bool(db.get("OPTIONS", {}).get("strata_embedded")),
        "database": db.get("NAME"),
        "warnings": [],
        "notes": [],
    }
    if report["embedded"]:
        report["data_dir"] = str(pg_data_dir())
    else:
        report["host"] = f"{db.get('HOST') or 'localhost'}:{db.get('PORT') or 5432}"
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT current_setting('server_version'), current_database()")
            report["server_version"], report["database"] = cursor.fetchone()
            cursor.execute("SELECT extname, extversion FROM pg_extension WHERE extname IN ('vector', 'age')")
            extensions = dict(cursor.fetchall())
            cursor.execute(
                "SELECT current_setting('pg_textsearch.library_version', true), "
                "(SELECT extversion FROM pg_extension WHERE extname = 'pg_textsearch'), "
                "(SELECT count(*) FROM pg_indexes WHERE indexdef LIKE '%% USING bm25 %%'), "
                # workspaces with their own BM25 indexes (content.bm25_workspaces), of those with chunks
                "(SELECT count(*) FROM pg_indexes WHERE indexname LIKE 'content\\_bm25\\_chunk\\_w%%\\_bm25'), "
                "(SELECT count(DISTINCT workspace_id) FROM content_chunk)"
            )
            bm25_library, bm25_extension, bm25_indexes, bm25_own, workspaces = cursor.fetchone()
            bm25_stale = _stale_bm25_indexes(cursor) if bm25_library and bm25_extension else []
            graph_exists = None
            if "age" in extensions:
                cursor.execute("SELECT 1 FROM ag_catalog.ag_graph WHERE name = %s", [settings.STRATA_GRAPH_NAME])
                graph_exists = cursor.fetchone() is not None
    except Exception as exc:  # any failure to connect or query is reported, not raised
        report["error"] = describe_error(exc)
        return report
    report["reachable"] = True
    report["extensions"] = {"vector": extensions.get("vector"), "age": extensions.get("age")}
    report["graph"] = {"name": settings.STRATA_GRAPH_NAME, "exists": graph_exists}
    report["fulltext"] = fulltext_report(
        bm25_library, bm25_extension, int(bm25_indexes), stale=bm25_stale, workspaces=(int(bm25_own), int(workspaces))
    )
    vector_version = extensions.get("vector")
    if vector_version and version_tuple(vector_version) < PGVECTOR_FIXED:
        # The embedded wheel ships 0.8.1 and only Strata uses it: a note. An external server: a warning.
        kind = "notes" if report["embedded"] else "warnings"
        report[kind].append((CVE_NOTE if report["embedded"] else CVE_WARNING).format(version=vector_version))
    for name in ("vector", "age"):
        if name not in extensions:
            report["warnings"].append(f"extension {name!r} is not installed (run ./strata manage migrate)")
    if graph_exists is False:
        report["warnings"].append(
            f"AGE graph {settings.STRATA_GRAPH_NAME!r} does not exist (run ./strata manage migrate)"
        )
    return report


def _stale_bm25_indexes(cursor: Any) -> list[str]:
    """BM25 indexes holding documents whose corpus statistics say none (pg_textsearch 1.0 after a
    restart: every query finds nothing until a REINDEX)."""
    cursor.execute(
        "SELECT c.relname FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid JOIN pg_am a ON a.oid = c.relam "
        "WHERE a.amname = 'bm25'"
    )
    stale = []
    for (name,) in cursor.fetchall():
        cursor.execute("SELECT bm25_summarize_index(%s)", [name])
        summary = cursor.fetchone()[0] or ""
        total = re.search(r"total_docs:\s*(\d+)", summary)
        held = sum(int(n) for n in re.findall(r"(?:documents:\s*|docs=)(\d+)", summary))
        if total is not None and int(total.group(1)) == 0 and held > 0:
            stale.append(name)
    return stale


def fulltext_report(
    library: str | None,
    extension: str | None,
    indexes: int,
    *,
    stale: list[str] | None = None,
    workspaces: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """Which full-text ranking searches use: BM25 (pg_textsearch preloaded, extension and BM25
    indexes present and answering, not switched off by STRATA_FULLTEXT_RANKING) or the ts_rank_cd
    fallback, and why."""
    wanted = getattr(settings, "STRATA_FULLTEXT_RANKING", "auto")
    fix = "run `./strata manage fulltext_index`"
    if indexes and not library:
        why = (
            "BM25 indexes exist but pg_textsearch is not preloaded, so writing chunks fails: preload it "
            "(shared_preload_libraries = 'pg_textsearch') and restart"
        )
    elif wanted == "ts_rank":
        why = "STRATA_FULLTEXT_RANKING=ts_rank"
    elif not library:
        why = f"pg_textsearch is not preloaded (shared_preload_libraries = 'pg_textsearch', restart, then {fix})"
    elif not extension or indexes < 2:
        why = f"pg_textsearch is preloaded but its extension or BM25 indexes are missing ({fix})"
    elif stale:
        why = f"BM25 index(es) {', '.join(stale)} lost their statistics in a restart (pg_textsearch 1.0; {fix})"
    else:
        detail = f"BM25 (pg_textsearch {extension}, {indexes} indexes)"
        if workspaces and workspaces[1]:
            own, total = workspaces
            detail += f"; {own} of {total} workspaces with chunks have their own BM25 indexes" + (
                "" if own >= total else f", the others use the table-wide ones until their next ingest ({fix})"
            )
        return {"ranking": "bm25", "detail": detail}
    return {"ranking": "ts_rank", "detail": f"ts_rank_cd fallback: {why}"}


def redis_report() -> dict[str, Any]:
    url = settings.REDIS_URL
    report: dict[str, Any] = {
        "reachable": False,
        "embedded": not os.environ.get("REDIS_URL"),
        "url": maybe_sanitize_url(url),
    }
    if report["embedded"]:
        report["data_dir"] = str(redis_dir())
    client = redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT, socket_timeout=CONNECT_TIMEOUT)
    try:
        client.ping()
        report["version"] = client.info("server").get("redis_version")
    except redis.RedisError as exc:
        report["error"] = describe_error(exc)
        return report
    finally:
        client.close()
    report["reachable"] = True
    return report


def celery_report() -> dict[str, Any]:
    from core.celery import app

    report: dict[str, Any] = {"broker": maybe_sanitize_url(app.conf.broker_url or ""), "workers": []}
    try:
        with app.connection_for_write() as conn:
            conn.ensure_connection(max_retries=1, timeout=CONNECT_TIMEOUT)
        replies = app.control.ping(timeout=PING_TIMEOUT) or []
    except Exception as exc:  # broker down or refusing: say so
        report["error"] = describe_error(exc)
        return report
    report["workers"] = sorted(name for reply in replies for name in reply)
    return report


def outbox_report() -> dict[str, Any]:
    try:
        counts = selectors.outbox_backlog()
    except Exception as exc:  # e.g. migrations not applied yet
        return {"error": describe_error(exc)}
    oldest = counts.pop("oldest_pending")
    return {**counts, "oldest_pending": oldest.isoformat() if oldest else None}


class Command(BaseCommand):
    help = (
        "Report PostgreSQL (version, pgvector, AGE, graph), Redis, Celery workers and the outbox backlog. "
        "Exit status 1 when PostgreSQL or Redis is unreachable."
    )
    requires_system_checks: list[str] = []

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", dest="as_json", help="print one JSON object")

    def handle(self, *args: Any, as_json: bool = False, **options: Any) -> None:
        report: dict[str, Any] = {"postgres": postgres_report(), "redis": redis_report()}
        report["celery"] = (
            celery_report() if report["redis"]["reachable"] else {"workers": [], "error": "Redis is unreachable"}
        )
        report["outbox"] = (
            outbox_report() if report["postgres"]["reachable"] else {"error": "PostgreSQL is unreachable"}
        )
        report["ok"] = report["postgres"]["reachable"] and report["redis"]["reachable"]
        if as_json:
            self.stdout.write(json.dumps(report, indent=2, default=str))
        else:
            self._print(report)
        if not report["ok"]:
            down = [name for name in ("postgres", "redis") if not report[name]["reachable"]]
            raise CommandError(f"unreachable: {', '.join(down)}", returncode=1)

    def _line(self, label: str, text: str, style: Any = None) -> None:
        self.stdout.write(f"{label:<12} {style(text) if style else text}")

    def _print(self, report: dict[str, Any]) -> None:
        ok, bad, warn = self.style.SUCCESS, self.style.ERROR, self.style.WARNING
        pg = report["postgres"]
        where = f"embedded, {pg['data_dir']}" if pg["embedded"] else f"external, {pg['host']}"
        if pg["reachable"]:
            self._line("PostgreSQL", f"ok  {pg['server_version']}  database {pg['database']}  ({where})", ok)
            for name, version in pg["extensions"].items():
                self._line(f"  {name}", version or "NOT INSTALLED", None if version else bad)
            graph = pg["graph"]
            self._line("  graph", f"{graph['name']}: {'present' if graph['exists'] else 'MISSING'}")
            ranking = pg["fulltext"]
            self._line("  full-text", ranking["detail"], None if ranking["ranking"] == "bm25" else warn)
            for message in pg["warnings"]:
                self._line("  WARNING", message, warn)
            for message in pg["notes"]:
                self._line("  note", message)
        else:
            self._line("PostgreSQL", f"UNREACHABLE ({where}): {pg.get('error', '')}", bad)
            if pg["embedded"]:
                self._line("", "the embedded server is not running; ./strata run starts it")

        rd = report["redis"]
        kind = f"embedded, {rd['data_dir']}" if rd["embedded"] else "external"
        if rd["reachable"]:
            self._line("Redis", f"ok  {rd['version']}  {rd['url']}  ({kind})", ok)
        else:
            self._line("Redis", f"UNREACHABLE {rd['url']} ({kind}): {rd.get('error', '')}", bad)
            if rd["embedded"]:
                self._line("", "the embedded server is not running; ./strata run starts it")

        cel = report["celery"]
        if cel.get("error"):
            self._line("Celery", f"cannot ask workers: {cel['error']}", warn)
        elif cel["workers"]:
            self._line("Celery", f"{len(cel['workers'])} worker(s): {', '.join(cel['workers'])}", ok)
        else:
            self._line("Celery", "no worker answered (./strata run starts one)", warn)

        box = report["outbox"]
        if box.get("error"):
            self._line("Outbox", f"unknown: {box['error']}", warn)
        else:
            text = f"{box['pending']} pending, {box['dead']} dead"
            if box["oldest_pending"]:
                text += f" (oldest pending since {box['oldest_pending']})"
            self._line("Outbox", text, warn if box["dead"] else None)
