"""The document contract's data and helpers."""

from __future__ import annotations

from core.storage.ports import (
    StoredDocument,
)

COLLECTION = "contract.documents"
OTHER = "contract.other"

BAD_NAMES = ["", "has space", "slash/name", "semi;colon", "quote'", "naïve", "x" * 201, None, 5]
BAD_IDS = ["", "x" * 256, "nul\x00byte", "new\nline", "tab\there", None, 12, b"bytes"]
NOT_OBJECTS = [[1, 2], "[1, 2]", '"text"', b"42", "null", "true", 3, None, "just text"]
MALFORMED_TEXT = ['{"a": ', "{'a': 1}", '{"a": 1} trailing', b"\xff\xfe{", '{"a": undefined}', ""]
NOT_SERIALISABLE = [{"a": object()}, {"a": {1, 2}}, {"a": b"bytes"}, {"a": 1 + 2j}, {(1, 2): "tuple key"}]
NOT_FINITE = [
    {"a": float("nan")},
    {"a": float("inf")},
    {"nested": [1, {"b": float("-inf")}]},
    '{"a": NaN}',
    '{"a": Infinity}',
    b'{"a": -Infinity}',
    '{"a": 1e400}',
]
WITH_NUL = [{"a": "x\x00y"}, {"a\x00": 1}, {"a": ["ok", {"b": "\x00"}]}, '{"a": "\\u0000"}', b'{"\\u0000": 1}']


class Boom(Exception):
    pass


def ids(documents: list[StoredDocument]) -> list[str]:
    return [document.id for document in documents]
