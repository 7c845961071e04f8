"""The feedback form (POSTed by the chat page): every field optional, at least one given."""

from __future__ import annotations

from django import forms

from agents.flywheel.feedback import MAX_CORRECTION
from agents.flywheel.models import Feedback


class FeedbackForm(forms.Form):
    thumbs = forms.ChoiceField(choices=[("", "")] + Feedback.Thumbs.choices, required=False)
    rating = forms.TypedChoiceField(
        choices=[("", "")] + [(str(n), str(n)) for n in range(1, 6)], coerce=int, empty_value=None, required=False
    )
    correction = forms.CharField(max_length=MAX_CORRECTION, required=False)
    outcome = forms.ChoiceField(choices=[("", "")] + Feedback.Outcome.choices, required=False)

    def clean(self):
        data = super().clean()
        if not self.errors and not any(data.get(f) not in (None, "") for f in self.fields):
            raise forms.ValidationError("Give at least one of thumbs, rating, correction or outcome.")
        return data


class AnalyticsForm(forms.Form):
    """``?days=30&agent=3``: the period (ending today, UTC) and optionally one agent."""

    days = forms.IntegerField(min_value=1, max_value=366, required=False)
    agent = forms.IntegerField(min_value=1, max_value=2**63 - 1, required=False)
