"""Memory collections index the width of the workspace's embedding model: MiniLM's 384 leading
components (the rest of its vectors is zero padding), all 1536 for a 1536-d model; recall is the
same as through a full-width index (``vector_reindex --index-dimensions`` moves one either way)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from agents import recall, services
from core.storage.postgres.vectors import PostgresVectorStore, hnsw_index_name
from tests.knowledge.helpers import drain
from tests.optional import require_module
from tests.test_vectors_leading_dims import definition

pytestmark = pytest.mark.django_db(transaction=True)

MEMORIES = [
    "I prefer green tea in the morning",
    "Deploys happen on Fridays after lunch",
    "The staging database lives in Frankfurt",
    "My cat is called Miso",
]


def recalled(workspace, agent, query):
    found = recall.memory_recall(workspace_id=workspace.id, agent_id=agent.pk, user_id=None, query=query, limit=3)
    return [m.statement for m in found]


@pytest.mark.parametrize(
    ("provider", "width"), [("sentence-transformers", 384), ("hashing", 1536)], ids=["minilm", "hashing"]
)
def test_memory_collection_indexes_the_models_width(settings, workspace, agent, provider, width):
    if provider == "sentence-transformers":
        require_module("sentence_transformers")
    settings.STRATA_EMBEDDING_PROVIDER = provider
    for statement in MEMORIES:
        services.memory_add(workspace_id=workspace.id, agent_id=agent.pk, user_id=None, statement=statement)
    drain()
    store = PostgresVectorStore()
    [name] = [c.name for c in store.list_collections() if c.name.startswith(f"agents.memories.ws{workspace.id}.")]
    spec = store.get_spec(name)
    assert spec.index_dimensions == width
    index = definition(hnsw_index_name(spec.id, spec.index_type))
    assert (f"subvector(embedding, 1, {width})" in index) == (width < 1536)
    queries = ["what tea do I drink?", "when are deploys?", "where is the staging database?", "my cat's name"]
    before = [recalled(workspace, agent, q) for q in queries]
    if provider == "sentence-transformers":  # by meaning: MiniLM finds each memory first
        assert [found[0] for found in before] == MEMORIES[:4]
    if width < 1536:
        call_command("vector_reindex", name, "--index-dimensions", "1536", stdout=StringIO())
        assert store.get_spec(name).index_dimensions == 1536
        assert [recalled(workspace, agent, q) for q in queries] == before
        # and back: how a collection created before at full width moves to the model's width
        call_command("vector_reindex", name, "--index-dimensions", str(width), stdout=StringIO())
        assert store.get_spec(name).index_dimensions == width
        assert [recalled(workspace, agent, q) for q in queries] == before
