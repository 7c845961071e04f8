"""Storage: the adapter of each (app, kind) port, routes and moves between backends, the
storage_report advisor's thresholds, the graph, and pgvector's HNSW indexes and loads."""

from __future__ import annotations

import os

from django.core.exceptions import ImproperlyConfigured

from core.settings.database import DATABASES
from core.settings.env import env_int

# Storage ports: one adapter per (app, kind), chosen here the way Wagtail chooses search
# backends. "default" applies to every app that does not name its own.
# STRATA_DOCUMENT_STORE / STRATA_VECTOR_STORE / STRATA_GRAPH_STORE pick the default adapter of
# each kind (README "Storage interfaces"); options of the dedicated ones come from the env too.
_STORE_CHOICES = {
    "documents": {
        "postgres": {"BACKEND": "core.storage.postgres.documents.PostgresDocumentStore"},
        "postgres-dedicated": {
            "BACKEND": "core.storage.postgres.documents.PostgresDocumentStore",
            "using": "documents",
        },
    },
    "vectors": {
        "postgres": {"BACKEND": "core.storage.postgres.vectors.PostgresVectorStore"},
        "qdrant": {
            "BACKEND": "core.storage.qdrant.QdrantVectorStore",
            **{
                option: os.environ[variable]
                for option, variable in (
                    ("url", "STRATA_QDRANT_URL"),
                    ("api_key", "STRATA_QDRANT_API_KEY"),
                    ("path", "STRATA_QDRANT_PATH"),
                )
                if os.environ.get(variable)
            },
        },
    },
    "graph": {
        "age": {"BACKEND": "core.storage.postgres.age.AgeGraphStore"},
        "falkordb": {
            "BACKEND": "core.storage.falkordb.FalkorGraphStore",
            **({"url": os.environ["STRATA_FALKORDB_URL"]} if os.environ.get("STRATA_FALKORDB_URL") else {}),
        },
    },
}


def _store_choices(kind: str, variable: str, default: str) -> dict:
    """Every backend of the kind by alias (so `storage_move` can move to any of them), with the
    one the environment chooses as the DEFAULT (serving until a route row says otherwise)."""
    choice = os.environ.get(variable) or default
    if choice not in _STORE_CHOICES[kind]:
        raise ImproperlyConfigured(f"{variable}={choice!r}: expected one of {sorted(_STORE_CHOICES[kind])}")
    if choice == "postgres-dedicated" and "documents" not in DATABASES:
        raise ImproperlyConfigured(f"{variable}=postgres-dedicated needs STRATA_DOCUMENTS_DATABASE_URL")
    available = {
        alias: dict(config)
        for alias, config in _STORE_CHOICES[kind].items()
        if alias != "postgres-dedicated" or "documents" in DATABASES
    }
    return {"DEFAULT": choice, **available}


