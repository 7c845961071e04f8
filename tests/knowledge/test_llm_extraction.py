"""The LLM extractor against a real local HTTP server that answers like an OpenAI-compatible
chat endpoint (no test reaches the network); facts are embedded into the fact collection."""

from __future__ import annotations

import pytest
from django.test import override_settings

from content.services import EVENT_INGESTED
from core import outbox
from core.models import OutboxEvent
from knowledge import stores
from knowledge.models import Entity, Fact, FactSource
from tests.knowledge.fake_chat import serve_fake_chat
from tests.knowledge.helpers import doc, drain, graph_edges, ingest

pytestmark = pytest.mark.django_db

ANSWER = {
    "entities": [
        {"name": "Marie Curie", "type": "person", "aliases": ["Maria Skłodowska"]},
        {"name": "Radium", "type": "concept"},
        {"name": "bad", "type": 7},
        "not an object",
    ],
    "relations": [
        {"source": "Marie Curie", "target": "Radium", "label": "DISCOVERED"},
        {"source": "Marie Curie", "target": "Radium", "label": "bad label; DROP"},
    ],
    "facts": [{"statement": "Marie Curie discovered radium in 1898.", "entities": ["Marie Curie", "Radium"]}],
}


@pytest.fixture
def chat(monkeypatch):
    with serve_fake_chat() as api:
        monkeypatch.setenv("TEST_LLM_KEY", "sk-local")
        extractor = {
            "BACKEND": "knowledge.extraction.llm.LLMExtractor",
            "MODEL": "local-model",
            "BASE_URL": api.url,
            "API_KEY_ENV": "TEST_LLM_KEY",
            "MAX_RETRIES": 0,
            "TIMEOUT": 5,
        }
        with override_settings(STRATA_KNOWLEDGE_EXTRACTORS=[extractor]):
            yield api


def test_llm_extraction_writes_entities_relations_and_fact_vectors(workspace, chat):
    chat.answers["Curie"] = ANSWER
    ids = ingest(workspace.id, doc("curie", "Marie Curie discovered radium."))
    drain()
    assert chat.requests and chat.requests[0]["auth"] == "Bearer sk-local"
    assert chat.requests[0]["json"]["response_format"] == {"type": "json_object"}
    curie = Entity.objects.get(workspace=workspace, key="marie-curie")
    assert curie.type.name == "person" and curie.aliases == ["Maria Skłodowska"]
    assert Entity.objects.filter(workspace=workspace).count() == 3  # "bad" had a bad type: concept
    edges = graph_edges(workspace.id)
    assert ("DISCOVERED", "marie-curie", "radium") in edges
    assert ("MENTIONS", f"doc:{ids['curie']}", "radium") in edges
    assert not any("DROP" in e[0] for e in edges)
    fact = Fact.objects.get(workspace=workspace)
    assert set(fact.entities.values_list("key", flat=True)) == {"marie-curie", "radium"}
    assert FactSource.objects.get(fact=fact).document_id == ids["curie"]
    vectors = stores.vectors()
    name = next(c.name for c in vectors.list_collections() if c.name.startswith(f"knowledge.facts.ws{workspace.id}."))
    assert vectors.get(name, str(fact.pk)) is not None
    # graph-aware retrieval ranks it: about the question's entity (0.5) and close in meaning
    from knowledge.retrieval import graph_retrieve

    [ranked] = graph_retrieve(workspace_id=workspace.id, question="What did Marie Curie discover?").facts
    assert ranked.fact_id == fact.pk and ranked.statement == "Marie Curie discovered radium in 1898."
    assert ranked.score > 0.5 and set(ranked.entities) == {"Marie Curie", "Radium"}
    # the same document again: no second call, nothing changes
    calls = len(chat.requests)
    ingest(workspace.id, doc("curie", "Marie Curie discovered radium."))
    drain()
    assert len(chat.requests) == calls
    # the document changes and the model now says nothing: its facts and relations go
    chat.answers["Curie"] = {"entities": [{"name": "Marie Curie", "type": "person"}]}
    ingest(workspace.id, doc("curie", "Marie Curie, again."))
    drain()
    assert not Fact.objects.filter(workspace=workspace).exists()
    assert vectors.get(name, str(fact.pk)) is None
    assert ("DISCOVERED", "marie-curie", "radium") not in graph_edges(workspace.id)


def test_an_unreachable_endpoint_retries_through_the_outbox(workspace, chat):
    chat.script.append(("status", 503))
    chat.answers["Curie"] = ANSWER
    ingest(workspace.id, doc("curie", "Marie Curie discovered radium."))
    outbox.relay()
    event = OutboxEvent.objects.get(event_type=EVENT_INGESTED)
    assert event.status == OutboxEvent.Status.PENDING and "503" in event.last_error
    OutboxEvent.objects.filter(pk=event.pk).update(available_at=event.created_at)
    drain()
    assert Entity.objects.filter(workspace=workspace, key="marie-curie").exists()
