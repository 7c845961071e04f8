"""The Cache port: key/value with invalidation by tag or key prefix. Values must be picklable."""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterable
from typing import Any

from core.storage import validation
from core.storage.ports.base import Store
from core.storage.ports.errors import InvalidInput
from core.storage.ports.features import CacheFeatures

_MISSING = object()


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def check_tags(tags: Any) -> list[str]:
    if isinstance(tags, str | bytes):
        raise InvalidInput("tags must be an iterable of strings, not a single string")
    return list(dict.fromkeys(validation.record_key(tag, what="tag") for tag in tags))


class Cache(Store):
    """``timeout=None`` means the cache's default timeout.

    A cache is an optimisation, so an unreachable cache server is not an error for readers:
    ``get``/``get_or_set`` answer as for a miss (``get_or_set`` computes the value) and ``set``
    drops the value, with a logged warning. ``delete``, ``delete_by_tag`` and
    ``delete_by_prefix`` raise ``CacheUnavailable`` (a ``StoreUnavailable``). Callers that must
    never serve stale data put a version they bump in the database into their keys rather than
    rely on deletes."""

    _is_port = True
    features: CacheFeatures = CacheFeatures()

    def get(self, key: str, default: Any = None) -> Any:
        value = self._run(self._do_get, validation.record_key(key, what="cache key"), _MISSING)
        return default if value is _MISSING else value

    def set(self, key: str, value: Any, *, timeout: float | None = None, tags: Iterable[str] = ()) -> None:
        key = validation.record_key(key, what="cache key")
        seconds = None if timeout is None else validation.positive_seconds(timeout)
        self._run(self._do_set, key, value, seconds, check_tags(tags))

    def get_or_set(self, key: str, compute: Any, *, timeout: float | None = None, tags: Iterable[str] = ()) -> Any:
        """The cached value, or ``compute()`` (or ``compute`` itself when not callable), cached with ``tags``."""
        value = self.get(key, _MISSING)
        if value is _MISSING:
            value = compute() if callable(compute) else compute
            self.set(key, value, timeout=timeout, tags=tags)
        return value

    def delete(self, key: str) -> bool:
        return self._run(self._do_delete, validation.record_key(key, what="cache key"))

    def delete_by_tag(self, tag: str) -> int:
        """Delete every key set with ``tag``; returns how many were deleted."""
        return self._run(self._do_delete_by_tag, validation.record_key(tag, what="tag"))

    def delete_by_prefix(self, prefix: str) -> int:
        """Delete every key starting with ``prefix`` (taken literally, no wildcards)."""
        if not isinstance(prefix, str) or "\x00" in prefix or not _encodable(prefix):
            raise InvalidInput(f"a key prefix must be a string without NUL or lone surrogates, got {prefix!r}")
        return self._run(self._do_delete_by_prefix, prefix)

    # ------------------------------------------------------------ hooks

    @abstractmethod
    def _do_get(self, key: str, missing: Any) -> Any:
        """The value, or ``missing`` when there is none."""

    @abstractmethod
    def _do_set(self, key: str, value: Any, timeout: float | None, tags: list[str]) -> None:
        """InvalidInput when the value cannot be pickled (nothing written); a value nested too deeply
        to pickle (data, not a programming error) is not cached, with a logged warning."""

    @abstractmethod
    def _do_delete(self, key: str) -> bool: ...

    @abstractmethod
    def _do_delete_by_tag(self, tag: str) -> int: ...

    @abstractmethod
    def _do_delete_by_prefix(self, prefix: str) -> int: ...
