"""Forms of the content pages and admin: they parse and validate input, nothing more."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db.models import QuerySet

from content.models import Document
from content.selectors import MAX_QUERY_CHARS, SEARCH_MODES, search_modes
from core.storage import filters, validation
from core.storage.ports import InvalidInput

MAX_UPLOAD_FILES = 20


def max_upload_bytes() -> int:
    """Largest file accepted by the upload form (one file may hold many documents, e.g. JSONL)."""
    return int(settings.STRATA_MAX_UPLOAD_BYTES)


def _scalar(value: str) -> Any:
    """``2024`` -> 2024, ``true`` -> True, ``"x"`` -> "x"; anything else stays the raw string."""
    try:
        parsed = json.loads(value)
    except (ValueError, RecursionError):
        return value
    return parsed if not isinstance(parsed, dict | list) else value


def _checked_object(
    value: Any, *, what: str, max_bytes: int, limit_name: str, max_depth: int = validation.MAX_JSON_DEPTH
) -> dict[str, Any]:
    """``value`` through the validator the services and storage adapters use
    (``core.storage.validation.json_object_text``: nesting, NaN, NUL, lone surrogates, size)."""
    try:
        checked = validation.json_object_text(
            value, what=what, max_bytes=max_bytes, limit_name=limit_name, max_depth=max_depth
        )
    except InvalidInput as exc:
        raise ValidationError(str(exc), code="invalid_json_object") from None
    return json.loads(checked)


def parse_json_object(
    text: str, *, what: str, max_bytes: int, limit_name: str = "", max_depth: int = validation.MAX_JSON_DEPTH
) -> dict[str, Any]:
    """A JSON object typed into a form, checked like everything the services store; raises
    ValidationError (for nesting too deep to parse too)."""
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise ValidationError(f"Invalid JSON: {exc}", code="invalid_json") from None
    except RecursionError:
        raise ValidationError("Invalid JSON: nested too deeply.", code="invalid_json") from None
    return _checked_object(parsed, what=what, max_bytes=max_bytes, limit_name=limit_name, max_depth=max_depth)


def parse_metadata_filter(text: str | None) -> dict[str, Any] | None:
    """A metadata filter typed by a user: a JSON object, or ``key=value`` pairs one per line
    (or separated by commas). Values are read as JSON when they are JSON scalars (``year=2024``
    is a number, ``year="2024"`` a string). Raises ValidationError; blank gives None."""
    text = (text or "").strip()
    if not text:
        return None
    if text.startswith(("{", "[", '"')):
        parsed = parse_json_object(
            text,
            what="The metadata filter",
            max_bytes=settings.STRATA_MAX_METADATA_BYTES,
            limit_name="STRATA_MAX_METADATA_BYTES",
        )
        return _filterable(parsed) or None
    result: dict[str, Any] = {}
    for line in text.splitlines():
        for pair in line.split(","):
            pair = pair.strip()
            if not pair:
                continue
            key, sep, value = pair.partition("=")
            key = key.strip()
            if not sep or not key:
                raise ValidationError(
                    f"Cannot read {pair!r}: write key=value pairs or a JSON object.", code="invalid_pair"
                )
            result[key] = _scalar(value.strip())
    if not result:
        return None
    return _filterable(
        _checked_object(
            result,
            what="The metadata filter",
            max_bytes=settings.STRATA_MAX_METADATA_BYTES,
            limit_name="STRATA_MAX_METADATA_BYTES",
        )
    )


def _filterable(wanted: dict[str, Any]) -> dict[str, Any]:
    """The filter, if every store can run it (``core.storage.filters``: names of letters, digits,
    ``_`` or ``-``; no nulls; arrays of plain values); else ValidationError."""
    try:
        filters.from_containment(wanted, what="metadata filter")
    except InvalidInput as exc:
        raise ValidationError(str(exc), code="invalid_filter") from None
    return wanted


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # No ``accept`` filter: any UTF-8 text file (README, NEWS, copyright) is a document too;
        # the server refuses binary files per file.
        kwargs.setdefault("widget", MultipleFileInput())
        # An empty file is one failed item (named in the report), not a refusal of the whole upload.
        kwargs.setdefault("allow_empty_file", True)
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[Any]:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data]
        return [single(data, initial)] if data else single(data, initial)


class UploadForm(forms.Form):
    files = MultipleFileField(
        label="Files",
        help_text=f"Plain text, Markdown, HTML, JSON or JSON Lines; up to {MAX_UPLOAD_FILES} files at once.",
    )
    embed = forms.BooleanField(
        label="Embed now",
        required=False,
        help_text="Slower upload, but searchable by meaning at once. Otherwise the worker embeds them in the "
        "background and their status updates below.",
    )

    def clean_files(self) -> list[Any]:
        files = self.cleaned_data["files"]
        if not files:  # a POST without any file (the browser's "required" check is only a courtesy)
            raise ValidationError("Choose at least one file to upload.", code="required")
        if len(files) > MAX_UPLOAD_FILES:
            raise ValidationError(f"Upload at most {MAX_UPLOAD_FILES} files at once.", code="too_many")
        limit = max_upload_bytes()
        too_big = [f.name for f in files if f.size > limit]
        if too_big:
            raise ValidationError(
                f"Over the {limit // 1024:,} KiB limit: {', '.join(too_big)}.",
                code="too_large",
            )
        return files


class SearchForm(forms.Form):
    q = forms.CharField(label="Query", max_length=MAX_QUERY_CHARS, required=False)
    mode = forms.ChoiceField(
        label="Mode",
        choices=[(mode, mode.capitalize()) for mode in SEARCH_MODES],
        initial="hybrid",
        required=False,
    )
    filters = forms.CharField(
        label="Metadata filter",
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text='key=value pairs (one per line or comma-separated) or a JSON object, e.g. {"lang": "en"}.',
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["mode"].choices = [(mode, mode.capitalize()) for mode in search_modes()]

    def clean_mode(self) -> str:
        return self.cleaned_data.get("mode") or "hybrid"

    def clean_filters(self) -> dict[str, Any] | None:
        return parse_metadata_filter(self.cleaned_data.get("filters"))


class DocumentAddForm(forms.Form):
    """The admin's "add document" form; the admin hands the cleaned data to the ingest service."""

    workspace = forms.ModelChoiceField(queryset=None)
    external_id = forms.CharField(max_length=255)
    title = forms.CharField(max_length=500)
    content_type = forms.ChoiceField(choices=Document.ContentType.choices, initial=Document.ContentType.TEXT)
    source = forms.CharField(max_length=1000, required=False)
    text = forms.CharField(widget=forms.Textarea(attrs={"rows": 16, "cols": 100}), strip=False)
    metadata = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 6, "cols": 100}),
        help_text='A JSON object, e.g. {"lang": "en", "tags": ["ai"]}.',
    )
    embed = forms.BooleanField(required=False, initial=True, label="Embed now")

    def __init__(self, *args: Any, workspaces: QuerySet, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["workspace"].queryset = workspaces

    def clean_metadata(self) -> dict[str, Any]:
        raw = (self.cleaned_data.get("metadata") or "").strip()
        if not raw:
            return {}
        # The metadata's own (smaller) limit is the ingest service's to report, with the other item errors.
        return parse_json_object(
            raw,
            what="Metadata",
            max_bytes=settings.STRATA_MAX_DOCUMENT_BYTES,
            limit_name="STRATA_MAX_DOCUMENT_BYTES",
            max_depth=validation.MAX_METADATA_DEPTH,
        )
