"""Evaluation on a known set: replaying accepted/corrected interactions against the current
version and the previous one gives the expected retrieval hit rates and answer overlaps, and
writes nothing."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import pytest

from agents import evaluation, services
from agents.models import Conversation, Memory, Message
from tests.agents.helpers import ingest_corpus

pytestmark = pytest.mark.django_db


@dataclass(frozen=True)
class Case:  # the fields of the flywheel's EvalCase that evaluation reads
    event_id: int
    query: str
    cited_refs: list[str]
    expected_answer: str
    agent_id: int = 0
    agent_version: int = 1
    verdict: str = "accepted"
    occurred_at: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))


def test_token_f1():
    assert evaluation.token_f1("the grey heron", "The grey heron") == 1.0
    assert evaluation.token_f1("a b", "c d") == 0.0
    assert evaluation.token_f1("a b c d", "a b") == pytest.approx(2 * 0.5 * 1.0 / 1.5)


def test_evaluate_current_version_against_the_previous_one(workspace, other_workspace, user):
    docs = ingest_corpus(workspace.id)
    agent = services.agent_create(
        workspace_id=workspace.id,
        config=services.AgentConfig(name="Eval", search_mode="fulltext", use_graph=False, use_memory=False),
    )
    cases = [
        Case(
            1,
            "Who discovered the first pulsar?",
            [f"doc:{docs['pulsars']}"],
            "Jocelyn Bell Burnell discovered the first pulsar in 1967.",
        ),
        Case(2, "Where do herons nest?", [f"doc:{docs['herons']}"], "Herons nest in colonies called heronries."),
        Case(3, "What feeds the sourdough starter?", [], "Flour and water every day."),  # cited nothing
    ]
    (only,) = evaluation.compare(workspace_id=workspace.id, agent_id=agent.pk, cases=cases)
    assert only.version == 1 and only.hit_rate == 1.0
    assert [c.hit for c in only.cases] == [True, True, None]
    assert only.cases[0].overlap > 0.9 and only.cases[1].overlap > 0.9
    # version 2 searches nothing: it must look worse
    services.agent_update(
        workspace_id=workspace.id,
        agent_id=agent.pk,
        config=services.AgentConfig(name="Eval", search_mode="none", use_graph=False, use_memory=False),
    )
    current, previous = evaluation.compare(workspace_id=workspace.id, agent_id=agent.pk, cases=cases)
    assert (current.version, previous.version) == (2, 1)
    assert current.hit_rate == 0.0 and previous.hit_rate == 1.0
    assert current.overlap < 0.1 and previous.overlap > 0.6  # (the fixed "found nothing" sentence shares a word)
    assert previous.overlap == only.overlap  # version 1's configuration, replayed again
    # a replay writes nothing
    assert not Conversation.objects.exists() and not Message.objects.exists() and not Memory.objects.exists()
    with pytest.raises(evaluation.EvaluationError):
        evaluation.compare(workspace_id=other_workspace.id, agent_id=agent.pk, cases=cases)
    with pytest.raises(evaluation.EvaluationError):
        evaluation.compare(workspace_id=workspace.id, agent_id=agent.pk, cases=cases, version=9)
