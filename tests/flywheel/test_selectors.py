"""The flywheel's selectors: evaluation cases (accepted and corrected, per agent and workspace)
and the training examples behind the export."""

from __future__ import annotations

import pytest

from agents.flywheel import feedback, selectors
from agents.flywheel.services import record_interaction
from tests.flywheel.helpers import days_ago, interaction

pytestmark = pytest.mark.django_db


def give(ws, event_id, user, **kw):
    return feedback.feedback_give(workspace_id=ws.id, event_id=event_id, user_id=user.pk, **kw)


def test_interactions_for_evaluation(workspace, other_workspace, user, other_user):
    ws = workspace.id
    accepted = record_interaction(interaction(ws, agent_id=3, query="q accepted", occurred_at=days_ago(3)))
    corrected = record_interaction(interaction(ws, agent_id=3, query="q corrected", occurred_at=days_ago(2)))
    rejected = record_interaction(interaction(ws, agent_id=3, query="q rejected", occurred_at=days_ago(1)))
    record_interaction(interaction(ws, agent_id=3, query="q unjudged"))
    other_agent = record_interaction(interaction(ws, agent_id=4))
    foreign = record_interaction(interaction(other_workspace.id, agent_id=3))
    give(workspace, accepted, user, thumbs="up")
    give(workspace, corrected, user, outcome="edited", correction="The right answer.")
    give(workspace, rejected, user, outcome="rejected")
    give(workspace, other_agent, user, outcome="accepted")
    give(other_workspace, foreign, other_user, outcome="accepted")

    cases = selectors.interactions_for_evaluation(workspace_id=ws, agent_id=3)
    assert [(c.event_id, c.verdict) for c in cases] == [(accepted, "accepted"), (corrected, "corrected")]
    assert cases[0].expected_answer == "Rotate them with the rotate command [1]." and cases[0].cited_refs == ["doc:12"]
    assert cases[1].expected_answer == "The right answer." and cases[1].query == "q corrected"
    assert cases[0].agent_version == 1
    since = days_ago(2).date()
    assert [c.event_id for c in selectors.interactions_for_evaluation(workspace_id=ws, agent_id=3, since=since)] == [
        corrected
    ]
    until = days_ago(3).date()
    assert [c.event_id for c in selectors.interactions_for_evaluation(workspace_id=ws, agent_id=3, until=until)] == [
        accepted
    ]
    assert selectors.interactions_for_evaluation(workspace_id=other_workspace.id, agent_id=4) == []
