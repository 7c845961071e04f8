"""Feedback on answers: the POST endpoint (CSRF, workspace and role scoped, clear 4xx) and the
service behind it (one row per event and user, partial updates)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from agents.flywheel import feedback
from agents.flywheel.models import Feedback, InteractionEvent
from agents.flywheel.services import record_interaction
from core import services as core_services
from core.models import Membership
from tests.flywheel.helpers import interaction

pytestmark = pytest.mark.django_db


def url(event_id: int) -> str:
    return reverse("agents:event-feedback", args=[event_id])


@pytest.fixture
def event_id(workspace, user):
    return record_interaction(interaction(workspace.id, agent_id=4, user_id=user.pk))


def test_owner_gives_thumbs_then_a_rating_and_both_are_kept(client, user, workspace, event_id):
    client.force_login(user)
    first = client.post(url(event_id), {"thumbs": "up"})
    assert first.status_code == 200, first.content
    second = client.post(url(event_id), {"rating": "4", "correction": "Use the rotate command twice."})
    assert second.status_code == 200
    assert second.json()["thumbs"] == "up" and second.json()["rating"] == 4
    fb = Feedback.objects.get()
    event = InteractionEvent.objects.get(id=event_id)
    assert (fb.workspace_id, fb.event_id, fb.user_id, fb.agent_id) == (workspace.id, event_id, user.pk, 4)
    assert fb.event_occurred_at == event.occurred_at
    assert (fb.thumbs, fb.rating, fb.correction, fb.outcome) == ("up", 4, "Use the rotate command twice.", "")
    assert client.post(url(event_id), {"outcome": "edited"}).json()["outcome"] == "edited"
    assert Feedback.objects.count() == 1


@pytest.mark.parametrize(
    "data",
    [
        {},
        {"thumbs": "sideways"},
        {"rating": "6"},
        {"rating": "0"},
        {"rating": "4.5"},
        {"outcome": "maybe"},
        {"correction": "x" * 20_001},
        {"correction": "nul\x00byte"},
        {"thumbs": "", "rating": "", "correction": "", "outcome": ""},
    ],
)
def test_bad_input_is_a_400_and_stores_nothing(client, user, event_id, data):
    client.force_login(user)
    response = client.post(url(event_id), data)
    assert response.status_code == 400
    if "nul" not in str(data):  # a NUL is refused by core's RejectNulMiddleware (text/plain)
        assert "error" in response.json()
    assert not Feedback.objects.exists()


def test_another_workspaces_event_is_404(client, user, workspace, other_workspace, other_user):
    foreign = record_interaction(interaction(other_workspace.id, user_id=other_user.pk))
    client.force_login(user)
    assert client.post(url(foreign), {"thumbs": "down"}).status_code == 404
    assert client.post(url(10**12), {"thumbs": "down"}).status_code == 404
    assert not Feedback.objects.exists()


def test_viewers_judge_only_their_own_answers(client, django_user_model, user, workspace, event_id):
    viewer = django_user_model.objects.create_user(username="vic", password="pw-vic-123")
    core_services.membership_add(workspace=workspace, user=viewer, role=Membership.Role.VIEWER)
    client.force_login(viewer)
    assert client.post(url(event_id), {"thumbs": "down"}).status_code == 403
    own = record_interaction(interaction(workspace.id, user_id=viewer.pk))
    assert client.post(url(own), {"thumbs": "down"}).status_code == 200
    assert list(Feedback.objects.values_list("event_id", "user_id")) == [(own, viewer.pk)]


def test_csrf_login_and_method(user, event_id):
    strict = Client(enforce_csrf_checks=True)
    assert strict.post(url(event_id), {"thumbs": "up"}).status_code in (302, 403)  # anonymous
    strict.force_login(user)
    assert strict.post(url(event_id), {"thumbs": "up"}).status_code == 403  # no CSRF token
    assert strict.get(url(event_id)).status_code == 405
    assert not Feedback.objects.exists()
    anonymous = Client()
    response = anonymous.post(url(event_id), {"thumbs": "up"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_service_refuses_what_the_form_would(workspace, user, event_id):
    with pytest.raises(feedback.FeedbackError):
        feedback.feedback_give(workspace_id=workspace.id, event_id=event_id, user_id=user.pk, rating=True)
    with pytest.raises(feedback.FeedbackError):
        feedback.feedback_give(workspace_id=workspace.id, event_id=event_id, user_id=user.pk)
    with pytest.raises(feedback.EventMissing):
        feedback.feedback_give(workspace_id=workspace.id + 1, event_id=event_id, user_id=user.pk, thumbs="up")
    assert not Feedback.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_same_first_feedback_twice_at_once_is_one_row(workspace, user):
    """A double click: two first feedbacks of one user race to insert; the second waits on the
    unique index, then updates the row the first one wrote."""
    import threading
    import time

    from django.db import connection, transaction

    event_id = record_interaction(interaction(workspace.id, user_id=user.pk))
    second_started, errors = threading.Event(), []

    def first() -> None:
        try:
            with transaction.atomic():
                feedback.feedback_give(workspace_id=workspace.id, event_id=event_id, user_id=user.pk, thumbs="up")
                second_started.wait(10)
                time.sleep(0.5)  # the second is now waiting on the unique index
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    def second() -> None:
        try:
            second_started.set()
            feedback.feedback_give(workspace_id=workspace.id, event_id=event_id, user_id=user.pk, rating=2)
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)
        finally:
            connection.close()

    try:
        one = threading.Thread(target=first)
        one.start()
        time.sleep(0.3)  # the first has inserted, not committed
        two = threading.Thread(target=second)
        two.start()
        one.join(20)
        two.join(20)
        assert errors == []
        (row,) = Feedback.objects.filter(event_id=event_id)
        assert (row.thumbs, row.rating) == ("up", 2)
    finally:
        InteractionEvent.objects.filter(workspace_id=workspace.id).delete()
