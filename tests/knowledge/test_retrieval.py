"""Graph-aware retrieval on a small corpus where the graph changes the answer, with a bounded
number of queries, offered on the search page as the "graph" mode."""

from __future__ import annotations

import io
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from content import selectors as content
from knowledge.retrieval import entities_in, graph_retrieve
from tests.knowledge.helpers import doc, drain, ingest

pytestmark = pytest.mark.django_db

CORPUS = [
    doc("curie-bio", "Marie Curie was a physicist and chemist who studied radioactivity in Paris."),
    doc(
        "radium-paper",
        "On the isolation of radium chloride: a technique of fractional crystallisation.",
        title="Isolation of radium chloride",
        authors=["Marie Curie"],
    ),
    doc("antoinette", "Marie Antoinette was the last queen of France before the revolution."),
    doc("bakery", "Curie bakery sells bread and croissants in Lyon."),
    doc("pierre", "Pierre Curie was a physicist who worked on piezoelectricity."),
]


@pytest.fixture
def corpus(workspace, settings):
    settings.STRATA_KNOWLEDGE_EXTRACTORS = [
        {
            "BACKEND": "knowledge.extraction.structured.StructuredExtractor",
            "FIELDS": {"authors": {"type": "person", "label": "AUTHORED_BY"}},
        },
        {"BACKEND": "knowledge.extraction.heuristic.HeuristicExtractor"},
    ]
    ids = ingest(workspace.id, *CORPUS)
    drain()
    return ids


def test_the_graph_changes_the_answer(workspace, corpus):
    question = "What did Marie Curie write?"
    assert [e.name for e in entities_in(workspace_id=workspace.id, question=question)] == ["Marie Curie"]
    hybrid = [h.document_id for h in content.search(workspace_id=workspace.id, query=question, mode="hybrid", limit=3)]
    assert corpus["radium-paper"] not in hybrid  # the text alone does not find the paper she wrote
    answer = graph_retrieve(workspace_id=workspace.id, question=question, limit=3)
    top = [d.document_id for d in answer.documents]
    assert set(top[:2]) == {corpus["curie-bio"], corpus["radium-paper"]}
    paper = next(d for d in answer.documents if d.document_id == corpus["radium-paper"])
    assert paper.via == ("Marie Curie",) and paper.graph_score > 0
    assert corpus["antoinette"] not in top[:2] and corpus["bakery"] not in top[:2]


def test_a_bounded_number_of_queries_whatever_the_graph(workspace, corpus):
    from tests.knowledge.graphs import build

    question = "What did Marie Curie write?"
    graph_retrieve(workspace_id=workspace.id, question=question)  # warm up (labels, embedder)
    with CaptureQueriesContext(connection) as small:
        graph_retrieve(workspace_id=workspace.id, question=question)
    # a much bigger neighbourhood around her
    edges = [("marie-curie", f"topic-{i}") for i in range(300)] + [(f"topic-{i}", f"sub-{i}") for i in range(300)]
    assert not build(workspace.id, edges=edges).errors
    with CaptureQueriesContext(connection) as big:
        graph_retrieve(workspace_id=workspace.id, question=question)
    assert len(big) <= len(small) + 2 and len(big) < 60, (len(small), len(big))


def test_search_page_offers_the_graph_mode(client, user, workspace, corpus, other_workspace):
    client.force_login(user)
    page = client.get(reverse("content:search"), {"q": "What did Marie Curie write?", "mode": "graph"})
    assert page.status_code == 200
    body = page.content.decode()
    assert 'value="graph"' in body
    assert "Isolation of radium chloride" in body and "connected to Marie Curie" in body
    bad = client.get(reverse("content:search"), {"q": "x", "mode": "nonsense"})
    assert bad.status_code in (200, 400) and "Isolation" not in bad.content.decode()


def test_retrieval_is_workspace_scoped(workspace, other_workspace, corpus):
    ingest(other_workspace.id, doc("secret", "Marie Curie secret notes.", authors=["Marie Curie"]))
    drain()
    answer = graph_retrieve(workspace_id=workspace.id, question="Marie Curie")
    assert all(d.document_id in corpus.values() for d in answer.documents)


def test_the_metadata_filter_applies_to_graph_hits(workspace, corpus):
    answer = graph_retrieve(workspace_id=workspace.id, question="What did Marie Curie write?", filters={"lang": "fr"})
    assert answer.documents == []  # no document has lang=fr, not even the ones reached through the graph
    answer = graph_retrieve(
        workspace_id=workspace.id, question="What did Marie Curie write?", filters={"authors": ["Marie Curie"]}
    )
    assert [d.document_id for d in answer.documents] == [corpus["radium-paper"]]


def test_the_question_names_entities_by_name_or_alias(workspace, other_workspace):
    from knowledge import services

    def load(workspace_id: int, *nodes: dict) -> None:
        text = "\n".join(json.dumps({"kind": "node", "label": "Product", **n}) for n in nodes).encode()
        assert not services.graph_import(stream=io.BytesIO(text), name="n.jsonl", workspace_id=workspace_id).errors

    load(
        workspace.id,
        {"key": "pg", "properties": {"name": "PostgreSQL", "aliases": ["Postgres", "PG server"]}},
        {"key": "redis", "properties": {"name": "Redis"}},
        {"key": "age", "properties": {"name": "Apache AGE", "aliases": ["AGE"]}},
    )
    load(other_workspace.id, {"key": "mysql", "properties": {"name": "MySQL", "aliases": ["Postgres"]}})

    def named(question: str) -> list[str]:
        return [e.key for e in entities_in(workspace_id=workspace.id, question=question)]

    assert named("Is Postgres faster than Redis?") == ["pg", "redis"]  # by alias and by name, in question order
    assert named("the PG server and apache age") == ["pg", "age"]  # a two-word alias; a name in any case
    assert named("what about AGE") == ["age"]
    assert named("MySQL or Oracle?") == []  # another workspace's entity and alias stay out
