"""Two workspaces holding the SAME external ids, texts, entity keys and memories, plus one
document only the other workspace has: the search page in every mode (after the other workspace
warmed the caches), the document, entity and graph pages, and an agent's chat retrieval return
only the asking workspace's rows."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from agents import services as agents
from content.models import Document
from knowledge.models import Entity
from tests.agents.helpers import done, run_turn
from tests.knowledge.helpers import doc, drain, ingest

pytestmark = pytest.mark.django_db
MODES = ("hybrid", "semantic", "fulltext", "graph")
SHARED = [
    doc("pulsar", "Jocelyn Bell discovered the first pulsar at Cambridge.", authors=["Jocelyn Bell"]),
    doc("quasar", "Maarten Schmidt measured the first quasar redshift.", authors=["Maarten Schmidt"]),
    doc("pulsar-again", "Jocelyn Bell discovered the first pulsar at Cambridge in 1967.", authors=["Jocelyn Bell"]),
]
THEIRS = doc("vault", "Jocelyn Bell kept the pulsar vault code 4711 in a notebook.", authors=["Jocelyn Bell"])


@pytest.fixture
def twins(settings, workspace, other_workspace):
    settings.STRATA_KNOWLEDGE_EXTRACTORS = [
        {
            "BACKEND": "knowledge.extraction.structured.StructuredExtractor",
            "FIELDS": {"authors": {"type": "person", "label": "AUTHORED_BY"}},
        },
        {"BACKEND": "knowledge.extraction.heuristic.HeuristicExtractor"},
    ]
    mine = ingest(workspace.id, *SHARED)
    theirs = ingest(other_workspace.id, *SHARED, THEIRS)
    drain()
    assert set(Document.objects.filter(workspace=other_workspace).values_list("pk", flat=True)) == set(theirs.values())
    return mine, theirs


def document_ids(html: str) -> set[int]:
    return {int(n) for n in re.findall(r"/content/documents/(\d+)/", html)}


def test_search_pages_in_every_mode_show_only_the_users_workspace(client, user, other_user, twins):
    mine, theirs = twins
    for mode in MODES:  # the other workspace searches first: its cached rankings must not be served
        client.force_login(other_user)
        answer = client.get(reverse("content:search"), {"q": "Jocelyn Bell pulsar vault", "mode": mode})
        assert theirs["vault"] in document_ids(answer.content.decode()), mode
        client.force_login(user)
        answer = client.get(reverse("content:search"), {"q": "Jocelyn Bell pulsar vault", "mode": mode})
        assert answer.status_code == 200
        shown = document_ids(answer.content.decode())
        assert mine["pulsar"] in shown, mode
        assert shown <= set(mine.values()), (mode, shown)
        assert "4711" not in answer.content.decode()


def test_pages_with_the_other_workspaces_ids_are_404(client, user, other_workspace, twins):
    _, theirs = twins
    client.force_login(user)
    assert client.get(reverse("content:document-detail", args=[theirs["pulsar"]])).status_code == 404
    mine = twins[0]
    page = client.get(reverse("content:document-detail", args=[mine["pulsar"]])).content.decode()
    # similar documents: its near twin; the other workspace's identical copy would score higher still
    assert mine["pulsar-again"] in document_ids(page) and document_ids(page) <= set(mine.values())
    assert "4711" not in page
    entity = Entity.objects.get(workspace=other_workspace, key="jocelyn-bell")
    assert client.get(reverse("knowledge:entity-detail", args=[entity.pk])).status_code == 404
    graph = client.get(reverse("knowledge:graph-json"), {"key": "jocelyn-bell", "depth": 2})
    assert graph.status_code == 200
    assert "4711" not in graph.content.decode() and f"doc:{theirs['vault']}" not in graph.content.decode()
    statuses = client.get(reverse("content:document-statuses"), {"ids": ",".join(map(str, theirs.values()))})
    assert statuses.json() == {"documents": []}


def test_chat_retrieval_and_memory_stay_in_the_workspace(workspace, other_workspace, user, other_user, twins):
    mine, theirs = twins
    config = agents.AgentConfig(name="Helper", search_mode="hybrid", use_graph=True, use_memory=True)
    agent = agents.agent_create(workspace_id=workspace.id, config=config, user_id=user.pk)
    other = agents.agent_create(workspace_id=other_workspace.id, config=config, user_id=other_user.pk)
    agents.memory_add(
        workspace_id=other_workspace.id, agent_id=other.pk, user_id=None, statement="The vault code is 4711."
    )
    drain()
    question = "What is the pulsar vault code Jocelyn Bell kept?"
    events = run_turn(
        workspace_id=workspace.id, agent_id=agent.pk, conversation_id=None, user_id=user.pk, text=question
    )
    cited = {c["document_id"] for c in done(events)["citations"] if c["document_id"] is not None}
    assert cited and cited <= set(mine.values()), done(events)["citations"]
    assert "4711" not in str(events)
    # the same question in the other workspace finds its document and memory (the check above can fail)
    events = run_turn(
        workspace_id=other_workspace.id, agent_id=other.pk, conversation_id=None, user_id=other_user.pk, text=question
    )
    assert "4711" in str(events)
