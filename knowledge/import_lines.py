"""One line of graph_import's JSON Lines format, checked in Python (``parse_line``).

The set-based path (knowledge/import_sql.py) applies the same checks in SQL with the same
messages; ``parse_line`` is the reference for them, checks the lines PostgreSQL should not see
unchecked, and words the message of a line that is not JSON (knowledge/imports.py).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import orjson
from django.conf import settings

from knowledge import stores

MAX_LINE_BYTES = 1024 * 1024
_TYPE = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,49}$")
_EDGE_LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
RESERVED_LABELS = frozenset({stores.ENTITY_LABEL, stores.DOCUMENT_LABEL, "Document"})


class LineError(ValueError):
    pass


@dataclass
class NodeLine:
    key: str
    type: str
    name: str
    aliases: list[str]
    properties: dict[str, Any]


@dataclass
class EdgeLine:
    source: str
    target: str
    label: str
    weight: float
    properties: dict[str, Any]
    line: int = 0


def _key(value: Any, what: str) -> str:
    if not isinstance(value, str) or not 1 <= len(value) <= 200 or not value.isprintable():
        raise LineError(f"{what} must be a string of 1-200 printable characters")
    if value.startswith(stores.DOCUMENT_PREFIX) and len(value) == len(stores.DOCUMENT_PREFIX):
        raise LineError(f"{what} 'doc:' needs an external id after it")
    return value


def _json_size(value: Any) -> int:
    """Bytes of ``value`` as compact JSON. orjson writes at most 254 levels of nesting, which a
    line may hold (orjson reads 1,024, and PostgreSQL stores what the set-based path accepts), so
    deeper values are measured by the standard library, up to its recursion limit."""
    try:
        return len(orjson.dumps(value))
    except orjson.JSONEncodeError:
        try:
            return len(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8"))
        except RecursionError:
            raise LineError("properties are nested too deeply") from None


def _properties(value: Any) -> dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise LineError("properties must be a JSON object")
    if value and _json_size(value) > settings.STRATA_MAX_METADATA_BYTES:
        raise LineError(f"properties are larger than {settings.STRATA_MAX_METADATA_BYTES} bytes")
    if any(not isinstance(k, str) or k == "key" or k.startswith("_strata") for k in value):
        raise LineError("property names 'key' and '_strata...' are reserved")
    return value


def parse_line(raw: bytes) -> NodeLine | EdgeLine | None:
    """One line of the import format (None for a blank line); LineError says what is wrong."""
    if len(raw) > MAX_LINE_BYTES:
        raise LineError(f"line longer than {MAX_LINE_BYTES} bytes")
    if not raw.strip():
        return None
    if b"\x00" in raw or b"\\u0000" in raw:
        raise LineError("NUL characters are not allowed")
    try:
        item = orjson.loads(raw)  # orjson: linear time, UTF-8 checked, nesting capped at 1024
    except orjson.JSONDecodeError as exc:
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            raise LineError("not UTF-8 text") from None
        raise LineError(f"invalid JSON: {str(exc)[:200]}") from None
    if not isinstance(item, dict):
        raise LineError('each line must be a JSON object with "kind": "node" or "edge"')
    kind = item.get("kind")
    props = _properties(item.get("properties"))
    if kind == "node":
        key = _key(item.get("key"), "key")
        label = item.get("label", "concept")
        if not isinstance(label, str) or not _TYPE.fullmatch(label):
            raise LineError("label must be a letter then up to 49 letters, digits, - or _")
        if key.startswith(stores.DOCUMENT_PREFIX):
            return NodeLine(key, "document", key, [], {})
        name = props.get("name", key)
        aliases = props.get("aliases", [])
        if not isinstance(name, str) or not name.strip() or len(name) > 255:
            raise LineError("properties.name must be a non-empty string of at most 255 characters")
        if not isinstance(aliases, list) or not all(isinstance(a, str) and 0 < len(a) <= 255 for a in aliases):
            raise LineError("properties.aliases must be a list of strings")
        rest = {k: v for k, v in props.items() if k not in ("name", "aliases")}
        return NodeLine(key, label.lower(), name.strip(), aliases[:100], rest)
    if kind == "edge":
        source, target = _key(item.get("source"), "source"), _key(item.get("target"), "target")
        label = item.get("label")
        if not isinstance(label, str) or not _EDGE_LABEL.fullmatch(label) or label in RESERVED_LABELS:
            raise LineError("label must be a letter then up to 62 letters, digits or _ (not Entity or DocumentRef)")
        if target.startswith(stores.DOCUMENT_PREFIX) and source.startswith(stores.DOCUMENT_PREFIX):
            raise LineError("an edge needs an entity at one end at least")
        props = dict(props)
        weight = props.pop("weight", item.get("weight", 1.0))
        if isinstance(weight, bool) or not isinstance(weight, int | float) or not -1e12 < weight < 1e12:
            raise LineError("weight must be a number")
        for reserved in ("provenance", "workspace_id"):
            props.pop(reserved, None)
        return EdgeLine(source, target, label, float(weight), props)
    raise LineError('"kind" must be "node" or "edge"')
