"""Memory: add, recall by meaning with a recency weight, update, near-duplicate merge, forget
(gone from the row, the vector and the graph), links to knowledge entities, the memory job after
a chat turn commits, and workspaces apart."""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery import current_app
from django.utils import timezone

from agents import recall, services, stores
from agents.models import Memory
from agents.remember import statements_to_remember
from tests.agents.helpers import done, ingest_corpus, run_turn
from tests.knowledge.graphs import build
from tests.knowledge.helpers import drain

pytestmark = pytest.mark.django_db


def add(workspace, agent, statement, user_id=None):
    written = services.memory_add(workspace_id=workspace.id, agent_id=agent.pk, user_id=user_id, statement=statement)
    drain()  # the vector is written from the outbox, after the commit
    return written


def vector_of(workspace, memory_id):
    store = stores.vectors()
    found = []
    for collection in store.list_collections():
        if collection.name.startswith(f"agents.memories.ws{workspace.id}."):
            item = store.get(collection.name, str(memory_id))
            if item is not None:
                found.append(item)
    return found


def recalled(workspace, agent, query, user_id=None, limit=5):
    return [
        m.statement
        for m in recall.memory_recall(
            workspace_id=workspace.id, agent_id=agent.pk, user_id=user_id, query=query, limit=limit
        )
    ]


def test_add_recall_update_and_forget_from_every_store(workspace, agent, user):
    assert not build(workspace.id).errors  # knowledge entities App, Web, Http, Socket, ...
    drain()
    tea = add(workspace, agent, "I prefer green tea in the morning", user.pk)
    http = add(workspace, agent, "The user maintains the Http package", user.pk)
    add(workspace, agent, "Deploys happen on Fridays")
    row = Memory.objects.get(pk=http.memory_id)
    assert row.entity_ids and row.statement == "The user maintains the Http package"
    # the graph: the memory's node, ABOUT the knowledge entity it names
    graph = stores.graph()
    node = graph.get_node(stores.memory_ref(workspace.id, http.memory_id))
    assert node is not None and node.properties["agent_id"] == agent.pk
    linked = graph.neighbours(stores.memory_ref(workspace.id, http.memory_id), direction="out")
    assert [n.properties["name"] for n in linked] == ["Http"]
    # recall by meaning: the right memory first; the user's and everyone's memories
    assert recalled(workspace, agent, "what tea do I like in the morning?", user.pk)[0].startswith("I prefer green tea")
    assert "Deploys happen on Fridays" in recalled(workspace, agent, "when do deploys happen?", user.pk)
    assert recalled(workspace, agent, "green tea morning", user_id=None) == []  # not another user's memories
    # update: the vector follows
    services.memory_update(workspace_id=workspace.id, memory_id=tea.memory_id, statement="I prefer black coffee")
    drain()
    assert recalled(workspace, agent, "black coffee", user.pk)[0] == "I prefer black coffee"
    # forget: row, vector and graph node all gone
    assert vector_of(workspace, http.memory_id)
    assert services.memory_forget(workspace_id=workspace.id, memory_id=http.memory_id)
    drain()
    assert not Memory.objects.filter(pk=http.memory_id).exists()
    assert vector_of(workspace, http.memory_id) == []
    assert graph.get_node(stores.memory_ref(workspace.id, http.memory_id)) is None
    assert "The user maintains the Http package" not in recalled(workspace, agent, "Http package maintainer", user.pk)


def test_near_duplicates_are_merged(workspace, agent, user):
    first = add(workspace, agent, "I prefer green tea in the morning", user.pk)
    again = add(workspace, agent, "i prefer  GREEN tea in the morning", user.pk)  # same text
    close = add(workspace, agent, "I prefer green tea in the morning.", user.pk)  # same meaning
    assert again == services.MemoryWrite(first.memory_id, True) and close.memory_id == first.memory_id
    other = add(workspace, agent, "Deploys happen on Fridays", user.pk)
    assert not other.merged
    row = Memory.objects.get(pk=first.memory_id)
    assert row.merged_count == 2 and row.statement == "I prefer green tea in the morning."
    assert Memory.objects.filter(agent=agent).count() == 2
    # another user's identical statement is a memory of its own
    assert not add(workspace, agent, "I prefer green tea in the morning", None).merged


