"""Every chat turn records its interaction event (the flywheel's ``record_interaction``) after it
commits, and ``manage.py evaluate`` replays the accepted and corrected ones against the current
and the previous agent version."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from agents import selectors, services
from tests.agents.helpers import done, ingest_corpus, run_turn
from tests.knowledge.fake_chat import serve_fake_chat

flywheel = pytest.importorskip("agents.flywheel.services", reason="the flywheel (agents.flywheel) is not installed")
from agents.flywheel import feedback  # noqa: E402
from agents.flywheel.models import InteractionEvent  # noqa: E402

pytestmark = pytest.mark.django_db


def turn(workspace, agent, user, text, conversation_id=None, capture=None):
    with capture(execute=True):
        return done(
            run_turn(
                workspace_id=workspace.id,
                agent_id=agent.pk,
                conversation_id=conversation_id,
                user_id=user.pk,
                text=text,
            )
        )


def test_every_turn_records_its_event(workspace, agent, user, django_capture_on_commit_callbacks):
    docs = ingest_corpus(workspace.id)
    first = turn(workspace, agent, user, "Who discovered the first pulsar?", capture=django_capture_on_commit_callbacks)
    second = turn(
        workspace, agent, user, "How is sourdough fed?", first["conversation_id"], django_capture_on_commit_callbacks
    )
    with (
        serve_fake_chat() as api,
        override_settings(
            STRATA_AGENTS_LLM={"BACKEND": "agents.llm.openai_chat.OpenAIChat", "BASE_URL": api.url, "MAX_RETRIES": 0}
        ),
    ):
        api.script = [("status", 429)]
        failed = turn(workspace, agent, user, "What is a pulsar?", capture=django_capture_on_commit_callbacks)
    events = list(InteractionEvent.objects.filter(workspace_id=workspace.id).order_by("id"))
    assert len(events) == 3
    one = events[0]
    assert (one.agent_id, one.agent_version, one.conversation_id, one.user_id) == (
        agent.pk,
        1,
        first["conversation_id"],
        user.pk,
    )
    assert one.query == "Who discovered the first pulsar?" and one.model == "offline-extractive"
    assert one.citations == first["citations"] and one.citations[0]["ref"] == f"doc:{docs['pulsars']}"
    assert any(r.startswith("chunk:") for r in one.retrieved_ids)
    assert set(one.latency_ms) >= {"retrieve", "graph", "memory", "llm", "total"}
    messages = selectors.conversation_messages(workspace_id=workspace.id, conversation_id=first["conversation_id"])
    assert one.answer == messages[1]["content"] and events[1].answer == messages[3]["content"]
    assert events[1].citations == second["citations"]
    assert events[2].answer == "" and events[2].model.startswith("openai:") and failed["error"]


def test_evaluate_replays_judged_interactions(workspace, agent, user, django_capture_on_commit_callbacks):
    ingest_corpus(workspace.id)
    services.agent_update(
        workspace_id=workspace.id,
        agent_id=agent.pk,
        config=services.AgentConfig(name="Helper", search_mode="fulltext", use_graph=False, use_memory=False),
    )
    turn(workspace, agent, user, "Who discovered the first pulsar?", capture=django_capture_on_commit_callbacks)
    turn(workspace, agent, user, "Where do herons nest?", capture=django_capture_on_commit_callbacks)
    turn(workspace, agent, user, "How is sourdough fed?", capture=django_capture_on_commit_callbacks)
    pulsar, heron, bread = InteractionEvent.objects.filter(workspace_id=workspace.id).order_by("id")
    feedback.feedback_give(workspace_id=workspace.id, event_id=pulsar.id, user_id=user.pk, outcome="accepted")
    feedback.feedback_give(
        workspace_id=workspace.id, event_id=heron.id, user_id=user.pk, correction="Herons nest in heronries."
    )
    feedback.feedback_give(workspace_id=workspace.id, event_id=bread.id, user_id=user.pk, outcome="rejected")
    # version 3 stops searching: evaluate says it is worse than version 2
    services.agent_update(
        workspace_id=workspace.id,
        agent_id=agent.pk,
        config=services.AgentConfig(name="Helper", search_mode="none", use_graph=False, use_memory=False),
    )
    out = StringIO()
    call_command("evaluate", "--workspace", workspace.slug, "--agent", str(agent.pk), "--json", stdout=out)
    current, previous = json.loads(out.getvalue())
    assert (current["version"], previous["version"]) == (3, 2)
    assert current["cases"] == previous["cases"] == 2  # the rejected one is not replayed
    assert previous["retrieval_hit_rate"] == 1.0 and current["retrieval_hit_rate"] == 0.0
    assert previous["answer_overlap"] > 0.5 > current["answer_overlap"]
    assert [r["event_id"] for r in previous["results"]] == [pulsar.id, heron.id]
    text = StringIO()
    call_command("evaluate", "--workspace", str(workspace.pk), "--agent", str(agent.pk), stdout=text)
    assert "version 3: retrieval hit rate 0.0%" in text.getvalue()
    assert "version 2: retrieval hit rate 100.0%" in text.getvalue()
    with pytest.raises(CommandError):
        call_command("evaluate", "--workspace", workspace.slug, "--agent", str(agent.pk), "--agent-version", "9")
