"""manage.py export_training_data: JSONL contents, filters, workspace scoping, bad arguments."""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from agents.flywheel import feedback
from agents.flywheel.services import record_interaction
from tests.flywheel.helpers import days_ago, interaction

pytestmark = pytest.mark.django_db


def export(*args: str) -> tuple[list[dict], str]:
    out, err = StringIO(), StringIO()
    call_command("export_training_data", *args, stdout=out, stderr=err)
    return [json.loads(line) for line in out.getvalue().splitlines()], err.getvalue()


@pytest.fixture
def judged(workspace, other_workspace, user, other_user):
    ws = workspace.id
    ids = {
        "accepted": record_interaction(interaction(ws, agent_id=1, query="q1", answer="a1", occurred_at=days_ago(5))),
        "corrected": record_interaction(interaction(ws, agent_id=1, query="q2", answer="a2", occurred_at=days_ago(3))),
        "rejected": record_interaction(interaction(ws, agent_id=2, query="q3", answer="a3", occurred_at=days_ago(1))),
        "unjudged": record_interaction(interaction(ws, agent_id=1, query="q4", answer="a4")),
    }
    give = feedback.feedback_give
    give(workspace_id=ws, event_id=ids["accepted"], user_id=user.pk, outcome="accepted", thumbs="up")
    give(workspace_id=ws, event_id=ids["corrected"], user_id=user.pk, outcome="edited", correction="better a2")
    give(workspace_id=ws, event_id=ids["rejected"], user_id=user.pk, thumbs="down", rating=1)
    foreign = record_interaction(interaction(other_workspace.id, query="secret", occurred_at=days_ago(3)))
    give(workspace_id=other_workspace.id, event_id=foreign, user_id=other_user.pk, outcome="accepted")
    return ids


def test_export_writes_every_judged_interaction_of_the_workspace(workspace, judged):
    rows, err = export("--workspace", workspace.slug)
    assert [r["prompt"] for r in rows] == ["q1", "q2", "q3"]  # oldest first; unjudged and foreign left out
    first = rows[0]
    assert first["answer"] == "a1" and first["context"][0]["ref"] == "doc:12"
    assert first["retrieved_ids"] == ["chunk:1", "fact:2"] and first["correction"] == ""
    assert first["feedback"] == [{"thumbs": "up", "rating": None, "outcome": "accepted", "correction": ""}]
    assert first["event_id"] == judged["accepted"] and first["agent_id"] == 1 and first["agent_version"] == 1
    assert rows[1]["correction"] == "better a2"
    assert "exported 3 interactions" in err


def test_filters(workspace, judged):
    def prompts(*args):
        return [r["prompt"] for r in export("--workspace", str(workspace.pk), *args)[0]]

    assert prompts("--agent", "1") == ["q1", "q2"]
    assert prompts("--feedback", "corrected") == ["q2"]
    assert prompts("--feedback", "down") == ["q3"]
    assert prompts("--feedback", "rated") == ["q3"]
    assert prompts("--feedback", "accepted") == ["q1"]
    assert prompts("--since", days_ago(3).date().isoformat()) == ["q2", "q3"]
    assert prompts("--until", days_ago(3).date().isoformat()) == ["q1", "q2"]
    assert prompts("--agent", "1", "--since", days_ago(4).date().isoformat(), "--feedback", "edited") == ["q2"]


def test_output_file_and_the_other_workspace(tmp_path, other_workspace, judged):
    target = tmp_path / "train.jsonl"
    _, err = export("--workspace", other_workspace.slug, "-o", str(target))
    lines = target.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["prompt"] for line in lines] == ["secret"]
    assert "exported 1 interactions" in err


@pytest.mark.parametrize(
    "args",
    [
        ["--workspace", "nope"],
        ["--workspace", "1", "--since", "yesterday"],
        ["--workspace", "1", "--since", "2026-02-02", "--until", "2026-02-01"],
        ["--workspace", "1", "--feedback", "meh"],
    ],
)
def test_bad_arguments(workspace, args):
    args = [workspace.slug if a == "1" else a for a in args]
    with pytest.raises(CommandError):
        call_command("export_training_data", *args, stdout=StringIO(), stderr=StringIO())
