"""The neutral filter compiled to Qdrant's ``Filter`` models.

Metadata lives under the payload's ``metadata`` object, so a path ``a.b`` is the payload key
``metadata.a.b``. Qdrant's own matching gives the port's semantics: a condition on an array
matches when an element does, ``must_not`` also matches points where the key is missing, and
``IsEmpty`` is "missing, null or []" (so ``Exists`` is its negation). Numbers are matched with
a closed ``Range`` so that ``1`` and ``1.0`` are equal (``MatchValue`` would compare types);
integers beyond 2**53 keep ``MatchValue`` (a float range would round them).
"""

from __future__ import annotations

from qdrant_client import models

from core.storage.filters import And, ContainsAll, Eq, Exists, Filter, In, Not, Or, PathSegments, Range, Scalar

PAYLOAD_ROOT = "metadata"
_EXACT_FLOAT = 2**53


def payload_key(path: PathSegments) -> str:
    return ".".join((PAYLOAD_ROOT, *path))


def _match(key: str, value: Scalar) -> models.Condition:
    if isinstance(value, bool) or isinstance(value, str):
        return models.FieldCondition(key=key, match=models.MatchValue(value=value))
    if isinstance(value, int) and abs(value) >= _EXACT_FLOAT:
        return models.FieldCondition(key=key, match=models.MatchValue(value=value))
    return models.FieldCondition(key=key, range=models.Range(gte=value, lte=value))


def _nothing() -> models.Filter:
    """A filter no point matches (every point has a non-empty ``key``)."""
    return models.Filter(must=[models.IsEmptyCondition(is_empty=models.PayloadField(key="key"))])


def compile_filter(condition: Filter) -> models.Filter:
    if isinstance(condition, And):  # and Or
        parts = [_condition(inner) for inner in condition.filters]
        if isinstance(condition, Or):
            return models.Filter(should=parts) if parts else _nothing()
        return models.Filter(must=parts)
    return models.Filter(must=[_condition(condition)])


def _condition(condition: Filter) -> models.Condition:
    if isinstance(condition, Eq):
        return _match(payload_key(condition.path), condition.value)
    if isinstance(condition, In):  # and ContainsAny
        key = payload_key(condition.path)
        if all(isinstance(v, str) for v in condition.values):
            return models.FieldCondition(key=key, match=models.MatchAny(any=list(condition.values)))
        return models.Filter(should=[_match(key, value) for value in condition.values])
    if isinstance(condition, ContainsAll):
        key = payload_key(condition.path)
        return models.Filter(must=[_match(key, value) for value in condition.values])
    if isinstance(condition, Range):
        return models.FieldCondition(key=payload_key(condition.path), range=models.Range(**condition.bounds()))
    if isinstance(condition, Exists):
        empty = models.IsEmptyCondition(is_empty=models.PayloadField(key=payload_key(condition.path)))
        return models.Filter(must_not=[empty])
    if isinstance(condition, Not):
        return models.Filter(must_not=[_condition(condition.filter)])
    if isinstance(condition, And):
        return compile_filter(condition)
    raise TypeError(f"not a filter: {condition!r}")  # check_filter ran before
