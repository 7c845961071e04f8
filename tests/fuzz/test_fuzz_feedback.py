"""Fuzzing the feedback form: any text in any field is a 200 (stored as given) or a 400
(nothing stored), never a 500 or a half-write."""

from __future__ import annotations

import pytest
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.flywheel.models import Feedback
from agents.flywheel.services import record_interaction
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
