"""Extraction from ingested documents, fed by content's outbox events: each extractor, its
idempotency, a changed document replacing only what its extractors created, deletion."""

from __future__ import annotations

import pytest

from content.services import document_delete
from knowledge.extraction import SourceDocument
from knowledge.extraction.heuristic import HeuristicExtractor
from knowledge.models import Entity, ExtractionRun, Relation
from tests.knowledge.helpers import doc, drain, graph_edges, graph_nodes, ingest

pytestmark = pytest.mark.django_db


def test_structured_extractor_builds_the_dependency_graph(workspace, structured_only):
    ids = ingest(
        workspace.id,
        doc("requests.md", "HTTP for humans.", name="requests", depends=["urllib3", "idna"], authors=["Kenneth"]),
        doc("urllib3.md", "HTTP client.", name="urllib3", depends=["idna"]),
    )
    drain()
    entities = dict(Entity.objects.filter(workspace=workspace).values_list("key", "type__name"))
    assert entities == {"requests": "package", "urllib3": "package", "idna": "package", "kenneth": "person"}
    edges = graph_edges(workspace.id)
    assert ("DEPENDS_ON", "requests", "urllib3") in edges
    assert ("DEPENDS_ON", "requests", "idna") in edges
    assert ("DEPENDS_ON", "urllib3", "idna") in edges
    assert ("AUTHORED_BY", "requests", "kenneth") in edges
    assert ("MENTIONS", f"doc:{ids['requests.md']}", "urllib3") in edges
    nodes = graph_nodes(workspace.id)
    assert nodes["requests"]["type"] == "package" and nodes["requests"]["workspace_id"] == workspace.id


def test_heuristic_extractor_finds_phrases_and_cooccurrence(workspace, heuristic_only):
    ids = ingest(
        workspace.id,
        doc("ada", "Ada Lovelace worked with Charles Babbage in London. The Analytical Engine was his design."),
    )
    drain()
    names = set(Entity.objects.filter(workspace=workspace).values_list("name", flat=True))
    assert {"Ada Lovelace", "Charles Babbage", "London", "Analytical Engine"} <= names
    assert "The" not in names
    edges = graph_edges(workspace.id)
    assert ("RELATED_TO", "ada-lovelace", "charles-babbage") in edges
    assert ("RELATED_TO", "charles-babbage", "london") in edges
    assert not any(e[0] == "RELATED_TO" and "analytical-engine" in e[1:] and "london" in e[1:] for e in edges)
    assert ("MENTIONS", f"doc:{ids['ada']}", "london") in edges


def test_heuristic_is_linear_on_hostile_input():
    import time

    extractor = HeuristicExtractor()
    text = ("Aa " * 200_000) + ("a." * 200_000) + ("X-" * 100_000)
    started = time.process_time()
    found = extractor.extract(SourceDocument(1, 1, "t", text, {}, "h"))
    assert time.process_time() - started < 5
    assert found.entities


def test_rerun_is_idempotent_and_a_change_replaces_only_its_own(workspace, structured_only):
    ingest(workspace.id, doc("r.md", "x", name="requests", depends=["urllib3", "chardet"]))
    drain()
    before = list(Relation.objects.order_by("id").values_list("id", "label", "weight"))
    runs = list(ExtractionRun.objects.values_list("id", "updated_at"))
    # the same content again: nothing changes
    ingest(workspace.id, doc("r.md", "x", name="requests", depends=["urllib3", "chardet"]))
    from knowledge.services import documents_extract

    summary = documents_extract(workspace_id=workspace.id, document_ids=[Relation.objects.first().document_id])
    assert summary.extracted == 0 and summary.unchanged == 1
    drain()
    assert list(Relation.objects.order_by("id").values_list("id", "label", "weight")) == before
    assert list(ExtractionRun.objects.values_list("id", "updated_at")) == runs
    # an unrelated manual relation survives the document's change
    from knowledge.writes import RelationRow, publish_graph_change, relations_add

    urllib3 = Entity.objects.get(workspace=workspace, key="urllib3")
    chardet = Entity.objects.get(workspace=workspace, key="chardet")
    triples = relations_add(
        workspace_id=workspace.id,
        provenance="manual",
        rows=[RelationRow("RELATED_TO", ("e", urllib3.pk), ("e", chardet.pk))],
    )
    publish_graph_change(workspace_id=workspace.id, triples=triples)
    # changed: chardet dropped, idna added
    ingest(workspace.id, doc("r.md", "y", name="requests", depends=["urllib3", "idna"]))
    drain()
    edges = graph_edges(workspace.id)
    assert ("DEPENDS_ON", "requests", "idna") in edges
    assert ("DEPENDS_ON", "requests", "chardet") not in edges
    assert ("DEPENDS_ON", "requests", "urllib3") in edges
    assert ("RELATED_TO", "urllib3", "chardet") in edges  # not the extractor's: kept


def test_deleting_a_document_removes_its_relations_and_node(workspace, structured_only):
    ids = ingest(
        workspace.id,
        doc("a.md", "x", name="a", depends=["b"]),
        doc("c.md", "x", name="c", depends=["b"]),
    )
    drain()
    document_delete(workspace_id=workspace.id, document_id=ids["a.md"])
    drain()
    edges = graph_edges(workspace.id)
    assert ("DEPENDS_ON", "a", "b") not in edges
    assert ("DEPENDS_ON", "c", "b") in edges
    assert f"doc:{ids['a.md']}" not in graph_nodes(workspace.id, "DocumentRef")
    assert f"doc:{ids['c.md']}" in graph_nodes(workspace.id, "DocumentRef")
    assert not Relation.objects.filter(document_id=ids["a.md"]).exists()


def test_the_default_extractors_are_heuristic_and_structured(workspace, settings):
    from core import settings as project_settings
    from knowledge.extraction import configured

    settings.STRATA_KNOWLEDGE_EXTRACTORS = project_settings.STRATA_KNOWLEDGE_EXTRACTORS
    assert [e.name for e in configured()] == ["heuristic", "structured"]
    ids = ingest(workspace.id, doc("n.md", "Grace Hopper wrote COBOL compilers.", tags=["compilers"]))
    drain()
    edges = graph_edges(workspace.id)
    assert ("MENTIONS", f"doc:{ids['n.md']}", "grace-hopper") in edges
    assert ("TAGGED", f"doc:{ids['n.md']}", "compilers") in edges


def test_keys_of_names_in_any_script(workspace, heuristic_only):
    from knowledge.normalize import key_for

    assert key_for("Мария Кюри") == "мария-кюри" and key_for("Ada  Lovelace.") == "ada-lovelace"
    assert key_for("\u200b") == "entity"
