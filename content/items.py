"""What an ingest is made of: the items a caller hands in, how each one is validated and
normalised before anything is written, and the per-item results and report it gets back."""

from __future__ import annotations

import hashlib
import json
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from django.conf import settings

from content.models import Document
from core.storage import validation
from core.storage.ports import InvalidInput, MalformedDocument, PayloadTooLarge

Outcome = Literal["added", "updated", "unchanged", "failed"]
OUTCOMES: tuple[Outcome, ...] = ("added", "updated", "unchanged", "failed")

#: Bytes of a vector's metadata reserved for the envelope around the document's metadata.
_VECTOR_METADATA_ENVELOPE = 512
_METADATA_LIMIT_NAME = f"STRATA_MAX_METADATA_BYTES minus {_VECTOR_METADATA_ENVELOPE} for the vector envelope"
_MAX_EXTERNAL_ID = Document._meta.get_field("external_id").max_length
_MAX_TITLE = Document._meta.get_field("title").max_length
_MAX_SOURCE = Document._meta.get_field("source").max_length


# ---------------------------------------------------------------- public data types


@dataclass
class IngestItem:
    external_id: str
    title: str
    text: str
    metadata: dict[str, Any] = field(default_factory=dict)
    content_type: str = Document.ContentType.TEXT
    source: str = ""  # where it came from (file path), for messages
    line: int | None = None  # line in ``source`` (JSONL/JSON items)
    item: int | None = None  # number (from 1) of the element in a ``.json`` array


@dataclass
class ItemResult:
    external_id: str
    outcome: Outcome
    document_id: int | None = None
    error: str = ""
    source: str = ""
    line: int | None = None
    item: int | None = None

    @property
    def location(self) -> str:
        """``source:line: item N`` (or whichever of them is known) for messages."""
        return locate(self.source or self.external_id, line=self.line, item=self.item)


def locate(source: str, *, line: int | None = None, item: int | None = None) -> str:
    """Where an item is, for messages: ``file:line``, ``file: item 17`` (an element of a JSON
    array, numbered from 1), ``file:3: item 2`` or ``file``."""
    where = source if line is None else f"{source}:{line}"
    return where if item is None else f"{where}: item {item}"


@dataclass
class IngestReport:
    results: list[ItemResult] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        counts = dict.fromkeys(OUTCOMES, 0)
        for result in self.results:
            counts[result.outcome] += 1
        return counts

    @property
    def failed(self) -> list[ItemResult]:
        return [result for result in self.results if result.outcome == "failed"]

    @property
    def document_ids(self) -> list[int]:
        """Ids of the documents this ingest added or updated."""
        return [r.document_id for r in self.results if r.outcome in ("added", "updated") and r.document_id]


# ---------------------------------------------------------------- validation


@dataclass
class PreparedItem:
    """One valid item, normalised, with its content hash."""

    position: int
    item: IngestItem
    external_id: str
    title: str
    text: str
    metadata: dict[str, Any]
    content_type: str
    source: str
    content_hash: str


def _normalize_text(value: str) -> str:
    return unicodedata.normalize("NFC", value.replace("\r\n", "\n").replace("\r", "\n")).strip()


