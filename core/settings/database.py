"""The databases: ``DATABASE_URL`` or the embedded PostgreSQL (with pgvector and Apache AGE), and
the dedicated documents database."""

from __future__ import annotations

import os

import dj_database_url

from core.embedded.postgres import pg_data_dir
from core.settings.env import env_int

DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    _db = dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60))
    _db["ENGINE"] = "core.db.backend"
else:
    _db = {
        "ENGINE": "core.db.backend",
        "NAME": "strata",
        "USER": "postgres",
        "HOST": str(pg_data_dir()),  # replaced by the real socket dir on connect
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
