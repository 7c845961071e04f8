"""Input checks shared by the storage adapters: names, keys, JSON objects, numbers.

Every check raises one of the port's errors (``core.storage.ports``) so callers get the
same error whichever adapter they talk to, and adapters run them before writing anything.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from core.storage.ports.errors import InvalidInput, InvalidName, MalformedDocument, PayloadTooLarge

COLLECTION_NAME = re.compile(r"[A-Za-z0-9_.:-]{1,200}")
MAX_KEY_LENGTH = 255
# Objects and arrays nested deeper than this are refused: far beyond real data, and well inside
# what Python's json, pickle and the pages' templates can recurse through when they read it back
# (a document whose metadata nested 900 levels was stored, then its page failed with a 500).
# Ingest allows metadata MAX_METADATA_DEPTH levels (MongoDB's limit), leaving room for the
# envelopes the stores wrap it in (the document body, vector metadata).
MAX_JSON_DEPTH = 128
MAX_METADATA_DEPTH = 100


def collection_name(name: Any) -> str:
    """A collection name: 1..200 characters of ``A-Z a-z 0-9 _ . : -``."""
    if not isinstance(name, str) or not COLLECTION_NAME.fullmatch(name):
        raise InvalidName(f"invalid collection name {name!r}: use 1-200 characters of A-Z a-z 0-9 _ . : -")
    return name


def record_key(key: Any, *, what: str = "id") -> str:
    """A document id / vector key / cache key: 1..255 printable characters (no control chars, no NUL)."""
    if not isinstance(key, str) or not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise InvalidName(f"invalid {what} {key!r}: use 1-{MAX_KEY_LENGTH} printable characters")
    return key


def record_keys(keys: Any, *, what: str = "id") -> list[str]:
    """Validated, de-duplicated keys in their first-seen order."""
    if isinstance(keys, str | bytes):
        raise InvalidInput(f"expected an iterable of {what}s, got a single {type(keys).__name__}")
    return list(dict.fromkeys(record_key(key, what=what) for key in keys))


def non_negative_int(value: Any, *, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidInput(f"{what} must be a non-negative integer, got {value!r}")
    return value


def bounded_int(value: Any, *, what: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidInput(f"{what} must be an integer from {low} to {high}, got {value!r}")
    return value


def text(value: Any, *, what: str, max_length: int) -> str:
    """A non-empty string without NUL or lone surrogates (model names, JSON paths, tags)."""
    if not isinstance(value, str) or not 1 <= len(value) <= max_length or "\x00" in value:
        raise InvalidInput(f"{what} must be a non-empty string of at most {max_length} characters without NUL")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidInput(f"{what} is not valid Unicode (lone surrogate at {exc.start})") from None
    return value


def positive_seconds(value: Any, *, what: str = "timeout") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value) or value <= 0:
        raise InvalidInput(f"{what} must be a positive number of seconds or None, got {value!r}")
    return float(value)


# ---------------------------------------------------------------- JSON objects


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not valid JSON")


def _json_default(value: Any) -> Any:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _contains_nul(value: Any) -> bool:
    """Whether any string in ``value`` holds NUL. Iterative: a value nested as deeply as the
    JSON parser allows must not exhaust Python's stack here (the fuzz suite found that)."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


def json_depth_over(value: Any, limit: int) -> bool:
    """Whether objects and arrays in ``value`` nest deeper than ``limit`` levels (iterative)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list | tuple):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list | tuple))
    return False


def _parse(raw: str | bytes | bytearray, what: str) -> Any:
    try:
        return json.loads(raw, parse_constant=_refuse_constant)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise MalformedDocument(f"{what} is not valid JSON: {exc}") from exc


def json_object_text(
    value: Any,
    *,
    what: str,
    max_bytes: int,
    sort_keys: bool = False,
    limit_name: str = "",
    max_depth: int = MAX_JSON_DEPTH,
) -> str:
    """The compact JSON text of a JSON object under a size limit, ready for a ``jsonb`` column.

    The one check of "a JSON object under a size limit" that adapters, services and forms share.
    ``str``/``bytes`` are parsed first. Raises MalformedDocument for anything that is not a
    JSON object, that nests objects and arrays deeper than ``max_depth`` levels, or that
    PostgreSQL's jsonb refuses (NaN/Infinity, NUL characters, lone surrogates, values json
    cannot serialise) and PayloadTooLarge when the UTF-8 text is
    over ``max_bytes`` (``limit_name``, e.g. the setting, is named in the message).
    ``sort_keys`` gives a canonical text (for content hashes).
    """
    if isinstance(value, str | bytes | bytearray):
        value = _parse(value, what)
    if not isinstance(value, Mapping):
        raise MalformedDocument(f"{what} must be a JSON object, got {type(value).__name__}")
    if json_depth_over(value, max_depth):
        raise MalformedDocument(f"{what} nests objects and arrays deeper than {max_depth} levels")
    try:
        dumped = json.dumps(
            value,
            ensure_ascii=False,
            allow_nan=False,
            sort_keys=sort_keys,
            separators=(",", ":"),
            default=_json_default,
        )
        size = len(dumped.encode("utf-8"))
    except (TypeError, ValueError, RecursionError) as exc:  # UnicodeEncodeError (lone surrogates) is a ValueError
        raise MalformedDocument(f"{what} is not valid JSON: {exc}") from exc
    # json.dumps escapes NUL as \u0000; confirm on the value (the text may hold an escaped backslash).
    if "\\u0000" in dumped and _contains_nul(json.loads(dumped)):
        raise MalformedDocument(f"{what} contains NUL characters (\\u0000), which PostgreSQL jsonb cannot store")
    if size > max_bytes:
        limit = f" ({limit_name})" if limit_name else ""
        raise PayloadTooLarge(f"{what} is {size} bytes of JSON, over the limit of {max_bytes} bytes{limit}")
    return dumped
