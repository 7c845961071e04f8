"""Strata settings. Everything secret or deployment-specific comes from the environment.

With no ``DATABASE_URL`` / ``REDIS_URL`` the project runs on an embedded PostgreSQL (with
pgvector and Apache AGE) and an embedded Redis under ``STRATA_DATA_DIR`` (see core/embedded.py).
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from core import embedded


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    return int(value) if value not in (None, "") else default


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if value is None:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if DEBUG or not os.environ.get("DATABASE_URL"):
        # Local embedded mode: a per-checkout key kept next to the embedded data, never committed.
        _key_file = embedded.data_dir() / "secret_key"
        if not _key_file.exists():
            import secrets

            _key_file.parent.mkdir(parents=True, exist_ok=True)
            _key_file.write_text(secrets.token_urlsafe(50))
            _key_file.chmod(0o600)
        SECRET_KEY = _key_file.read_text().strip()
    else:
        raise ImproperlyConfigured("DJANGO_SECRET_KEY must be set when DATABASE_URL is set")

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "core",
    "content",
    "knowledge",
    "agents",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "core.middleware.RejectNulMiddleware",  # before anything looks a value up in the database
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "core.middleware.WorkspaceMiddleware",
]

ROOT_URLCONF = "core.urls"
WSGI_APPLICATION = "core.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "core.context_processors.workspace",
            ],
        },
    },
]

# ------------------------------------------------------------------ database
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60))
    _db["ENGINE"] = "core.db.backend"
else:
    _db = {
        "ENGINE": "core.db.backend",
        "NAME": "strata",
        "USER": "postgres",
        "HOST": str(embedded.pg_data_dir()),  # replaced by the real socket dir on connect
        "CONN_MAX_AGE": 60,
        "OPTIONS": {"strata_embedded": True},
    }
if os.environ.get("STRATA_DB_NAME"):
    _db["NAME"] = os.environ["STRATA_DB_NAME"]
DATABASES = {"default": _db}
# The dedicated documents database (alias "documents"), for a DocumentStore configured with
# {"using": "documents"}: STRATA_DOCUMENTS_DATABASE_URL, or in embedded mode a second database
# "<name>_documents" on the embedded server (created on first use). core.db.router migrates only
# the document tables there. The server needs no AGE (nothing graph-related runs there).
DOCUMENTS_DATABASE_URL = os.environ.get("STRATA_DOCUMENTS_DATABASE_URL", "")
if DOCUMENTS_DATABASE_URL:
    _documents_db = dj_database_url.parse(DOCUMENTS_DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60))
    _documents_db["ENGINE"] = "core.db.backend"
    _documents_db.setdefault("OPTIONS", {})["strata_age"] = False
    DATABASES["documents"] = _documents_db
elif not DATABASE_URL:
    DATABASES["documents"] = {
        **_db,
        "NAME": f"{_db['NAME']}_documents",
        "OPTIONS": {"strata_embedded": True, "strata_age": False},
    }
STRATA_DOCUMENT_DATABASES = ["documents"]
DATABASE_ROUTERS = ["core.db.router.StorageRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# ------------------------------------------------------------------ redis, cache, celery
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    _default_broker_url = REDIS_URL
else:
    # The embedded Redis of this data dir, on its Unix socket (see core/embedded.py).
    REDIS_URL = embedded.redis_url(env_int("STRATA_REDIS_DB", 0))
    _default_broker_url = embedded.broker_url(env_int("STRATA_REDIS_DB", 0))
    if embedded.autostart_enabled():
        embedded.ensure_redis()

CACHES = {
    "default": {
        "BACKEND": "django_redis.cache.RedisCache",
        "LOCATION": REDIS_URL,
        "KEY_PREFIX": os.environ.get("STRATA_CACHE_PREFIX", "strata"),
        "TIMEOUT": env_int("STRATA_CACHE_TIMEOUT", 300),
        # An unreachable or hung Redis costs at most these seconds, once per retry window of the
        # cache port (core/storage/redis_cache.py): pages are then served uncached.
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "SOCKET_CONNECT_TIMEOUT": float(os.environ.get("STRATA_CACHE_CONNECT_TIMEOUT", "0.5")),
            "SOCKET_TIMEOUT": float(os.environ.get("STRATA_CACHE_SOCKET_TIMEOUT", "2")),
        },
    }
}

CELERY_BROKER_URL = os.environ.get("CELERY_BROKER_URL", _default_broker_url)
CELERY_RESULT_BACKEND = os.environ.get("CELERY_RESULT_BACKEND", None) or None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", False)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BEAT_SCHEDULE = {
    "outbox-relay": {
        "task": "core.tasks.outbox_relay",
        "schedule": float(os.environ.get("STRATA_OUTBOX_RELAY_INTERVAL", "5")),
    },
    # the agents' usage-analytics flywheel (README "Interaction events", "Daily metrics")
    "agents-event-partitions": {
        "task": "agents.flywheel.maintain_event_partitions",
        "schedule": float(os.environ.get("STRATA_AGENTS_EVENT_PARTITIONS_INTERVAL", "3600")),
    },
    "agents-daily-metrics": {
        "task": "agents.flywheel.aggregate_daily_metrics",
        "schedule": float(os.environ.get("STRATA_AGENTS_METRICS_INTERVAL", "900")),
    },
}
# Task modules outside an app's tasks.py (the flywheel's live in agents/flywheel/tasks.py).
CELERY_IMPORTS = ["agents.flywheel.tasks"]

# ------------------------------------------------------------------ Strata
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
STRATA_MAX_DOCUMENT_BYTES = env_int("STRATA_MAX_DOCUMENT_BYTES", 4 * 1024 * 1024)
STRATA_MAX_METADATA_BYTES = env_int("STRATA_MAX_METADATA_BYTES", 64 * 1024)
STRATA_OUTBOX_MAX_ATTEMPTS = env_int("STRATA_OUTBOX_MAX_ATTEMPTS", 8)
STRATA_OUTBOX_BACKOFF_SECONDS = float(os.environ.get("STRATA_OUTBOX_BACKOFF_SECONDS", "2"))
STRATA_OUTBOX_BATCH_SIZE = env_int("STRATA_OUTBOX_BATCH_SIZE", 100)
# Extra modules whose import registers outbox handlers (each app's handlers.py is found by itself).
# Interaction events (agents/flywheel): one partition per UTC day, created this many days ahead
# by beat (and on demand), dropped once older than the retention period.
STRATA_AGENTS_EVENT_RETENTION_DAYS = env_int("STRATA_AGENTS_EVENT_RETENTION_DAYS", 90)
STRATA_AGENTS_EVENT_PARTITIONS_AHEAD = env_int("STRATA_AGENTS_EVENT_PARTITIONS_AHEAD", 7)
STRATA_OUTBOX_HANDLER_MODULES = env_list("STRATA_OUTBOX_HANDLER_MODULES", [])
# Selectors that describe a workspace on the home page: "dotted.path" -> callable(workspace_id) -> dict
STRATA_WORKSPACE_SUMMARIES: list[str] = [
    "content.selectors.workspace_summary",
]

# ------------------------------------------------------------------ auth, i18n, static
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"


def _vis_network_dir() -> str | None:
    """The graph explorer's drawing library, vis-network, as the PyPI package ``pyvis`` ships it
    (installed by pip with the rest; never committed here)."""
    import importlib.util

    spec = importlib.util.find_spec("pyvis")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = Path(list(spec.submodule_search_locations)[0]) / "lib" / "vis-9.1.2"
    return str(found) if (found / "vis-network.min.js").is_file() else None


def _plotly_dir() -> str | None:
    """The agents analytics page's charting library, plotly.js, as the PyPI package ``plotly``
    ships it (``plotly/package_data/plotly.min.js``; installed by pip, never committed here)."""
    import importlib.util

    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        return None
    found = Path(list(spec.submodule_search_locations)[0]) / "package_data"
    return str(found) if (found / "plotly.min.js").is_file() else None


STATICFILES_DIRS = [
    *[("vendor/vis-network", d) for d in [_vis_network_dir()] if d],
    *[("vendor/plotly", d) for d in [_plotly_dir()] if d],
]
# Static files (admin CSS/JS, site.css) are served by WhiteNoise under gunicorn: in production
# from STATIC_ROOT (collectstatic, hashed names); in embedded mode straight from the apps'
# static directories (no collectstatic needed).
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")
if DEBUG or not os.environ.get("DATABASE_URL"):
    STORAGES["staticfiles"] = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    WHITENOISE_USE_FINDERS = True
    STATIC_ROOT = None  # nothing is collected here

SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", False)
SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", False)
X_FRAME_OPTIONS = "DENY"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # Celery's INFO lines for each beat-driven outbox relay run (three every 5 s) are dropped;
    # the relay logs by itself when it delivers something (core/log_filters.py).
    "filters": {"quiet_relay_runs": {"()": "core.log_filters.QuietRelayRuns"}},
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("STRATA_LOG_LEVEL", "INFO")},
    "loggers": {
        "pgserver": {"level": "WARNING"},
        "celery.beat": {"filters": ["quiet_relay_runs"]},
        "celery.app.trace": {"filters": ["quiet_relay_runs"]},
        "celery.worker.strategy": {"filters": ["quiet_relay_runs"]},
    },
}

# ------------------------------------------------------------------ Content
# Chunking: "tokens" (fixed windows) or "sentences" (whole sentences packed up to the size);
# size and overlap count word-ish tokens.
STRATA_CHUNK_STRATEGY = os.environ.get("STRATA_CHUNK_STRATEGY", "sentences")
STRATA_CHUNK_SIZE = env_int("STRATA_CHUNK_SIZE", 200)
STRATA_CHUNK_OVERLAP = env_int("STRATA_CHUNK_OVERLAP", 40)
# Embeddings: "hashing" (no model), "sentence-transformers" (optional extra) or "openai".
STRATA_EMBEDDING_PROVIDER = os.environ.get("STRATA_EMBEDDING_PROVIDER", "hashing")
STRATA_EMBEDDING_BATCH_SIZE = env_int("STRATA_EMBEDDING_BATCH_SIZE", 256)
# Chunks per committed slice when the worker embeds (content/vector_slices.py): each slice's
# vectors are written and marked in one short transaction.
STRATA_EMBEDDING_SLICE_SIZE = env_int("STRATA_EMBEDDING_SLICE_SIZE", 64)
STRATA_SENTENCE_TRANSFORMERS_MODEL_PATH = os.environ.get("STRATA_SENTENCE_TRANSFORMERS_MODEL_PATH", "")
STRATA_SENTENCE_TRANSFORMERS_DEVICE = os.environ.get("STRATA_SENTENCE_TRANSFORMERS_DEVICE", "cpu")
STRATA_OPENAI_BASE_URL = os.environ.get("STRATA_OPENAI_BASE_URL", "https://api.openai.com/v1")
STRATA_OPENAI_API_KEY = os.environ.get("STRATA_OPENAI_API_KEY", "")  # from the environment only
STRATA_OPENAI_EMBEDDING_MODEL = os.environ.get("STRATA_OPENAI_EMBEDDING_MODEL", "text-embedding-3-small")
# Send `dimensions: 1536`: "auto" (text-embedding-3-* models), "1" or "0".
STRATA_OPENAI_DIMENSIONS = os.environ.get("STRATA_OPENAI_DIMENSIONS", "auto")
STRATA_OPENAI_TIMEOUT = float(os.environ.get("STRATA_OPENAI_TIMEOUT", "30"))
STRATA_OPENAI_MAX_RETRIES = env_int("STRATA_OPENAI_MAX_RETRIES", 5)
# Ingest: documents per transaction in `manage.py ingest`; the size limit of a .json/.jsonl
# file holding many documents (single documents are limited by STRATA_MAX_DOCUMENT_BYTES).
STRATA_INGEST_BATCH_SIZE = env_int("STRATA_INGEST_BATCH_SIZE", 500)
# Threads (each with its own database connection) writing a bulk ingest's batches and marking a
# bulk load's chunks (content/bulk_ingest.py, core/parallel.py); 1: one after the other.
STRATA_INGEST_WORKERS = env_int("STRATA_INGEST_WORKERS", 2)
STRATA_INGEST_MAX_FILE_BYTES = env_int("STRATA_INGEST_MAX_FILE_BYTES", 256 * 1024 * 1024)
# Upload form: size limit of one uploaded file.
STRATA_MAX_UPLOAD_BYTES = env_int("STRATA_MAX_UPLOAD_BYTES", 16 * 1024 * 1024)

# ------------------------------------------------------------------ Search
# Full-text ranking: "auto" (BM25 through pg_textsearch when the server preloads it, else
# ts_rank_cd), "bm25" (required) or "ts_rank".
STRATA_FULLTEXT_RANKING = os.environ.get("STRATA_FULLTEXT_RANKING", "auto")
# How much a document's title counts next to its text (BM25: title score x weight is added).
STRATA_SEARCH_TITLE_WEIGHT = float(os.environ.get("STRATA_SEARCH_TITLE_WEIGHT", "1.0"))
# Hybrid: fusion of the best STRATA_SEARCH_FUSION_POOL candidates of each mode (content/fusion.py):
# "relative_score" (min-max normalised scores, weighted sum; default) or "rrf" (weighted
# reciprocal rank fusion with STRATA_SEARCH_RRF_K). Defaults measured on the tuning split of the
# standard-library corpus (README, "Search relevance"); the semantic weight "auto" is the embedding
# model's measured weight for the method (full-text weighs 1.0).
STRATA_SEARCH_FUSION = os.environ.get("STRATA_SEARCH_FUSION", "relative_score")
STRATA_SEARCH_RRF_K = env_int("STRATA_SEARCH_RRF_K", 3)
STRATA_SEARCH_WEIGHT_SEMANTIC = os.environ.get("STRATA_SEARCH_WEIGHT_SEMANTIC", "auto")
STRATA_SEARCH_WEIGHT_FULLTEXT = float(os.environ.get("STRATA_SEARCH_WEIGHT_FULLTEXT", "1.0"))
# 30: hybrid MRR@10 on the tuning split 0.400 (hashing, as with 100) and 0.492 (MiniLM; 0.498 with
# 100), at about half the latency (README, "Search relevance").
STRATA_SEARCH_FUSION_POOL = env_int("STRATA_SEARCH_FUSION_POOL", 30)
# Relevance floors by embedding model, overriding the model's calibrated floor: a JSON object
# such as {"hashing-1536-v2": 0.2}.
STRATA_RELEVANCE_FLOORS = json.loads(os.environ.get("STRATA_RELEVANCE_FLOORS") or "{}")
# Query embeddings are cached in Redis by (model, text) for this long (seconds).
STRATA_QUERY_EMBEDDING_CACHE_SECONDS = env_int("STRATA_QUERY_EMBEDDING_CACHE_SECONDS", 7 * 24 * 3600)
# Threads for encoding one query with sentence-transformers (batches use torch's default).
STRATA_SENTENCE_TRANSFORMERS_QUERY_THREADS = env_int("STRATA_SENTENCE_TRANSFORMERS_QUERY_THREADS", 1)
# What encodes one MiniLM query: "onnx" (ONNX Runtime on a graph exported once from the shipped
# weights, checked against torch; torch when onnxruntime is missing or the export fails) or "torch".
STRATA_SENTENCE_TRANSFORMERS_QUERY_RUNTIME = os.environ.get("STRATA_SENTENCE_TRANSFORMERS_QUERY_RUNTIME", "onnx")
# Where models derived from shipped weights (the MiniLM ONNX export) are kept.
STRATA_MODEL_CACHE_DIR = os.environ.get("STRATA_MODEL_CACHE_DIR") or str(embedded.data_dir() / "models")

# ------------------------------------------------------------------ knowledge
# The extractors every ingested document goes through (knowledge/extraction/): a JSON list of
# {"BACKEND": "dotted.Class", ...options}; see the README ("Knowledge: extraction").
STRATA_KNOWLEDGE_EXTRACTORS = json.loads(
    os.environ.get("STRATA_KNOWLEDGE_EXTRACTORS")
    or '[{"BACKEND": "knowledge.extraction.heuristic.HeuristicExtractor"},'
    ' {"BACKEND": "knowledge.extraction.structured.StructuredExtractor"}]'
)
# graph-aware retrieval: how much the graph score counts next to the text score (knowledge/retrieval.py)
STRATA_GRAPH_SEARCH_WEIGHT = float(os.environ.get("STRATA_GRAPH_SEARCH_WEIGHT", "1.0"))
# the staff Cypher console's statement timeout (knowledge/console.py)
STRATA_CYPHER_TIMEOUT_MS = int(os.environ.get("STRATA_CYPHER_TIMEOUT_MS", "2000"))
# allow the console where the graph store cannot isolate workspaces row by row (FalkorDB): results
# are then only graph elements of the workspace, but a WHERE clause can read other workspaces
STRATA_CYPHER_CONSOLE_UNISOLATED = env_bool("STRATA_CYPHER_CONSOLE_UNISOLATED", False)
# Sections other apps add to the document page: "dotted.path" of panel(*, workspace_id, document_id) -> HTML
STRATA_DOCUMENT_PANELS: list[str] = ["knowledge.pages.document_panel"]
# Search modes other apps add to the search page: mode -> "dotted.path" of
# search_hits(*, workspace_id, query, filters, limit) -> list[content.selectors.SearchHit]
STRATA_SEARCH_EXTRA_MODES: dict[str, str] = {"graph": "knowledge.retrieval.search_hits"}

# ------------------------------------------------------------------ agents
# The LLM the agents answer with (agents/llm/): {"BACKEND": "dotted.Class", ...options}, or
# several by name ({"default": {...}, "fast": {...}}) that an agent picks. Unset (or "{}"): the
# offline extractive responder (answers only with cited passages). The OpenAI-compatible backend:
# {"BACKEND": "agents.llm.openai_chat.OpenAIChat", "MODEL": "gpt-4o-mini", "BASE_URL": "...",
#  "API_KEY_ENV": "STRATA_LLM_API_KEY", "TIMEOUT": 30, "MAX_RETRIES": 2} (the key from the environment).
STRATA_AGENTS_LLM: dict = json.loads(os.environ.get("STRATA_AGENTS_LLM") or "{}")
# Tools an agent may be allowed to use (names; none are built in yet).
STRATA_AGENTS_TOOLS: list[str] = env_list("STRATA_AGENTS_TOOLS", [])
# What one chat turn retrieves: passages from content search, documents/facts from graph-aware
# retrieval, memories; and how many passages the offline responder quotes.
STRATA_AGENTS_PASSAGES = env_int("STRATA_AGENTS_PASSAGES", 6)
STRATA_AGENTS_MEMORIES = env_int("STRATA_AGENTS_MEMORIES", 5)
STRATA_AGENTS_QUOTES = env_int("STRATA_AGENTS_QUOTES", 3)
# Memory recall: score = (1 - w) x similarity + w x 0.5 ** (age in days / half-life); memories
# less similar than the floor are not recalled. Near-duplicates (cosine >= the merge similarity)
# are merged into one memory.
STRATA_AGENTS_MEMORY_RECENCY_WEIGHT = float(os.environ.get("STRATA_AGENTS_MEMORY_RECENCY_WEIGHT", "0.2"))
STRATA_AGENTS_MEMORY_HALF_LIFE_DAYS = float(os.environ.get("STRATA_AGENTS_MEMORY_HALF_LIFE_DAYS", "30"))
STRATA_AGENTS_MEMORY_MIN_SIMILARITY = float(os.environ.get("STRATA_AGENTS_MEMORY_MIN_SIMILARITY", "0.15"))
STRATA_AGENTS_MEMORY_MERGE_SIMILARITY = float(os.environ.get("STRATA_AGENTS_MEMORY_MERGE_SIMILARITY", "0.85"))
