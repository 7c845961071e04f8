"""Fixtures of the content tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.test import override_settings

from tests.content.fake_openai import FakeAPI, serve_fake_api


@pytest.fixture
def fake_api() -> Iterator[FakeAPI]:
    """A real local HTTP server speaking the OpenAI embeddings API."""
    with serve_fake_api() as api:
        yield api


@pytest.fixture
def openai_settings(fake_api):
    """The "openai" provider pointed at ``fake_api`` (batches of 2)."""
    with override_settings(
        STRATA_EMBEDDING_PROVIDER="openai",
        STRATA_OPENAI_BASE_URL=fake_api.url,
        STRATA_OPENAI_API_KEY="sk-test-key",
        STRATA_OPENAI_EMBEDDING_MODEL="text-embedding-3-small",
        STRATA_OPENAI_DIMENSIONS="auto",
        STRATA_OPENAI_MAX_RETRIES=2,
        STRATA_OPENAI_TIMEOUT=2,
        STRATA_EMBEDDING_BATCH_SIZE=2,
    ):
        yield fake_api
