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