STRATA_STORAGE = {
    "default": {
        "documents": _store_choices("documents", "STRATA_DOCUMENT_STORE", "postgres"),
        "vectors": _store_choices("vectors", "STRATA_VECTOR_STORE", "postgres"),
        "graph": _store_choices("graph", "STRATA_GRAPH_STORE", "age"),
        "cache": {"BACKEND": "core.storage.redis_cache.RedisCache"},
    },
}
# Readers cache an (app, kind)'s route (which backend serves reads) this many seconds per
# process; writers always read it fresh. storage_move's grace period is at least twice this.
STRATA_STORAGE_ROUTE_TTL = float(os.environ.get("STRATA_STORAGE_ROUTE_TTL", "2"))
# storage_move: seconds both backends keep receiving writes after reads switched (at least twice
# STRATA_STORAGE_ROUTE_TTL), and the mean overlap of the top 10 of sample searches in both
# backends that verification requires (HNSW indexes are approximate: 1.0 is not guaranteed).
STRATA_STORAGE_MOVE_GRACE = float(os.environ.get("STRATA_STORAGE_MOVE_GRACE", "30"))
STRATA_MOVE_MIN_SEARCH_OVERLAP = float(os.environ.get("STRATA_MOVE_MIN_SEARCH_OVERLAP", "0.9"))
# Port timings (storage_report): each process adds its histograms to Redis this often.
STRATA_PORT_TIMINGS_FLUSH_SECONDS = float(os.environ.get("STRATA_PORT_TIMINGS_FLUSH_SECONDS", "10"))
# storage_report's thresholds (README "storage_report" explains each): the hours of port timings
# it reads; calls an operation needs before its p95 counts; HNSW indexes larger than this
# fraction of RAM, or larger than shared_buffers with an index hit ratio below the minimum, say
# "move"; so do vector searches or graph traversals slower (p95) than these milliseconds, and
# JSON documents past a size or a peak write rate; AGE label tables with more dead rows than
# this ratio of live ones are named (VACUUM); a dedicated store holding fewer items than
# SMALL_ROWS is pointed out (PostgreSQL would serve them in the rows' transaction).
STRATA_ADVISOR_WINDOW_HOURS = env_int("STRATA_ADVISOR_WINDOW_HOURS", 24)
STRATA_ADVISOR_MIN_CALLS = env_int("STRATA_ADVISOR_MIN_CALLS", 100)
STRATA_ADVISOR_HNSW_RAM_FRACTION = float(os.environ.get("STRATA_ADVISOR_HNSW_RAM_FRACTION", "0.5"))
STRATA_ADVISOR_MIN_HIT_RATIO = float(os.environ.get("STRATA_ADVISOR_MIN_HIT_RATIO", "0.95"))
STRATA_ADVISOR_VECTOR_P95_MS = float(os.environ.get("STRATA_ADVISOR_VECTOR_P95_MS", "100"))
STRATA_ADVISOR_GRAPH_P95_MS = float(os.environ.get("STRATA_ADVISOR_GRAPH_P95_MS", "50"))
STRATA_ADVISOR_DOCUMENTS_MAX_GB = float(os.environ.get("STRATA_ADVISOR_DOCUMENTS_MAX_GB", "200"))
STRATA_ADVISOR_DOCUMENTS_MAX_WRITES_PER_SECOND = float(
    os.environ.get("STRATA_ADVISOR_DOCUMENTS_MAX_WRITES_PER_SECOND", "2000")
)
STRATA_ADVISOR_MAX_DEAD_RATIO = float(os.environ.get("STRATA_ADVISOR_MAX_DEAD_RATIO", "0.2"))
STRATA_ADVISOR_SMALL_ROWS = env_int("STRATA_ADVISOR_SMALL_ROWS", 100_000)
STRATA_GRAPH_NAME = os.environ.get("STRATA_GRAPH_NAME", "strata")
# The most edges one shortest_path call may follow before it stops with TraversalTooLarge.
STRATA_GRAPH_MAX_WORK = env_int("STRATA_GRAPH_MAX_WORK", 250_000)
STRATA_VECTOR_DIMENSIONS = 1536
# pgvector < 0.8.2 has CVE-2026-3172 in parallel HNSW builds: build with
# max_parallel_maintenance_workers = 0 there (the adapters check the installed version).
STRATA_HNSW_M = env_int("STRATA_HNSW_M", 16)
STRATA_HNSW_EF_CONSTRUCTION = env_int("STRATA_HNSW_EF_CONSTRUCTION", 64)
# Unset (or 0): ef_search by the collection's size (core.storage.hnsw): 60 up to 100k vectors
# (recall@10 0.991 on MiniLM vectors, 0.998 on 100k low-rank ones), +40 per tenfold (100 at 1M,
# where 60 gives 0.946 and 100 0.970). A number: that ef_search for every collection.
STRATA_HNSW_EF_SEARCH = env_int("STRATA_HNSW_EF_SEARCH", 0) or None
# The HNSW index of new pgvector collections: "halfvec" (an expression index on
# embedding::halfvec(1536)) or "vector" (full precision) or "binary" (bit(1536), re-ranked);
# the column stays VECTOR(1536). create_collection(index=...) picks one per collection.
STRATA_VECTOR_INDEX = os.environ.get("STRATA_VECTOR_INDEX", "halfvec")
# maintenance_work_mem for an HNSW (re)build (vector_reindex): the graph should fit in it.
STRATA_HNSW_BUILD_MEMORY = os.environ.get("STRATA_HNSW_BUILD_MEMORY", "1GB")
# A filtered vector search matching at most this many rows computes exact distances over them
# (through the metadata GIN and the collection btree) instead of walking the HNSW graph.
STRATA_VECTOR_EXACT_MAX_ROWS = env_int("STRATA_VECTOR_EXACT_MAX_ROWS", 1000)
# Candidates a search walks in a "binary" (bit(1536) Hamming) index before re-ranking them by
# the exact distance (issue 9: 100 reaches recall@10 0.95 on MiniLM vectors).
STRATA_VECTOR_BINARY_CANDIDATES = env_int("STRATA_VECTOR_BINARY_CANDIDATES", 100)
# Parallel workers of an HNSW build on pgvector >= 0.8.2 (always 0 below: CVE-2026-3172).
STRATA_HNSW_BUILD_WORKERS = env_int("STRATA_HNSW_BUILD_WORKERS", 1)
# The bulk vector path (core/storage/postgres/vector_load.py): a load of at least
# STRATA_VECTOR_BULK_MIN_ROWS vectors that will be at least STRATA_VECTOR_BULK_FRACTION of the
# collection afterwards is staged (COPY into an unindexed copy, one index build, one swap);
# smaller loads insert live, STRATA_VECTOR_LIVE_BATCH rows per commit. The fraction is the
# measured switch point (./strata bench vector_scale --switch: 0.21-0.23).
STRATA_VECTOR_BULK_MIN_ROWS = env_int("STRATA_VECTOR_BULK_MIN_ROWS", 2000)
STRATA_VECTOR_BULK_FRACTION = float(os.environ.get("STRATA_VECTOR_BULK_FRACTION", "0.25"))
STRATA_VECTOR_LIVE_BATCH = env_int("STRATA_VECTOR_LIVE_BATCH", 1000)
# Connections a live load of two batches or more writes them over (outside a transaction;
# each batch its own transaction). 1: one connection, one batch after the other.
STRATA_VECTOR_LIVE_CONNECTIONS = env_int("STRATA_VECTOR_LIVE_CONNECTIONS", 2)