def test_recall_weighs_recency(workspace, agent, settings):
    old = add(workspace, agent, "The project deadline is in March")
    new = add(workspace, agent, "The project budget was approved")
    Memory.objects.filter(pk=old.memory_id).update(updated_at=timezone.now() - timedelta(days=365))
    query = "project deadline"
    settings.STRATA_AGENTS_MEMORY_RECENCY_WEIGHT = 0.0
    assert recalled(workspace, agent, query)[0] == "The project deadline is in March"
    settings.STRATA_AGENTS_MEMORY_RECENCY_WEIGHT = 0.9
    assert recalled(workspace, agent, query)[0] == "The project budget was approved"
    scored = recall.memory_recall(workspace_id=workspace.id, agent_id=agent.pk, user_id=None, query=query)
    assert {m.memory_id for m in scored} == {old.memory_id, new.memory_id}
    assert next(m for m in scored if m.memory_id == old.memory_id).age_days > 364


def test_memories_are_workspace_scoped(workspace, other_workspace, agent, other_agent):
    mine = add(workspace, agent, "The wifi password is on the fridge")
    assert (
        recall.memory_recall(workspace_id=other_workspace.id, agent_id=agent.pk, user_id=None, query="wifi password")
        == []
    )
    assert (
        recall.memory_recall(
            workspace_id=other_workspace.id, agent_id=other_agent.pk, user_id=None, query="wifi password"
        )
        == []
    )
    assert not services.memory_forget(workspace_id=other_workspace.id, memory_id=mine.memory_id)
    with pytest.raises(services.MemoryError):
        services.memory_update(workspace_id=other_workspace.id, memory_id=mine.memory_id, statement="x")
    with pytest.raises(services.MemoryError):
        services.memory_add(workspace_id=other_workspace.id, agent_id=agent.pk, user_id=None, statement="x")
    with pytest.raises(services.MemoryError):
        services.memory_add(workspace_id=workspace.id, agent_id=agent.pk, user_id=None, statement="  ")
    assert Memory.objects.get(pk=mine.memory_id).statement == "The wifi password is on the fridge"


def test_what_a_turn_remembers():
    assert statements_to_remember("Remember that my cat is called Tom. What is a pulsar? I prefer short answers!") == [
        "My cat is called Tom.",
        "I prefer short answers!",
    ]
    assert statements_to_remember("What is a pulsar? Tell me more.") == []


def test_a_chat_turn_writes_memories_in_a_job_after_it_commits(
    workspace, agent, user, django_capture_on_commit_callbacks
):
    ingest_corpus(workspace.id)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        events = run_turn(
            workspace_id=workspace.id,
            agent_id=agent.pk,
            conversation_id=None,
            user_id=user.pk,
            text="I prefer short answers. Who discovered the first pulsar?",
        )
    assert not Memory.objects.exists()  # nothing before the turn commits
    current_app.conf.task_always_eager = True  # run the enqueued Celery job in this process
    try:
        for callback in callbacks:
            callback()
    finally:
        current_app.conf.task_always_eager = False
    drain()
    (memory,) = Memory.objects.all()
    assert memory.statement == "I prefer short answers."
    assert (memory.user_id, memory.source_conversation_id, memory.source_message_seq) == (
        user.pk,
        done(events)["conversation_id"],
        1,
    )
    # the next turn recalls it and cites it as a memory
    events = run_turn(
        workspace_id=workspace.id, agent_id=agent.pk, conversation_id=None, user_id=user.pk, text="short answers"
    )
    assert f"memory:{memory.pk}" in [s["ref"] for s in next(e for e in events if e["type"] == "sources")["sources"]]
