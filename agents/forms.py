"""Forms of the agents pages (input checks)."""

from __future__ import annotations

from django import forms

from agents.models import Agent
from agents.turns import MAX_QUESTION_CHARS


class MessageForm(forms.Form):
    text = forms.CharField(max_length=MAX_QUESTION_CHARS, strip=True)
    conversation = forms.IntegerField(required=False, min_value=1)


class AgentForm(forms.Form):
    name = forms.CharField(max_length=100)
    instructions = forms.CharField(max_length=20_000, required=False, widget=forms.Textarea(attrs={"rows": 3}))
    search_mode = forms.ChoiceField(choices=Agent.SearchMode.choices, initial="hybrid")
    use_graph = forms.BooleanField(required=False, initial=True, label="Graph-aware retrieval")
    use_memory = forms.BooleanField(required=False, initial=True, label="Memory")
    llm_backend = forms.ChoiceField(choices=())

    def __init__(self, *args: object, backends: list[str], **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.fields["llm_backend"].choices = [(b, b) for b in backends]
