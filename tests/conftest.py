from __future__ import annotations

import pytest
from django.core.cache import cache

from tests.workers import start_worker  # noqa: F401  (a fixture: a real Celery worker process)


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--slow", action="store_true", help="also run the long variants (tests marked slow)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--slow"):
        return
    skip = pytest.mark.skip(reason="long variant: run with `./strata test --slow`")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup, django_db_blocker):
    """No autovacuum on the BM25-indexed tables of the test database. pg_textsearch 1.0.0 can
    deadlock an autovacuum of such a table (waiting, uninterruptibly, on the extension's own lock)
    against a test transaction that wrote to its index and then asks for a table lock (REINDEX,
    or LOCK TABLE in ``bm25_workspaces.ensure``): neither can be cancelled and the run hangs
    (seen at LWLock "extension"; upstream pg_textsearch #370, fixed in 1.1 with a rebuild). Tests
    flush their rows anyway; the development database keeps autovacuum (see README)."""
    from django.db import connection

    with django_db_blocker.unblock(), connection.cursor() as cursor:
        for table in ("content_chunk", "content_document"):
            cursor.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")  # noqa: S608 (fixed names)


@pytest.fixture(autouse=True)
def _clear_cache():
    """Each test starts with an empty (test-only) Redis database."""
    cache.clear()
    yield


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="alice", password="pw-alice-123")


@pytest.fixture
def other_user(django_user_model):
    return django_user_model.objects.create_user(username="bob", password="pw-bob-123")


@pytest.fixture
def workspace(user):
    from core import services

    return services.workspace_create(name="Alice's lab", owner=user)


@pytest.fixture
def other_workspace(other_user):
    from core import services

    return services.workspace_create(name="Bob's lab", owner=other_user)
