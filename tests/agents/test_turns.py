"""Chat turns end to end: through the offline extractive responder and through a local
OpenAI-compatible server (streaming), citations checked against the documents, LLM failures
kept in the conversation, and workspaces apart."""

from __future__ import annotations

import re

import pytest
from django.test import override_settings

from agents import selectors, services
from agents.llm import offline
from agents.turns import TurnError
from content import selectors as content
from tests.agents.helpers import done, ingest_corpus, run_turn
from tests.knowledge.fake_chat import serve_fake_chat

pytestmark = pytest.mark.django_db


def chunk_text(workspace_id: int, document_id: int) -> str:
    return content.document_body(workspace_id=workspace_id, document_id=document_id)["text"]


def test_full_conversation_through_the_offline_responder(workspace, agent, user):
    docs = ingest_corpus(workspace.id)
    events = run_turn(
        workspace_id=workspace.id,
        agent_id=agent.pk,
        conversation_id=None,
        user_id=user.pk,
        text="Who discovered the first pulsar?",
    )
    assert [e["type"] for e in events][:2] == ["start", "sources"]
    first = done(events)
    answer = "".join(e["text"] for e in events if e["type"] == "delta")
    assert "Jocelyn Bell Burnell discovered the first pulsar in 1967." in answer
    # every citation points at the document whose text holds the quote, word for word
    assert first["citations"] and first["citations"][0]["document_id"] == docs["pulsars"]
    for citation in first["citations"]:
        assert citation["quote"] in chunk_text(workspace.id, citation["document_id"])
        assert f"[{citation['n']}]" in answer
        assert citation["ref"] == f"doc:{citation['document_id']}"
    # never invents text: the answer is only the quotes, quote marks and markers
    rest = answer
    for citation in first["citations"]:
        rest = rest.replace(f"\u201c{citation['quote']}\u201d [{citation['n']}]", "")
    assert rest.strip() == ""
    assert set(first["timing"]) >= {"retrieve", "graph", "memory", "llm", "total"}
    assert first["model"] == "offline-extractive" and first["agent_version"] == 1
    # a second turn in the same conversation
    conversation_id = first["conversation_id"]
    second = run_turn(
        workspace_id=workspace.id,
        agent_id=agent.pk,
        conversation_id=conversation_id,
        user_id=user.pk,
        text="How is sourdough bread fed?",
    )
    assert done(second)["citations"][0]["document_id"] == docs["sourdough"]
    messages = selectors.conversation_messages(workspace_id=workspace.id, conversation_id=conversation_id)
    assert [m["role"] for m in messages] == ["user", "assistant", "user", "assistant"]
    assert messages[1]["citations"] == first["citations"] and messages[1]["agent_version"] == 1


def test_offline_responder_says_so_when_nothing_is_found(workspace, agent, user):
    ingest_corpus(workspace.id)
    events = run_turn(
        workspace_id=workspace.id, agent_id=agent.pk, conversation_id=None, user_id=user.pk, text="zyxxy qwortle"
    )
    assert "".join(e["text"] for e in events if e["type"] == "delta") == offline.NOTHING_FOUND
    assert done(events)["citations"] == []


def test_turns_are_workspace_scoped(workspace, other_workspace, agent, other_agent, user, other_user):
    ingest_corpus(other_workspace.id)  # only the other workspace knows about pulsars
    ingest_corpus(workspace.id, {"x": ("Kettles", "A kettle boils water.")})
    events = run_turn(
        workspace_id=workspace.id,
        agent_id=agent.pk,
        conversation_id=None,
        user_id=user.pk,
        text="Who discovered the first pulsar?",
    )
    assert done(events)["citations"] == []
    with pytest.raises(TurnError):
        run_turn(workspace_id=workspace.id, agent_id=other_agent.pk, conversation_id=None, user_id=user.pk, text="hi")
    theirs = done(
        run_turn(
            workspace_id=other_workspace.id,
            agent_id=other_agent.pk,
            conversation_id=None,
            user_id=other_user.pk,
            text="pulsar",
        )
    )
    with pytest.raises(TurnError):  # another user's conversation
        run_turn(
            workspace_id=other_workspace.id,
            agent_id=other_agent.pk,
            conversation_id=theirs["conversation_id"],
            user_id=user.pk,
            text="hi",
        )
    with pytest.raises(TurnError):
        run_turn(workspace_id=workspace.id, agent_id=agent.pk, conversation_id=None, user_id=user.pk, text="  ")


def llm_settings(url: str, **more) -> dict:
    return {
        "BACKEND": "agents.llm.openai_chat.OpenAIChat",
        "MODEL": "test-model",
        "BASE_URL": url,
        "MAX_RETRIES": 0,
        "TIMEOUT": 5,
        **more,
    }