def _json(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _check_string(value: Any, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise InvalidInput(f"{name} must be a string, not {type(value).__name__}")
    if "\x00" in value:
        raise MalformedDocument(f"{name} contains NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise MalformedDocument(f"{name} is not valid Unicode (lone surrogate at {exc.start})") from exc
    return value


def prepare_item(item: IngestItem, position: int) -> PreparedItem:
    """Validate and normalise one item; raises InvalidInput with a message for the user."""
    max_document = settings.STRATA_MAX_DOCUMENT_BYTES

    external_id = _check_string(item.external_id, "external_id").strip()
    if not external_id:
        raise InvalidInput("external_id is empty")
    if len(external_id) > _MAX_EXTERNAL_ID:
        raise InvalidInput(f"external_id is longer than {_MAX_EXTERNAL_ID} characters")

    text = _check_string(item.text, "text")
    if not text.strip():
        raise InvalidInput("text is missing or empty")
    text_bytes = len(text.encode("utf-8"))
    if text_bytes > max_document:
        raise PayloadTooLarge(f"text is {text_bytes} bytes; the limit is {max_document} (STRATA_MAX_DOCUMENT_BYTES)")
    text = _normalize_text(text)

    title = " ".join(_normalize_text(_check_string(item.title, "title")).split())
    if len(title) > _MAX_TITLE:
        raise InvalidInput(f"title is longer than {_MAX_TITLE} characters")
    title = title or external_id[:_MAX_TITLE]

    source = _check_string(item.source, "source")
    if len(source) > _MAX_SOURCE:
        raise InvalidInput(f"source is longer than {_MAX_SOURCE} characters")

    content_type = item.content_type or Document.ContentType.TEXT
    if content_type not in Document.ContentType.values:
        raise InvalidInput(
            f"unsupported content type {content_type!r}; expected one of {', '.join(Document.ContentType.values)}"
        )

    metadata = item.metadata if item.metadata is not None else {}
    if not isinstance(metadata, Mapping):
        raise MalformedDocument(f"metadata must be a JSON object, not {type(metadata).__name__}")
    if any(not isinstance(key, str) for key in metadata):
        raise MalformedDocument("metadata keys must be strings")
    metadata_json = validation.json_object_text(
        metadata,
        what="metadata",
        max_bytes=settings.STRATA_MAX_METADATA_BYTES - _VECTOR_METADATA_ENVELOPE,
        sort_keys=True,
        limit_name=_METADATA_LIMIT_NAME,
        max_depth=validation.MAX_METADATA_DEPTH,
    )
    # the body's size as the document store measures it (compact JSON)
    body_json = f'{{"title":{_json(title)},"text":{_json(text)},"metadata":{metadata_json}}}'
    body_bytes = len(body_json.encode("utf-8"))
    if body_bytes > max_document:
        raise PayloadTooLarge(
            f"document is {body_bytes} bytes as JSON; the limit is {max_document} (STRATA_MAX_DOCUMENT_BYTES)"
        )

    digest = hashlib.sha256("\x1f".join((title, text, metadata_json)).encode("utf-8")).hexdigest()
    return PreparedItem(
        position=position,
        item=item,
        external_id=external_id,
        title=title,
        text=text,
        metadata=json.loads(metadata_json),
        content_type=content_type,
        source=source,
        content_hash=digest,
    )


def validate_items(items: Iterable[IngestItem]) -> tuple[list[ItemResult], list[tuple[PreparedItem, ItemResult]]]:
    """Every item's result (invalid ones and repeated external ids already ``failed``) and the
    valid items paired with their (for now ``unchanged``) results, in input order."""
    results: list[ItemResult] = []
    valid: list[tuple[PreparedItem, ItemResult]] = []
    first_seen: dict[str, ItemResult] = {}
    for position, item in enumerate(items):
        try:
            candidate = prepare_item(item, position)
        except (InvalidInput, ValueError, TypeError, RecursionError) as exc:  # any bad value fails its item only
            results.append(
                ItemResult(
                    _shown(item.external_id),
                    "failed",
                    error=_shown(str(exc)),
                    source=_shown(item.source),
                    line=item.line,
                    item=item.item,
                )
            )
            continue
        result = ItemResult(candidate.external_id, "unchanged", source=candidate.source, line=item.line, item=item.item)
        first = first_seen.get(candidate.external_id)
        if first is not None:
            result.outcome, result.error = "failed", f"duplicate external_id {candidate.external_id!r} in this batch"
            result.error += f" (first at {first.location})"
        else:
            first_seen[candidate.external_id] = result
            valid.append((candidate, result))
        results.append(result)
    return results, valid


def _shown(value: Any) -> str:
    """A refused item's value as text any page, log or terminal can show (a lone surrogate in
    an external id broke the upload result page): lone surrogates become ``\\udXXX`` escapes."""
    if not isinstance(value, str):
        return "" if value is None else repr(value)
    return value.encode("utf-8", "backslashreplace").decode("utf-8")
