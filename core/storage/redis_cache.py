"""Cache port on Redis through django-redis (``settings.CACHES[alias]``).

Keys live under the Django cache's key prefix and version (``cache.make_key``), so values
written here are readable with ``django.core.cache.caches[alias]`` and vice versa. Values are
encoded by django-redis (pickle, optional compression).

Tags are Redis sets. For a value key ``V`` set with tags:
- each tag set ``make_key(tag, version="tag")`` holds ``V``;
- the key's own tag record ``make_key("", version="keytags") + V`` holds its tag-set keys and
  expires with ``V``.
Writes, deletes and tag invalidations run as Lua scripts, so each is atomic. ``delete_by_tag``
deletes a member only if its tag record still names the tag, which makes it exact even
after a key expired and was set again without the tag. A tag set expires no sooner than its
longest-lived member (it is made persistent while a member has no expiry), and every write
to a tag prunes two random members that no longer carry the tag, so sets do not grow
without bound. (The scripts touch keys they compute, so this needs a single Redis, not
Redis Cluster.)

``timeout=None`` means the cache's default timeout (``CACHES[alias]["TIMEOUT"]``).

Outages: when Redis cannot be reached (refused, reset, timed out, or refusing writes), reads
answer as a miss and writes are dropped, and for ``retry_seconds`` afterwards Redis is not
asked at all, so a dead or hung server costs one socket timeout per window rather than one per
request. The outage is logged once (warning) and so is the recovery (info). Deletes raise
``CacheUnavailable`` instead: an invalidation is never dropped silently.
"""

from __future__ import annotations

import logging
import pickle
import re
import socket
import time
from collections.abc import Callable
from typing import Any

from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from django_redis.exceptions import ConnectionInterrupted
from redis.exceptions import RedisError

from core.storage import validation
from core.storage.ports import Cache, CacheFeatures, CacheUnavailable, InvalidInput
from core.storage.ports.errors import StorageError

logger = logging.getLogger(__name__)

#: What an unreachable (or write-refusing) Redis raises through django-redis or redis-py.
UNREACHABLE = (RedisError, ConnectionInterrupted, socket.timeout, ConnectionError)

SCAN_BATCH = 500
MAX_TIMEOUT_SECONDS = 100 * 365 * 24 * 3600  # Redis keeps a TTL in a signed 64-bit count of milliseconds

_SET = """
local value_key, tags_key, ttl = KEYS[1], KEYS[2], tonumber(ARGV[2])
for _, old in ipairs(redis.call('SMEMBERS', tags_key)) do
    redis.call('SREM', old, value_key)
end
redis.call('DEL', tags_key)
if ttl > 0 then
    redis.call('SET', value_key, ARGV[1], 'PX', ttl)
else
    redis.call('SET', value_key, ARGV[1])
end
for i = 3, #KEYS do
    local tag_key = KEYS[i]
    local existed = redis.call('EXISTS', tag_key)
    redis.call('SADD', tag_key, value_key)
    redis.call('SADD', tags_key, tag_key)
    if ttl == 0 then
        redis.call('PERSIST', tag_key)
    else
        local remaining = redis.call('PTTL', tag_key)
        if existed == 0 or (remaining >= 0 and remaining < ttl) then
            redis.call('PEXPIRE', tag_key, ttl)
        end
    end
    for _, member in ipairs(redis.call('SRANDMEMBER', tag_key, 2)) do
        if redis.call('SISMEMBER', ARGV[3] .. member, tag_key) == 0 then
            redis.call('SREM', tag_key, member)
        end
    end
end
if #KEYS > 2 and ttl > 0 then
    redis.call('PEXPIRE', tags_key, ttl)
end
return 1
"""

_DELETE = """
local deleted = 0
for _, value_key in ipairs(KEYS) do
    local tags_key = ARGV[1] .. value_key
    for _, tag_key in ipairs(redis.call('SMEMBERS', tags_key)) do
        redis.call('SREM', tag_key, value_key)
    end
    redis.call('DEL', tags_key)
    deleted = deleted + redis.call('DEL', value_key)
end
return deleted
"""

_DELETE_TAG = """
local tag_key, deleted = KEYS[1], 0
for _, value_key in ipairs(redis.call('SMEMBERS', tag_key)) do
    local tags_key = ARGV[1] .. value_key
    if redis.call('SISMEMBER', tags_key, tag_key) == 1 then
        for _, other in ipairs(redis.call('SMEMBERS', tags_key)) do
            if other ~= tag_key then
                redis.call('SREM', other, value_key)
            end
        end
        redis.call('DEL', tags_key)
        deleted = deleted + redis.call('DEL', value_key)
    end
end
redis.call('DEL', tag_key)
return deleted
"""

_GLOB_SPECIAL = re.compile(r"([*?\[\]\\])")
_MISSING = object()


def glob_escape(text: str) -> str:
    """``text`` as a literal Redis glob pattern (backslash before ``* ? [ ] \\``)."""
    return _GLOB_SPECIAL.sub(r"\\\1", text)