def test_full_conversation_through_a_local_openai_compatible_server_streaming(workspace, agent, user):
    docs = ingest_corpus(workspace.id)

    def reply(payload: dict) -> str:
        system = payload["messages"][0]["content"]
        n = re.search(r"\[(\d+)\] Pulsars:", system).group(1)
        return f"Jocelyn Bell Burnell found it in 1967 [{n}]. I made this up [99]."

    with serve_fake_chat() as api, override_settings(STRATA_AGENTS_LLM=llm_settings(api.url)):
        api.reply = reply
        events = run_turn(
            workspace_id=workspace.id,
            agent_id=agent.pk,
            conversation_id=None,
            user_id=user.pk,
            text="Who discovered the first pulsar?",
        )
        deltas = [e["text"] for e in events if e["type"] == "delta"]
        assert len(deltas) == api.pieces  # streamed, piece by piece
        assert "".join(deltas).startswith("Jocelyn Bell Burnell found it in 1967 [")
        request = api.requests[-1]["json"]
        assert request["stream"] is True and request["model"] == "test-model"
        assert request["messages"][0]["content"].startswith("Be brief.")  # the agent's instructions
        finished = done(events)
        # [99] is not a source: only the real one is cited
        assert [c["document_id"] for c in finished["citations"]] == [docs["pulsars"]]
        assert finished["citations"][0]["quote"] in chunk_text(workspace.id, docs["pulsars"])
        assert finished["model"] == "openai:test-model"
        second = run_turn(
            workspace_id=workspace.id,
            agent_id=agent.pk,
            conversation_id=finished["conversation_id"],
            user_id=user.pk,
            text="And what is a pulsar?",
        )
        history = api.requests[-1]["json"]["messages"]
        assert [m["role"] for m in history] == ["system", "user", "assistant", "user"]
        assert done(second)["error"] == ""


@pytest.mark.parametrize(
    ("script", "words"),
    [
        ([("status", 429)], "rate limited"),
        ([("status", 500)], "answered with an error (500)"),
        ([("sleep", 2)], "did not answer in time"),
    ],
)
def test_llm_failures_reach_the_user_and_the_conversation_is_kept(workspace, agent, user, script, words):
    ingest_corpus(workspace.id)
    with serve_fake_chat() as api, override_settings(STRATA_AGENTS_LLM=llm_settings(api.url, TIMEOUT=0.5)):
        api.reply = lambda payload: "fine [1]"
        api.script = list(script)
        events = run_turn(
            workspace_id=workspace.id,
            agent_id=agent.pk,
            conversation_id=None,
            user_id=user.pk,
            text="What is a pulsar?",
        )
    (error,) = [e for e in events if e["type"] == "error"]
    assert words in error["message"]
    finished = done(events)
    messages = selectors.conversation_messages(workspace_id=workspace.id, conversation_id=finished["conversation_id"])
    assert [(m["role"], m["content"]) for m in messages] == [("user", "What is a pulsar?"), ("assistant", "")]
    assert words in messages[1]["error"]


def test_llm_unreachable_is_a_clear_message(workspace, agent, user):
    with override_settings(STRATA_AGENTS_LLM=llm_settings("http://127.0.0.1:9/v1")):
        events = run_turn(
            workspace_id=workspace.id, agent_id=agent.pk, conversation_id=None, user_id=user.pk, text="hello"
        )
    assert "could not be reached" in [e for e in events if e["type"] == "error"][0]["message"]


def test_an_agent_picks_a_named_backend(workspace, user):
    with (
        serve_fake_chat() as api,
        override_settings(
            STRATA_AGENTS_LLM={"default": llm_settings(api.url), "local": llm_settings(api.url, MODEL="other")}
        ),
    ):
        api.reply = lambda payload: "ok"
        agent = services.agent_create(
            workspace_id=workspace.id, config=services.AgentConfig(name="Local", llm_backend="local")
        )
        offline_agent = services.agent_create(
            workspace_id=workspace.id, config=services.AgentConfig(name="Off", llm_backend="offline")
        )
        assert (
            done(
                run_turn(
                    workspace_id=workspace.id, agent_id=agent.pk, conversation_id=None, user_id=user.pk, text="hello"
                )
            )["model"]
            == "openai:other"
        )
        assert (
            done(
                run_turn(
                    workspace_id=workspace.id,
                    agent_id=offline_agent.pk,
                    conversation_id=None,
                    user_id=user.pk,
                    text="hello",
                )
            )["model"]
            == "offline-extractive"
        )
