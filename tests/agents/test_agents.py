"""Agents and versions; conversations' messages as documents; state with optimistic concurrency."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from agents import selectors, services, stores
from agents.models import AgentVersion

pytestmark = pytest.mark.django_db


def test_every_change_writes_a_new_immutable_version(workspace, agent, user):
    assert agent.version == 1
    changed = services.agent_update(
        workspace_id=workspace.id,
        agent_id=agent.pk,
        config=services.AgentConfig(name="Helper", instructions="Be thorough.", search_mode="fulltext"),
        user_id=user.pk,
    )
    assert changed.version == 2
    same = services.agent_update(
        workspace_id=workspace.id,
        agent_id=agent.pk,
        config=services.AgentConfig(name="Helper", instructions="Be thorough.", search_mode="fulltext"),
    )
    assert same.version == 2  # nothing changed: no new version
    v1 = selectors.version_config(workspace_id=workspace.id, agent_id=agent.pk, number=1)
    v2 = selectors.version_config(workspace_id=workspace.id, agent_id=agent.pk, number=2)
    assert (v1.instructions, v1.search_mode) == ("Be brief.", "hybrid")
    assert (v2.instructions, v2.search_mode) == ("Be thorough.", "fulltext")
    assert AgentVersion.objects.filter(agent=agent).count() == 2


def test_bad_configurations_are_refused(workspace, agent):
    for config, words in [
        (services.AgentConfig(name=""), "name"),
        (services.AgentConfig(name="X", search_mode="magic"), "search mode"),
        (services.AgentConfig(name="X", llm_backend="nope"), "LLM backend"),
        (services.AgentConfig(name="X", tools=("shell",)), "unknown tools"),
        (services.AgentConfig(name="Helper"), "already has"),
    ]:
        with pytest.raises(services.AgentError, match=words):
            services.agent_create(workspace_id=workspace.id, config=config)


def test_agents_are_workspace_scoped(workspace, other_workspace, agent, other_agent):
    assert selectors.agent_get(workspace_id=other_workspace.id, agent_id=agent.pk) is None
    assert [a.pk for a in selectors.agent_list(workspace_id=workspace.id)] == [agent.pk]
    with pytest.raises(services.AgentError):
        services.agent_update(workspace_id=other_workspace.id, agent_id=agent.pk, config=services.AgentConfig("Evil"))
    assert selectors.version_config(workspace_id=other_workspace.id, agent_id=agent.pk, number=1) is None


def test_messages_are_json_documents(workspace, other_workspace, agent, user):
    conversation = services.conversation_start(workspace_id=workspace.id, agent_id=agent.pk, user_id=user.pk)
    citation = {"ref": "doc:1", "document_id": 1, "chunk_id": 2, "title": "T", "quote": "q"}
    seqs = services.messages_append(
        workspace_id=workspace.id,
        conversation_id=conversation.pk,
        messages=[
            services.NewMessage("user", "What is a heron?"),
            services.NewMessage("assistant", "A bird.", citations=[citation], timing={"total": 3.5}, agent_version=1),
        ],
    )
    assert seqs == [1, 2]
    stored = stores.documents().get(stores.MESSAGES, stores.message_id(conversation.pk, 2))
    assert stored["role"] == "assistant" and stored["citations"] == [citation] and stored["timing"] == {"total": 3.5}
    docs = selectors.conversation_messages(workspace_id=workspace.id, conversation_id=conversation.pk)
    assert [(d["seq"], d["role"], d["content"]) for d in docs] == [
        (1, "user", "What is a heron?"),
        (2, "assistant", "A bird."),
    ]
    assert selectors.conversation_messages(workspace_id=other_workspace.id, conversation_id=conversation.pk) == []
    with pytest.raises(services.ConversationError):
        services.messages_append(
            workspace_id=other_workspace.id,
            conversation_id=conversation.pk,
            messages=[services.NewMessage("user", "x")],
        )
    with pytest.raises(services.ConversationError, match="role"):
        services.messages_append(
            workspace_id=workspace.id, conversation_id=conversation.pk, messages=[services.NewMessage("root", "x")]
        )
    conversation.refresh_from_db()
    assert conversation.title == "What is a heron?" and conversation.messages_count == 2


def test_state_two_writers_one_is_refused(workspace, agent):
    first = selectors.state_read(workspace_id=workspace.id, scope="agent", scope_id=agent.pk)
    assert (first.version, first.data) == (0, {})
    a = services.state_write(
        workspace_id=workspace.id, scope="agent", scope_id=agent.pk, expected_version=0, data={"n": 1}
    )
    assert a.version == 1
    read_by_both = selectors.state_read(workspace_id=workspace.id, scope="agent", scope_id=agent.pk)
    assert (read_by_both.version, read_by_both.data) == (1, {"n": 1})
    services.state_write(
        workspace_id=workspace.id, scope="agent", scope_id=agent.pk, expected_version=1, data={"n": 2, "by": "A"}
    )
    with pytest.raises(services.StaleState, match="version 2, not 1") as refused:
        services.state_write(
            workspace_id=workspace.id, scope="agent", scope_id=agent.pk, expected_version=1, data={"n": 2, "by": "B"}
        )
    assert refused.value.current == 2
    now = selectors.state_read(workspace_id=workspace.id, scope="agent", scope_id=agent.pk)
    assert (now.version, now.data) == (2, {"n": 2, "by": "A"})  # the winner's write is kept
    with pytest.raises(services.StaleState):  # two first writes: the second is refused too
        services.state_write(workspace_id=workspace.id, scope="agent", scope_id=agent.pk, expected_version=0, data={})


def test_state_rejects_bad_input_and_other_workspaces(workspace, other_workspace, agent):
    with pytest.raises(services.StateError):
        services.state_write(workspace_id=workspace.id, scope="agent", scope_id=agent.pk, expected_version=0, data=[1])
    with pytest.raises(services.StateError, match="no such"):
        services.state_write(
            workspace_id=other_workspace.id, scope="agent", scope_id=agent.pk, expected_version=0, data={}
        )
    with pytest.raises(services.StateError, match="scope"):
        selectors.state_read(workspace_id=workspace.id, scope="user", scope_id=1)


@pytest.mark.django_db(transaction=True)
def test_state_concurrent_writers_in_threads_one_wins(workspace, agent):
    """Two threads read version 1 and write at once: exactly one write lands."""
    scope_id = services.conversation_start(workspace_id=workspace.id, agent_id=agent.pk, user_id=None).pk
    services.state_write(
        workspace_id=workspace.id, scope="conversation", scope_id=scope_id, expected_version=0, data={"step": 0}
    )
    barrier = threading.Barrier(2)
    results: list[str] = []

    def writer(name: str) -> None:
        try:
            barrier.wait(5)
            services.state_write(
                workspace_id=workspace.id,
                scope="conversation",
                scope_id=scope_id,
                expected_version=1,
                data={"by": name},
            )
            results.append("ok")
        except services.StaleState:
            results.append("stale")
        finally:
            connection.close()

    threads = [threading.Thread(target=writer, args=(n,)) for n in ("A", "B")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert sorted(results) == ["ok", "stale"]
    final = selectors.state_read(workspace_id=workspace.id, scope="conversation", scope_id=scope_id)
    assert final.version == 2 and final.data["by"] in ("A", "B")
