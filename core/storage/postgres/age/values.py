"""Values of the AGE adapter: agtype output parsed back into Python and neutral values."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Sequence
from typing import Any

from core.storage.ports import Node

# A JSON string (kept as is) or an agtype annotation outside strings.
_AGTYPE_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|::(?:vertex|edge|path|numeric)\b')
#: the key under which parse_agtype(..., tagged=True) marks vertices, edges and paths
KIND = "\x00agtype"  # NUL never occurs in stored keys (the ports refuse it)


def parse_agtype(text: str | None) -> Any:
    """Python value of agtype text output: vertices/edges become dicts, paths lists, and the
    ``::vertex``/``::edge``/``::path``/``::numeric`` annotations are dropped (outside strings)."""
    if text is None:
        return None
    if "::" in text:
        text = _AGTYPE_TOKEN.sub(lambda m: m.group(0) if m.group(0)[0] == '"' else "", text)
    return json.loads(text)


def parse_tagged(text: str | None) -> Any:
    """parse_agtype keeping what is a vertex, an edge or a path (see KIND)."""
    if text is None:
        return None
    if "::" not in text:
        return json.loads(text)
    out: list[str] = []
    position = 0
    for match in _AGTYPE_TOKEN.finditer(text):
        out.append(text[position : match.start()])
        position = match.end()
        token = match.group(0)
        if token[0] == '"':
            out.append(token)
            continue
        kind = token[2:]
        if kind == "numeric":
            continue
        previous = "".join(out).rstrip()
        out = [previous]
        if kind == "path":  # [...]::path -> {"\u0000agtype": "path", "items": [...]}
            start = _matching_open(previous, "[", "]")
            out = [previous[:start], '{"\\u0000agtype":"path","items":', previous[start:], "}"]
        else:  # {...}::vertex -> {..., "\u0000agtype": "vertex"}
            out = [previous[:-1], f',"\\u0000agtype":"{kind}"}}']
    out.append(text[position:])
    return json.loads("".join(out))


def _matching_open(text: str, opening: str, closing: str) -> int:
    """Index of the bracket opening the one that ends ``text`` (strings skipped)."""
    depth = 0
    index = len(text) - 1
    in_string = False
    while index >= 0:
        char = text[index]
        if in_string:
            if char == '"' and not _escaped(text, index):
                in_string = False
        elif char == '"':
            in_string = True
        elif char == closing:
            depth += 1
        elif char == opening:
            depth -= 1
            if depth == 0:
                return index
        index -= 1
    raise ValueError("unbalanced agtype path")


def _escaped(text: str, index: int) -> bool:
    slashes = 0
    index -= 1
    while index >= 0 and text[index] == "\\":
        slashes += 1
        index -= 1
    return slashes % 2 == 1


def parse_many(texts: Sequence[str]) -> list[Any]:
    """Parse many agtype texts at once (one JSON parse instead of one per value)."""
    return parse_agtype("[" + ",".join(texts) + "]") if texts else []


def as_node(label: str, properties: dict[str, Any]) -> Node:
    """A Node from stored properties (the ``key`` property becomes the node key)."""
    key = properties.pop("key", None)  # always a string unless the node was written by Cypher
    return Node(label, "" if key is None else str(key), properties)


def index_name(table: str, suffix: str) -> str:
    """An index name that stays unique within the 63-byte identifier limit."""
    name = f"{table}_{suffix}"
    if len(name) <= 63:
        return name
    return f"{table[: 50 - len(suffix)]}_{hashlib.sha1(table.encode()).hexdigest()[:12]}_{suffix}"