class RedisCache(Cache):
    """ports.Cache on the django-redis cache ``alias``."""

    features = CacheFeatures(joins_db_transaction=False, vendor="redis", supports_tags=True)

    def __init__(self, alias: str = "default", retry_seconds: float = 5.0) -> None:
        self.alias = alias
        self.retry_seconds = validation.positive_seconds(retry_seconds, what="retry_seconds")
        self._down_until = 0.0  # time.monotonic() before which Redis is not asked
        self._down = False

    def __repr__(self) -> str:
        return f"RedisCache(alias={self.alias!r})"

    def _map_error(self, error: Exception) -> StorageError | None:
        if isinstance(error, UNREACHABLE):
            return CacheUnavailable(f"cache {self.alias!r} is unreachable: {error}")
        return None

    # ------------------------------------------------------------ reads

    def _do_get(self, key: str, missing: Any) -> Any:
        if not self._available():
            return missing
        try:
            value = self._django.get(key, missing)
        except UNREACHABLE as exc:
            self._failed("get", exc)
            return missing
        self._succeeded()
        return value

    # ------------------------------------------------------------ writes

    def _do_set(self, key: str, value: Any, timeout: float | None, tags: list[str]) -> None:
        ttl_ms = self._ttl_ms(timeout)
        if not self._available():
            return
        try:
            value_key = self._django.make_key(key)
            try:
                encoded = self._django.client.encode(value)
            except (pickle.PicklingError, TypeError, AttributeError) as exc:
                raise InvalidInput(f"cache value for {key!r} cannot be pickled: {exc}") from exc
            except RecursionError:  # data nested deeper than pickle's recursion (a document's metadata)
                logger.warning("cache value for %r is nested too deeply to pickle; not cached", key)
                return
            script = self._redis.register_script(_SET)
            script(
                keys=[value_key, self._tags_record_key(value_key), *(self._tag_key(tag) for tag in tags)],
                args=[encoded, ttl_ms, self._record_prefix],
            )
        except UNREACHABLE as exc:
            self._failed("set", exc)
            return
        self._succeeded()

    def _do_delete(self, key: str) -> bool:
        value_key = self._django.make_key(key)
        return self._deleting("delete", lambda: self._delete_keys([value_key])) == 1

    def _do_delete_by_tag(self, tag: str) -> int:
        tag_key = self._tag_key(tag)

        def run() -> int:
            script = self._redis.register_script(_DELETE_TAG)
            return int(script(keys=[tag_key], args=[self._record_prefix]))

        return self._deleting("delete_by_tag", run)

    def _do_delete_by_prefix(self, prefix: str) -> int:
        """Delete the keys starting with ``prefix``, taken literally (glob characters are escaped)."""
        pattern = glob_escape(self._django.make_key(prefix)) + "*"

        def run() -> int:
            deleted = 0
            batch: list[str] = []
            for key in self._redis.scan_iter(match=pattern, count=SCAN_BATCH):
                batch.append(key.decode() if isinstance(key, bytes) else key)
                if len(batch) >= SCAN_BATCH:
                    deleted += self._delete_keys(batch)
                    batch = []
            return deleted + (self._delete_keys(batch) if batch else 0)

        return self._deleting("delete_by_prefix", run)

    # ------------------------------------------------------------ outages

    def _available(self) -> bool:
        return time.monotonic() >= self._down_until

    def _failed(self, operation: str, exc: BaseException) -> None:
        self._down_until = time.monotonic() + self.retry_seconds
        if not self._down:
            self._down = True
            logger.warning(
                "cache unreachable (%s on CACHES[%r]: %s); serving uncached, retrying every %.0f s",
                operation,
                self.alias,
                exc.__cause__ or exc,
                self.retry_seconds,
            )

    def _succeeded(self) -> None:
        if self._down:
            self._down = False
            logger.info("cache reachable again (CACHES[%r])", self.alias)

    def _deleting(self, operation: str, run: Callable[[], int]) -> int:
        if not self._available():
            raise CacheUnavailable(f"cache {self.alias!r} is unreachable; {operation} was not done")
        try:
            result = run()
        except UNREACHABLE as exc:
            self._failed(operation, exc)
            raise CacheUnavailable(f"cache {self.alias!r} is unreachable; {operation} was not done: {exc}") from exc
        self._succeeded()
        return result

    # ------------------------------------------------------------ helpers

    @property
    def _django(self) -> Any:
        cache = caches[self.alias]
        if not hasattr(cache, "client") or not hasattr(cache.client, "get_client"):
            raise ImproperlyConfigured(f"CACHES[{self.alias!r}] must use django_redis.cache.RedisCache")
        return cache

    @property
    def _redis(self) -> Any:
        return self._django.client.get_client(write=True)

    @property
    def _record_prefix(self) -> str:
        return self._django.make_key("", version="keytags")

    def _tags_record_key(self, value_key: str) -> str:
        return self._record_prefix + value_key

    def _tag_key(self, tag: str) -> str:
        return self._django.make_key(tag, version="tag")

    def _ttl_ms(self, timeout: float | None) -> int:
        """Milliseconds to live, 0 for no expiry."""
        seconds = self._django.default_timeout if timeout is None else timeout
        if seconds is not None and seconds > MAX_TIMEOUT_SECONDS:
            raise InvalidInput(f"timeout must be at most {MAX_TIMEOUT_SECONDS} seconds (100 years), got {timeout!r}")
        return 0 if seconds is None else max(1, int(seconds * 1000))

    def _delete_keys(self, value_keys: list[str]) -> int:
        script = self._redis.register_script(_DELETE)
        return int(script(keys=value_keys, args=[self._record_prefix]))
