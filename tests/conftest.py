from __future__ import annotations

import pytest
from django.core.cache import cache


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
