"""RedisCache: the contract suite plus what is specific to Redis / django-redis."""

from __future__ import annotations

import pytest
from django.conf import settings
from django.core.cache import cache as django_cache

from core.storage import get_cache
from core.storage.redis_cache import RedisCache, glob_escape
from tests.contracts.cache_contract import CacheContract, eventually
from tests.unreachable import closed_port


@pytest.fixture
def redis_cache() -> RedisCache:
    return RedisCache()


@pytest.fixture
def raw():
    """The raw redis-py client behind the default Django cache (test database only)."""
    return django_cache.client.get_client(write=True)


class TestRedisCache(CacheContract):
    @pytest.fixture
    def store(self, redis_cache):
        return redis_cache

    @pytest.fixture
    def unavailable_store(self, settings):
        down = {**settings.CACHES["default"], "LOCATION": f"redis://127.0.0.1:{closed_port()}/0"}
        settings.CACHES = {**settings.CACHES, "unreachable": down}
        return RedisCache("unreachable")


def _tag_key(tag: str) -> str:
    return django_cache.make_key(tag, version="tag")


def test_it_is_the_configured_default_cache():
    assert isinstance(get_cache("content"), RedisCache)


def test_keys_live_under_the_django_cache_key_prefix(redis_cache, raw):
    redis_cache.set("user:1", {"a": 1})
    full_key = django_cache.make_key("user:1")
    assert full_key.startswith(settings.CACHES["default"]["KEY_PREFIX"] + ":")
    assert raw.exists(full_key) == 1
    assert raw.exists("user:1") == 0


def test_values_are_shared_with_the_django_cache_api(redis_cache):
    redis_cache.set("from-port", [1, 2])
    assert django_cache.get("from-port") == [1, 2]
    django_cache.set("from-django", {"x": 1})
    assert redis_cache.get("from-django") == {"x": 1}


def test_default_timeout_is_the_caches_timeout(redis_cache, raw):
    redis_cache.set("k", 1)
    ttl = raw.pttl(django_cache.make_key("k"))
    assert 0 < ttl <= django_cache.default_timeout * 1000


def test_tag_sets_hold_the_full_keys(redis_cache, raw):
    redis_cache.set("a", 1, tags=["t"])
    redis_cache.set("b", 2, tags=["t"])
    members = {m.decode() for m in raw.smembers(_tag_key("t"))}
    assert members == {django_cache.make_key("a"), django_cache.make_key("b")}


def test_a_tag_set_lives_at_least_as_long_as_its_longest_member(redis_cache, raw):
    redis_cache.set("long", 1, timeout=1000, tags=["t"])
    redis_cache.set("short", 1, timeout=10, tags=["t"])
    assert raw.pttl(_tag_key("t")) > 900_000
    redis_cache.set("longer", 1, timeout=5000, tags=["t"])
    assert raw.pttl(_tag_key("t")) > 4_900_000


def test_a_tag_set_without_expiring_members_is_persistent(redis_cache, raw, settings):
    settings.CACHES = {**settings.CACHES, "default": {**settings.CACHES["default"], "TIMEOUT": None}}
    try:
        redis_cache.set("forever", 1, tags=["t"])
        assert raw.pttl(django_cache.make_key("forever")) == -1
        assert raw.pttl(_tag_key("t")) == -1
    finally:
        redis_cache.delete("forever")


def test_tag_sets_expire_with_their_members(redis_cache, raw):
    redis_cache.set("a", 1, timeout=0.2, tags=["t"])
    redis_cache.set("b", 1, timeout=0.3, tags=["t"])
    assert raw.exists(_tag_key("t")) == 1
    assert eventually(lambda: raw.exists(_tag_key("t")) == 0)


def test_tag_sets_shrink_when_keys_are_retagged_deleted_or_invalidated(redis_cache, raw):
    for i in range(5):
        redis_cache.set(f"k{i}", i, tags=["t", "u"])
    assert raw.scard(_tag_key("t")) == 5
    redis_cache.set("k0", 0)  # re-set without tags
    redis_cache.delete("k1")
    redis_cache.delete_by_prefix("k2")
    assert raw.scard(_tag_key("t")) == 2
    assert redis_cache.delete_by_tag("t") == 2
    assert raw.exists(_tag_key("t")) == 0
    assert raw.exists(_tag_key("u")) == 0  # k3 and k4 left "u" as well


def test_stale_members_are_pruned_by_later_writes(redis_cache, raw):
    redis_cache.set("keeper", 1, timeout=600, tags=["t"])
    for i in range(6):
        redis_cache.set(f"stale{i}", i, timeout=0.1, tags=["t"])
    assert eventually(lambda: all(redis_cache.get(f"stale{i}") is None for i in range(6)))

    def write_and_check() -> bool:
        # every write to a tag samples two of its members and drops those that no longer carry it
        redis_cache.set("keeper", 1, timeout=600, tags=["t"])
        return raw.scard(_tag_key("t")) == 1

    assert eventually(write_and_check)


def test_tag_records_expire_with_their_value(redis_cache, raw):
    redis_cache.set("k", 1, timeout=100, tags=["t"])
    record = django_cache.make_key("", version="keytags") + django_cache.make_key("k")
    assert raw.exists(record) == 1
    assert 0 < raw.pttl(record) <= 100_000


@pytest.mark.parametrize(
    "text,escaped", [("plain:key", "plain:key"), ("a*b?c", "a\\*b\\?c"), ("[x]", "\\[x\\]"), ("b\\c", "b\\\\c")]
)
def test_glob_escape(text, escaped):
    assert glob_escape(text) == escaped


def test_delete_by_prefix_stays_inside_the_cache_namespace(redis_cache, raw):
    raw.set("outside:user:1", "not ours")
    try:
        redis_cache.set("user:1", 1)
        assert redis_cache.delete_by_prefix("") == 1
        assert raw.get("outside:user:1") == b"not ours"
    finally:
        raw.delete("outside:user:1")
