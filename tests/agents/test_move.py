"""storage_move for the agents app: memories' vectors to Qdrant give the same recall, and
conversations' message and state documents to a dedicated document database read the same;
new writes land in the new stores (from the outbox)."""

from __future__ import annotations

import uuid
from io import StringIO

import pytest
from django.core.management import call_command

from agents import recall, selectors, services, stores
from core.models import StorageRoute
from core.storage import routing, storages
from core.storage.qdrant.client import close_local_clients
from tests.agents.helpers import done, ingest_corpus, run_turn
from tests.knowledge.helpers import drain
from tests.moving import PG_VECTORS
from tests.optional import require_module

pytestmark = pytest.mark.django_db(transaction=True, databases=["default", "documents"])

STATEMENTS = [
    "I prefer green tea in the morning",
    "Deploys happen on Fridays",
    "The wifi password is on the fridge",
    "My cat is called Tom",
    "The project budget was approved in May",
]
QUERIES = ["green tea", "when are deploys", "wifi password", "cat name", "project budget"]


@pytest.fixture
def routed(settings, tmp_path, workspace):
    require_module("qdrant_client")
    documents = settings.STRATA_STORAGE["default"]["documents"]
    settings.STRATA_STORAGE = {
        **settings.STRATA_STORAGE,
        "agents": {
            "vectors": {
                "DEFAULT": "postgres",
                "postgres": PG_VECTORS,
                "qdrant": {
                    "BACKEND": "core.storage.qdrant.QdrantVectorStore",
                    "path": str(tmp_path / "qdrant"),
                    "prefix": f"ag{uuid.uuid4().hex[:8]}",
                },
            },
            "documents": {
                "DEFAULT": "postgres",
                "postgres": documents["postgres"],
                "postgres-dedicated": documents["postgres-dedicated"],
            },
        },
    }
    settings.STRATA_STORAGE_ROUTE_TTL = 0.2
    storages.reset()
    routing.clear_cache()
    yield
    for label in (stores.MEMORY_LABEL, stores.ENTITY_LABEL):  # AGE's label tables outlive the flush
        storages.backend("agents", "graph", "age").cypher(
            f"MATCH (m:{label}) WHERE m.workspace_id = $ws DETACH DELETE m RETURN count(*)",
            {"ws": workspace.pk},
            columns=("n",),
        )
    try:
        storages.backend("agents", "documents", "postgres-dedicated").drop_collection(stores.MESSAGES)
        storages.backend("agents", "documents", "postgres-dedicated").drop_collection(stores.STATE)
    finally:
        StorageRoute.objects.filter(app="agents").delete()
        close_local_clients()
        storages.reset()
        routing.clear_cache()


def move(*args: str) -> str:
    out = StringIO()
    call_command("storage_move", *args, "--grace", "0", stdout=out, stderr=StringIO())
    return out.getvalue()


def recall_all(workspace, agent, user):
    return [
        [
            (m.memory_id, round(m.similarity, 4))
            for m in recall.memory_recall(workspace_id=workspace.id, agent_id=agent.pk, user_id=user.pk, query=q)
        ]
        for q in QUERIES
    ]


def test_memories_to_qdrant_and_conversations_to_a_dedicated_document_store(routed, workspace, agent, user):
    ingest_corpus(workspace.id)
    for statement in STATEMENTS:
        services.memory_add(workspace_id=workspace.id, agent_id=agent.pk, user_id=user.pk, statement=statement)
    first = done(
        run_turn(workspace_id=workspace.id, agent_id=agent.pk, conversation_id=None, user_id=user.pk, text="pulsar")
    )
    conversation_id = first["conversation_id"]
    services.state_write(
        workspace_id=workspace.id, scope="conversation", scope_id=conversation_id, expected_version=0, data={"k": 1}
    )
    drain()
    before = recall_all(workspace, agent, user)
    assert all(before) and before[0][0][0] != before[1][0][0]
    messages = selectors.conversation_messages(workspace_id=workspace.id, conversation_id=conversation_id)
    assert stores.vectors().features.vendor == "postgresql"

    assert "4. reads switched to qdrant" in move("agents", "vectors", "--to", "qdrant")
    move("agents", "documents", "--to", "postgres-dedicated")
    routing.clear_cache()
    assert stores.vectors().features.vendor == "qdrant"
    assert stores.documents().using == "documents"
    assert recall_all(workspace, agent, user) == before
    assert selectors.conversation_messages(workspace_id=workspace.id, conversation_id=conversation_id) == messages
    state = selectors.state_read(workspace_id=workspace.id, scope="conversation", scope_id=conversation_id)
    assert (state.version, state.data) == (1, {"k": 1})

    # new writes land in the new stores (after the commit, from the outbox)
    new = services.memory_add(
        workspace_id=workspace.id, agent_id=agent.pk, user_id=user.pk, statement="Lunch is at noon sharp"
    )
    second = run_turn(
        workspace_id=workspace.id, agent_id=agent.pk, conversation_id=conversation_id, user_id=user.pk, text="bread"
    )
    drain()
    hits = recall.memory_recall(workspace_id=workspace.id, agent_id=agent.pk, user_id=user.pk, query="lunch noon")
    assert hits[0].memory_id == new.memory_id
    assert [
        m["seq"] for m in selectors.conversation_messages(workspace_id=workspace.id, conversation_id=conversation_id)
    ] == [1, 2, 3, 4]
    assert done(second)["seq"] == 4
    # forgetting removes the vector from Qdrant too
    services.memory_forget(workspace_id=workspace.id, memory_id=new.memory_id)
    drain()
    hits = recall.memory_recall(workspace_id=workspace.id, agent_id=agent.pk, user_id=user.pk, query="lunch noon")
    assert new.memory_id not in [m.memory_id for m in hits]
