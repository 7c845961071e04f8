"""Fuzzing the flywheel: the feedback form (any text in any field is a 200, stored as given, or
a 400 with nothing stored; never a 500 or a half-write) and the event writers (any value in any
field of an Interaction is stored or refused with ValueError, never another error, and a refused
batch stores nothing)."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.flywheel.models import Feedback, InteractionEvent
from agents.flywheel.services import COLUMNS, record_interaction, record_interactions
from tests.flywheel.helpers import interaction
from tests.fuzz import strategies as s
from tests.fuzz.conftest import examples

pytestmark = pytest.mark.django_db

field = st.one_of(
    st.sampled_from(["", "up", "down", "accepted", "edited", "rejected", "1", "5", "0", "6", " 3", "3 "]),
    s.short_text,
    s.text,
)


def test_feedback_form(request, client, user, workspace, count):
    event_id = record_interaction(interaction(workspace.id, user_id=user.pk))
    client.force_login(user)
    target = reverse("agents:event-feedback", args=[event_id])

    @settings(settings.get_profile("strata-fuzz"), max_examples=examples(request, 300))
    @given(
        data=st.fixed_dictionaries(
            {}, optional={"thumbs": field, "rating": field, "correction": field, "outcome": field, "extra": field}
        )
    )
    def run(data):
        count()
        Feedback.objects.all().delete()
        response = client.post(target, data)
        assert response.status_code in (200, 400), response.status_code
        stored = list(Feedback.objects.all())
        if response.status_code == 400:
            assert stored == []
        else:
            (fb,) = stored
            assert fb.thumbs in ("", "up", "down") and fb.outcome in ("", "accepted", "edited", "rejected")
            assert fb.rating is None or 1 <= fb.rating <= 5
            assert fb.thumbs or fb.rating or fb.correction or fb.outcome

    run()
    assert count.ran() >= 250


anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    s.short_text,
    st.lists(st.one_of(s.short_text, st.integers()), max_size=3),
    st.dictionaries(s.short_text, st.one_of(st.floats(), st.integers(), s.short_text), max_size=3),
)
moments = st.one_of(
    st.none(),
    st.datetimes(timezones=st.just(dt.UTC), min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1)),
    st.datetimes(min_value=dt.datetime(2000, 1, 1), max_value=dt.datetime(2100, 1, 1)),  # naive: refused
)


def test_event_writers(request, workspace, count):
    @settings(settings.get_profile("strata-fuzz"), max_examples=examples(request, 300))
    @given(
        # every stored field but the two the test itself controls
        field=st.sampled_from([c for c in COLUMNS if c not in ("occurred_at", "workspace_id")]),
        value=anything,
        text=s.text,
        when=moments,
    )
    def run(field, value, text, when):
        count()
        InteractionEvent.objects.filter(workspace_id=workspace.id).delete()
        bad = interaction(workspace.id, **{field: value}, occurred_at=when)
        good = interaction(workspace.id, query=text, answer=text)
        try:
            stored = record_interactions([good, bad])
        except ValueError as exc:
            assert str(exc).startswith("item 1: ")
            assert not InteractionEvent.objects.filter(workspace_id=workspace.id).exists()
        else:
            assert stored == 2
            rows = InteractionEvent.objects.filter(workspace_id=workspace.id)
            assert rows.filter(query=text.replace("\x00", "\ufffd")).exists()
        try:
            event_id = record_interaction(bad)
        except ValueError:
            return
        assert InteractionEvent.objects.filter(id=event_id, workspace_id=workspace.id).exists()

    run()
    assert count.ran() >= 250
