"""Test settings: the same real Postgres (embedded unless DATABASE_URL) and Redis, on a
separate Redis database and key prefix so tests never touch development data."""

import os

os.environ.setdefault("STRATA_REDIS_DB", "1")
os.environ.setdefault("STRATA_CACHE_PREFIX", "strata-test")

from core.settings import *  # noqa: E402,F403
from core.settings import CACHES  # noqa: E402

CACHES["default"]["KEY_PREFIX"] = os.environ["STRATA_CACHE_PREFIX"]
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # fast logins in tests

# The tests' outbox handlers (tests/outbox_handlers.py), also loaded by the worker tests' Celery worker.
from core.settings import STRATA_OUTBOX_HANDLER_MODULES  # noqa: E402

if "tests.outbox_handlers" not in STRATA_OUTBOX_HANDLER_MODULES:
    STRATA_OUTBOX_HANDLER_MODULES = [*STRATA_OUTBOX_HANDLER_MODULES, "tests.outbox_handlers"]
DATABASES["default"]["CONN_MAX_AGE"] = 0  # noqa: F405  (live_server threads must not keep connections)

if "documents" not in DATABASES:  # noqa: F405  (DATABASE_URL without STRATA_DOCUMENTS_DATABASE_URL)
    DATABASES["documents"] = {  # noqa: F405
        **DATABASES["default"],  # noqa: F405
        "NAME": f"{DATABASES['default']['NAME']}_documents",  # noqa: F405
        "OPTIONS": {**DATABASES["default"].get("OPTIONS", {}), "strata_age": False},  # noqa: F405
    }
DATABASES["documents"]["CONN_MAX_AGE"] = 0  # noqa: F405

# No extraction unless a test asks for it (tests/knowledge/conftest.py): the other suites count
# outbox deliveries and queries of content alone. The default pair is tested there too.
STRATA_KNOWLEDGE_EXTRACTORS: list = []
