"""Fact collections index the width of the workspace's embedding model: MiniLM's 384 leading
components (the rest of its vectors is zero padding), all 1536 for a 1536-d model; graph-aware
retrieval ranks the facts as it does through a full-width index."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction

from core.storage.postgres.vectors import PostgresVectorStore, hnsw_index_name
from knowledge.retrieval import graph_retrieve
from knowledge.writes import FactRow, facts_replace, publish_facts_change
from tests.knowledge.helpers import doc, drain, ingest
from tests.optional import require_module
from tests.test_vectors_leading_dims import definition

pytestmark = pytest.mark.django_db(transaction=True)

FACTS = [
    "Marie Curie discovered radium in 1898.",
    "The Eiffel Tower is made of wrought iron.",
    "Penguins cannot fly but swim well.",
]


@pytest.mark.parametrize(
    ("provider", "width"), [("sentence-transformers", 384), ("hashing", 1536)], ids=["minilm", "hashing"]
)
def test_fact_collection_indexes_the_models_width(settings, workspace, provider, width):
    if provider == "sentence-transformers":
        require_module("sentence_transformers")
    settings.STRATA_EMBEDDING_PROVIDER = provider
    settings.STRATA_KNOWLEDGE_EXTRACTORS = []
    ids = ingest(workspace.id, doc("notes", "Some notes about science, towers and birds."))
    with transaction.atomic():
        changed = facts_replace(
            workspace_id=workspace.id,
            provenance="test",
            document_id=ids["notes"],
            facts=[FactRow(statement) for statement in FACTS],
        )
        publish_facts_change(workspace_id=workspace.id, fact_ids=changed)
    drain()
    store = PostgresVectorStore()
    [name] = [c.name for c in store.list_collections() if c.name.startswith(f"knowledge.facts.ws{workspace.id}.")]
    spec = store.get_spec(name)
    assert spec.index_dimensions == width
    assert store.count(name) == len(FACTS)
    index = definition(hnsw_index_name(spec.id, spec.index_type))
    assert (f"subvector(embedding, 1, {width})" in index) == (width < 1536)
    questions = ["Who discovered radium?", "What is the Eiffel Tower made of?", "Can penguins fly?"]

    def ranked() -> list[list[tuple[str, float]]]:
        return [
            [(f.statement, round(f.score, 5)) for f in graph_retrieve(workspace_id=workspace.id, question=q).facts]
            for q in questions
        ]

    before = ranked()
    if provider == "sentence-transformers":  # by meaning: MiniLM ranks each question's fact first
        assert [found[0][0] for found in before] == FACTS
    if width < 1536:
        call_command("vector_reindex", name, "--index-dimensions", "1536", stdout=StringIO())
        assert store.get_spec(name).index_dimensions == 1536
        assert ranked() == before
        # and back: how a collection created before at full width moves to the model's width
        call_command("vector_reindex", name, "--index-dimensions", str(width), stdout=StringIO())
        assert store.get_spec(name).index_dimensions == width
        assert ranked() == before
