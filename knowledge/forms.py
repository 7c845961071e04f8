"""Forms of the knowledge pages (input checks; linear-time parsing)."""

from __future__ import annotations

import re
from typing import Any

from django import forms

from knowledge import console

_LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")


class ExploreForm(forms.Form):
    key = forms.CharField(max_length=200)
    depth = forms.IntegerField(min_value=1, max_value=3, required=False, initial=1)
    labels = forms.CharField(max_length=2000, required=False, help_text="edge labels, comma-separated")

    def clean_depth(self) -> int:
        return self.cleaned_data.get("depth") or 1

    def clean_labels(self) -> list[str] | None:
        raw = self.cleaned_data.get("labels") or ""
        names = [part.strip() for part in raw.split(",") if part.strip()]
        for name in names:
            if not _LABEL.fullmatch(name):
                raise forms.ValidationError(f"invalid label {name[:70]!r}")
        return names[:50] or None


class ConsoleForm(forms.Form):
    query = forms.CharField(widget=forms.Textarea(attrs={"rows": 6}), max_length=console.MAX_QUERY_CHARS)
    params = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        max_length=console.MAX_PARAMS_CHARS,
        help_text='a JSON object, e.g. {"name": "requests"}; use them as $name',
    )

    def clean_params(self) -> dict[str, Any]:
        try:
            return console.parse_params(self.cleaned_data.get("params") or "")
        except console.ConsoleError as exc:
            raise forms.ValidationError(str(exc)) from None
