"""Fixtures of the knowledge tests."""

from __future__ import annotations

import pytest
from django.test import override_settings

HEURISTIC = {"BACKEND": "knowledge.extraction.heuristic.HeuristicExtractor"}
STRUCTURED = {
    "BACKEND": "knowledge.extraction.structured.StructuredExtractor",
    "FIELDS": {
        "authors": {"type": "person", "label": "AUTHORED_BY"},
        "depends": {"type": "package", "label": "DEPENDS_ON"},
    },
    "SUBJECT": {"field": "name", "type": "package"},
}


@pytest.fixture
def structured_only():
    with override_settings(STRATA_KNOWLEDGE_EXTRACTORS=[STRUCTURED]):
        yield


@pytest.fixture
def heuristic_only():
    with override_settings(STRATA_KNOWLEDGE_EXTRACTORS=[HEURISTIC]):
        yield
