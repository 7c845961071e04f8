"""The flywheel admin: events readable and read-only, feedback and metrics; all scoped to the
user's workspaces; export actions export only what the user may see."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from agents.flywheel import feedback, metrics
from agents.flywheel.models import AgentDailyMetric, Feedback
from agents.flywheel.services import record_interaction
from tests.flywheel.helpers import days_ago, interaction

pytestmark = pytest.mark.django_db


@pytest.fixture
def staff(user):
    user.is_staff = True
    user.save(update_fields=["is_staff"])
    user.user_permissions.add(*Permission.objects.filter(content_type__app_label="agents"))
    return user


@pytest.fixture
def events(workspace, other_workspace, user, other_user):
    mine = record_interaction(
        interaction(workspace.id, query="=cmd|' /C calc'!A0", citations=[{"ref": "doc:77", "quote": "q<b>x</b>"}])
    )
    theirs = record_interaction(interaction(other_workspace.id, query="their secret question"))
    feedback.feedback_give(workspace_id=workspace.id, event_id=mine, user_id=user.pk, thumbs="up", correction="-1+2")
    feedback.feedback_give(workspace_id=other_workspace.id, event_id=theirs, user_id=other_user.pk, outcome="accepted")
    metrics.aggregate_day(day=days_ago(0).date())
    return mine, theirs


def test_events_are_scoped_readable_and_read_only(client, staff, events):
    mine, theirs = events
    client.force_login(staff)
    page = client.get(reverse("admin:agents_interactionevent_changelist"))
    assert page.status_code == 200
    html = page.content.decode()
    assert "their secret question" not in html and "calc" in html
    detail = client.get(reverse("admin:agents_interactionevent_change", args=[mine]))
    assert detail.status_code == 200
    text = detail.content.decode()
    assert "doc:77" in text and "q&lt;b&gt;x&lt;/b&gt;" in text and "<b>x</b>" not in text  # escaped
    assert client.get(reverse("admin:agents_interactionevent_change", args=[theirs])).status_code in (302, 403, 404)
    assert client.get(reverse("admin:agents_interactionevent_add")).status_code == 403
    assert client.get(reverse("admin:agents_interactionevent_delete", args=[mine])).status_code == 403


def test_event_exports_only_the_users_rows(client, staff, events):
    mine, theirs = events
    client.force_login(staff)
    url = reverse("admin:agents_interactionevent_changelist")
    answer = client.post(url, {"action": "export_jsonl", "_selected_action": [mine, theirs]})
    assert answer.status_code == 200 and answer["Content-Type"].startswith("application/x-ndjson")
    rows = [json.loads(line) for line in answer.content.decode().splitlines()]
    assert [r["id"] for r in rows] == [mine] and rows[0]["citations"][0]["ref"] == "doc:77"
    answer = client.post(url, {"action": "export_csv", "_selected_action": [mine, theirs]})
    (row,) = list(csv.DictReader(io.StringIO(answer.content.decode())))
    assert row["id"] == str(mine) and row["query"].startswith("'=")  # never a spreadsheet formula


def test_feedback_admin_exports_with_question_and_answer(client, staff, events):
    mine, theirs = events
    client.force_login(staff)
    url = reverse("admin:agents_feedback_changelist")
    page = client.get(url)
    assert page.status_code == 200
    ids = list(Feedback.objects.values_list("pk", flat=True))
    rows = [
        json.loads(line)
        for line in client.post(url, {"action": "export_jsonl", "_selected_action": ids}).content.decode().splitlines()
    ]
    assert [(r["event_id"], r["thumbs"], r["correction"]) for r in rows] == [(mine, "up", "-1+2")]
    assert rows[0]["query"].startswith("=cmd") and rows[0]["answer"].startswith("Rotate")
    (row,) = list(
        csv.DictReader(
            io.StringIO(client.post(url, {"action": "export_csv", "_selected_action": ids}).content.decode())
        )
    )
    assert row["correction"] == "'-1+2"
    assert client.get(reverse("admin:agents_feedback_add")).status_code == 403


def test_metrics_admin_is_scoped(client, staff, workspace, events):
    client.force_login(staff)
    url = reverse("admin:agents_agentdailymetric_changelist")
    assert client.get(url).status_code == 200
    ids = list(AgentDailyMetric.objects.values_list("pk", flat=True))
    assert len(ids) == 2
    rows = list(
        csv.DictReader(
            io.StringIO(client.post(url, {"action": "export_csv", "_selected_action": ids}).content.decode())
        )
    )
    assert [r["workspace_id"] for r in rows] == [str(workspace.id)]


def test_feedback_is_deleted_by_editors_of_its_workspace_only(client, staff, events, other_workspace):
    from core import services as core_services

    core_services.membership_add(workspace=other_workspace, user=staff, role="viewer")
    client.force_login(staff)
    url = reverse("admin:agents_feedback_changelist")
    ids = list(Feedback.objects.values_list("pk", flat=True))
    theirs = Feedback.objects.get(workspace_id=other_workspace.id)
    refused = client.post(url, {"action": "delete_selected", "_selected_action": ids, "post": "yes"})
    assert refused.status_code in (200, 403) and Feedback.objects.count() == 2  # one viewer's row: nothing deleted
    mine = [pk for pk in ids if pk != theirs.pk]
    client.post(url, {"action": "delete_selected", "_selected_action": mine, "post": "yes"})
    assert list(Feedback.objects.values_list("pk", flat=True)) == [theirs.pk]
