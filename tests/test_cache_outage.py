"""A cache outage degrades to uncached answers, logged, never an error (issue 6, defect 4).

Each test points a RedisCache at its own throwaway Redis server (tests/redis_server.py) and
stops, kills or pauses that server; the shared embedded Redis is never touched."""

from __future__ import annotations

import time

import pytest
from django.conf import settings
from django.core.cache import caches

from core.storage.ports import CacheUnavailable
from core.storage.redis_cache import RedisCache
from tests.redis_server import ThrowawayRedis

ALIAS = "outage"


@pytest.fixture
def server(tmp_path):
    redis = ThrowawayRedis(tmp_path / "redis").start()
    yield redis
    redis.kill()  # SIGKILL also ends a paused server


@pytest.fixture
def cache(server, settings):
    settings.CACHES = {
        **settings.CACHES,
        ALIAS: {
            **settings.CACHES["default"],
            "LOCATION": server.url,
            "OPTIONS": {**settings.CACHES["default"]["OPTIONS"], "SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        },
    }
    yield RedisCache(alias=ALIAS, retry_seconds=0.3)
    caches[ALIAS].close()


def test_reads_and_writes_degrade_to_misses_while_redis_is_down(server, cache, caplog):
    cache.set("k", "cached")
    assert cache.get("k") == "cached"
    server.kill()
    calls = []
    with caplog.at_level("WARNING", logger="core.storage.redis_cache"):
        assert cache.get("k", "default") == "default"
        cache.set("k", "lost")  # dropped, not raised
        for n in range(3):
            assert cache.get_or_set("computed", lambda n=n: calls.append(n) or n) == n
    assert calls == [0, 1, 2]  # computed every time: nothing is cached, nothing is stale
    assert "cache unreachable" in caplog.text
    assert caplog.text.count("cache unreachable") == 1  # logged once per outage, not per call


def test_invalidations_are_never_lost_silently(server, cache):
    server.kill()
    for call in (lambda: cache.delete("k"), lambda: cache.delete_by_tag("t"), lambda: cache.delete_by_prefix("p")):
        with pytest.raises(CacheUnavailable):
            call()


def test_the_cache_is_used_again_once_redis_is_back(server, cache, caplog):
    server.kill()
    assert cache.get("k", "miss") == "miss"
    server.start()
    time.sleep(0.35)  # retry_seconds
    with caplog.at_level("INFO", logger="core.storage.redis_cache"):
        cache.set("k", "back")
        assert cache.get("k") == "back"
    assert "cache reachable again" in caplog.text


def test_a_hung_redis_costs_one_socket_timeout_per_retry_window(server, cache):
    cache.set("k", "v")
    server.pause()
    started = time.monotonic()
    assert cache.get("k", "miss") == "miss"
    first = time.monotonic() - started
    started = time.monotonic()
    for _ in range(20):
        assert cache.get("k", "miss") == "miss"  # inside the retry window: Redis is not asked
    assert first < 3 and time.monotonic() - started < 0.5


def test_the_default_cache_has_socket_timeouts():
    options = settings.CACHES["default"]["OPTIONS"]
    assert 0 < options["SOCKET_CONNECT_TIMEOUT"] <= 2 and 0 < options["SOCKET_TIMEOUT"] <= 5
