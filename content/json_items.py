"""The JSON and JSON Lines readers: a ``.json`` file holds an object
``{"external_id"?, "title", "text", "metadata"?, "content_type"?}`` or an array of them; a
``.jsonl`` stream holds one such object per line and is read line by line with a per-line size
limit. Every object is checked field by field; a bad one is a ``ParseError`` naming its line (and
its element's number in an array), never an exception."""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Iterator
from typing import Any, BinaryIO

from django.conf import settings

from content.decoding import bom_encoding, decode
from content.parsed import Parsed, ParseError
from content.services import IngestItem

_SNIFF_BYTES = 8192


def _item_from_object(value: Any, *, source: str, line: int | None, default_id: str, item: int | None = None) -> Parsed:
    result = _checked_object(value, source=source, line=line, default_id=default_id)
    if item is not None:
        result = dataclasses.replace(result, item=item)
    return result


def _checked_object(value: Any, *, source: str, line: int | None, default_id: str) -> Parsed:
    if not isinstance(value, dict):
        return ParseError(source, f"expected a JSON object, got {type(value).__name__}", line)
    external_id = value.get("external_id", default_id)
    if isinstance(external_id, int) and not isinstance(external_id, bool):
        external_id = str(external_id)
    if not isinstance(external_id, str):
        return ParseError(source, '"external_id" must be a string', line)
    if "text" not in value or value["text"] is None:
        return ParseError(source, 'missing "text"', line)
    text, title = value["text"], value.get("title") or ""
    if not isinstance(text, str):
        return ParseError(source, '"text" must be a string', line)
    if not isinstance(title, str):
        return ParseError(source, '"title" must be a string', line)
    metadata = value.get("metadata")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        return ParseError(source, '"metadata" must be a JSON object', line)
    content_type = value.get("content_type") or "text/plain"
    if not isinstance(content_type, str):
        return ParseError(source, '"content_type" must be a string', line)
    return IngestItem(
        external_id=external_id,
        title=title or external_id,
        text=text,
        metadata=metadata,
        content_type=content_type,
        source=source,
        line=line,
    )


def _json_values(text: str) -> list[tuple[int, Any]]:
    """``(line, value)`` of each element of a top-level array, or of the single top-level
    value. Raises ``json.JSONDecodeError`` (with line and column) on invalid JSON."""
    decoder = json.JSONDecoder()
    space = re.compile(r"\s*")
    pos = space.match(text).end()
    if text[pos : pos + 1] != "[":
        value = json.loads(text)
        return [(text.count("\n", 0, pos) + 1, value)]
    values: list[tuple[int, Any]] = []
    line, counted = 1, 0
    pos = space.match(text, pos + 1).end()
    if text[pos : pos + 1] == "]":
        pos += 1
    else:
        while True:
            line += text.count("\n", counted, pos)
            counted = pos
            try:
                value, pos = decoder.raw_decode(text, pos)
            except (ValueError, RecursionError) as exc:
                exc.item = len(values) + 1  # type: ignore[attr-defined]  # the element it stopped in
                raise
            values.append((line, value))
            pos = space.match(text, pos).end()
            if text[pos : pos + 1] == ",":
                pos = space.match(text, pos + 1).end()
            elif text[pos : pos + 1] == "]":
                pos += 1
                break
            else:
                error = json.JSONDecodeError("Expecting ',' or ']'", text, pos)
                error.item = len(values)  # type: ignore[attr-defined]  # after this element
                raise error
    pos = space.match(text, pos).end()
    if pos != len(text):
        raise json.JSONDecodeError("Extra data", text, pos)
    return values


def _json_error(exc: ValueError | RecursionError) -> tuple[str, int | None]:
    """``(message, line)`` for a JSON text Python's decoder refused."""
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON: {exc.msg} (column {exc.colno})", exc.lineno
    if isinstance(exc, RecursionError):
        return "invalid JSON: nested too deeply", None
    return f"invalid JSON: {exc}", None  # e.g. an integer of more than 4300 digits


def parse_json(text: str, source: str, relative: str) -> Iterator[Parsed]:
    try:
        values = _json_values(text)
    except (ValueError, RecursionError) as exc:
        message, line = _json_error(exc)
        yield ParseError(source, message, line, getattr(exc, "item", None))
        return
    if len(values) == 1 and not text.lstrip().startswith("["):
        yield _item_from_object(values[0][1], source=source, line=values[0][0], default_id=relative)
        return
    # An array's elements are numbered from 1; their line is named too unless every element is
    # on the same line (minified JSON, where "line 1" found nothing).
    one_line = bool(values) and values[0][0] == values[-1][0]
    for index, (line, value) in enumerate(values):
        yield _item_from_object(
            value, source=source, line=None if one_line else line, default_id=f"{relative}#{index}", item=index + 1
        )


def parse_jsonl(handle: BinaryIO, source: str, relative: str) -> Iterator[Parsed]:
    """One item per line of a binary stream, read line by line with a per-line size limit."""
    # A line holds one document: its JSON may escape characters, hence the headroom.
    limit = 2 * settings.STRATA_MAX_DOCUMENT_BYTES + settings.STRATA_MAX_METADATA_BYTES
    head = handle.read(_SNIFF_BYTES)
    bom = bom_encoding(head)
    if bom is not None:
        yield ParseError(source, f"{bom[1]} text (it starts with a {bom[1]} byte order mark); JSON Lines must be UTF-8")
        return
    if b"\x00" in head:
        yield ParseError(source, "binary file (contains NUL bytes); only UTF-8 text is supported")
        return
    handle.seek(0)
    number = 0
    while True:
        raw = handle.readline(limit + 1)
        if not raw:
            return
        number += 1
        if len(raw) > limit and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):  # skip the rest of the line unread
                raw = handle.readline(1 << 20)
            yield ParseError(source, f"line is longer than {limit} bytes", number)
            continue
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if not raw.strip():
            continue
        text = decode(raw, line=number)
        if not isinstance(text, str):
            yield ParseError(source, text[0], number)
            continue
        try:
            value = json.loads(text.rstrip("\r\n"))
        except (ValueError, RecursionError) as exc:
            yield ParseError(source, _json_error(exc)[0], number)
            continue
        yield _item_from_object(value, source=source, line=number, default_id=f"{relative}:{number}")

