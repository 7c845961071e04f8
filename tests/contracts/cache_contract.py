"""What every Cache adapter must do. Uses only the port API and the port errors.

Subclass it as ``class TestMyCache(CacheContract)`` and provide the ``store`` fixture (an
empty cache namespace) and an ``unavailable_store`` fixture (the adapter pointed at a server
that does not answer).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import pytest

from core.storage.ports import (
    Cache,
    CacheFeatures,
    CacheUnavailable,
    InvalidInput,
    InvalidName,
    StoreUnavailable,
)
from tests.contracts.features import FeatureGate


@dataclass(frozen=True)
class Point:
    x: int
    y: int


def eventually(condition: Callable[[], bool], *, within: float = 3.0) -> bool:
    """Poll ``condition`` until it holds or ``within`` seconds pass (for expiry tests)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


class CacheContract(FeatureGate):
    @pytest.fixture
    def store(self) -> Cache:
        raise NotImplementedError("the adapter's test class provides the cache")

    @pytest.fixture
    def unavailable_store(self) -> Cache:
        raise NotImplementedError("the adapter's test class provides a cache whose server does not answer")

    def test_store_implements_the_port(self, store):
        assert isinstance(store, Cache)
        assert isinstance(store.features, CacheFeatures)

    def test_an_unreachable_cache_degrades_reads_and_writes_and_refuses_deletes(self, unavailable_store):
        with pytest.raises(InvalidName):
            unavailable_store.set("", 1)  # checked before any connection
        unavailable_store.set("key", 1, tags=["t"])  # dropped
        assert unavailable_store.get("key", "miss") == "miss"
        assert unavailable_store.get_or_set("key", lambda: 5) == 5
        for delete in (lambda: unavailable_store.delete("key"), lambda: unavailable_store.delete_by_tag("t")):
            with pytest.raises(CacheUnavailable) as error:
                delete()
            assert isinstance(error.value, StoreUnavailable)  # retryable, like every store's outage
        unavailable_store.close()

    # ------------------------------------------------------------ get / set / delete

    @pytest.mark.parametrize(
        "value",
        [1, 2**70, -5, 1.5, True, False, "text ✓", b"\x00bytes", [1, "a", None], {"k": {"n": [1, 2]}}, Point(1, 2)],
        ids=repr,
    )
    def test_set_then_get_round_trips_picklable_values(self, store, value):
        store.set("key", value)
        got = store.get("key")
        assert got == value and type(got) is type(value)

    def test_get_of_a_missing_key_returns_the_default(self, store):
        assert store.get("missing") is None
        assert store.get("missing", "fallback") == "fallback"

    def test_a_cached_none_is_not_the_default(self, store):
        store.set("none", None)
        assert store.get("none", "fallback") is None

    def test_set_replaces(self, store):
        store.set("key", "old")
        store.set("key", "new")
        assert store.get("key") == "new"

    def test_delete_reports_whether_a_key_was_deleted(self, store):
        store.set("key", 1)
        assert store.delete("key") is True
        assert store.delete("key") is False
        assert store.get("key") is None

    def test_keys_are_literal(self, store):
        store.set("a*", 1)
        store.set("a?", 2)
        store.set("ab", 3)
        assert (store.get("a*"), store.get("a?"), store.get("ab")) == (1, 2, 3)

    def test_timeout_expires_the_value(self, store):
        store.set("short", "v", timeout=0.2)
        store.set("long", "v", timeout=60)
        assert store.get("short") == "v"
        assert eventually(lambda: store.get("short") is None)
        assert store.get("long") == "v"

    @pytest.mark.parametrize("timeout", [0, -1, float("nan"), float("inf"), "10", True])
    def test_invalid_timeouts_are_refused(self, store, timeout):
        with pytest.raises(InvalidInput):
            store.set("key", 1, timeout=timeout)
        assert store.get("key") is None

    @pytest.mark.parametrize("key", ["", None, 5, "x" * 256, "nul\x00", "new\nline"])
    def test_invalid_keys_raise_invalid_name(self, store, key):
        with pytest.raises(InvalidName):
            store.set(key, 1)
        with pytest.raises(InvalidName):
            store.get(key)

    def test_unpicklable_values_are_refused_and_nothing_is_stored(self, store):
        with pytest.raises(InvalidInput):
            store.set("key", lambda: 1)
        assert store.get("key") is None

    def test_a_value_nested_too_deeply_to_pickle_is_served_but_not_cached(self, store):
        deep: dict = {}
        for _ in range(5000):  # deeper than pickle's recursion; JSON data can nest this deep
            deep = {"a": deep}
        assert store.get_or_set("deep", lambda: deep) is deep
        assert store.get("deep") is None

    # ------------------------------------------------------------ get_or_set

    def test_get_or_set_computes_once(self, store):
        calls = []

        def compute():
            calls.append(1)
            return {"answer": 42}

        assert store.get_or_set("key", compute) == {"answer": 42}
        assert store.get_or_set("key", compute) == {"answer": 42}
        assert len(calls) == 1
        assert store.get("key") == {"answer": 42}

    def test_get_or_set_caches_none_results(self, store):
        calls = []
        assert store.get_or_set("key", lambda: calls.append(1)) is None
        assert store.get_or_set("key", lambda: calls.append(1)) is None
        assert len(calls) == 1

    def test_get_or_set_with_timeout_and_tags(self, store):
        store.get_or_set("key", lambda: "v", timeout=0.2, tags=["t"])
        assert store.delete_by_tag("t") == 1
        store.get_or_set("key", lambda: "v2", timeout=0.2)
        assert store.get("key") == "v2"
        assert eventually(lambda: store.get("key") is None)

    def test_get_or_set_caches_nothing_when_compute_fails(self, store):
        def boom():
            raise RuntimeError("boom")

        with pytest.raises(RuntimeError):
            store.get_or_set("key", boom)
        assert store.get("key", "missing") == "missing"

    # ------------------------------------------------------------ tags

    def test_delete_by_tag_deletes_exactly_the_tagged_keys(self, store):
        store.set("x", 1, tags=["t"])
        store.set("y", 2, tags=["t", "u"])
        store.set("z", 3, tags=["u"])
        store.set("w", 4)
        assert store.delete_by_tag("t") == 2
        assert (store.get("x"), store.get("y"), store.get("z"), store.get("w")) == (None, None, 3, 4)
        assert store.delete_by_tag("u") == 1
        assert store.get("z") is None
        assert store.get("w") == 4

    def test_delete_by_tag_of_an_unknown_tag_deletes_nothing(self, store):
        store.set("x", 1, tags=["t"])
        assert store.delete_by_tag("never-used") == 0
        assert store.get("x") == 1

    def test_setting_a_key_again_replaces_its_tags(self, store):
        store.set("x", 1, tags=["t"])
        store.set("x", 2)
        store.set("y", 3, tags=["t"])
        store.set("y", 4, tags=["u"])
        assert store.delete_by_tag("t") == 0
        assert (store.get("x"), store.get("y")) == (2, 4)
        assert store.delete_by_tag("u") == 1

    def test_a_deleted_then_recreated_key_loses_its_tags(self, store):
        store.set("x", 1, tags=["t"])
        store.delete("x")
        store.set("x", 2)
        assert store.delete_by_tag("t") == 0
        assert store.get("x") == 2

    def test_an_expired_then_recreated_key_loses_its_tags(self, store):
        store.set("x", 1, timeout=0.2, tags=["t"])
        store.set("keeper", 1, timeout=60, tags=["t"])  # keeps the tag alive after x expires
        assert eventually(lambda: store.get("x") is None)
        store.set("x", 2)
        assert store.delete_by_tag("t") == 1
        assert store.get("x") == 2
        assert store.get("keeper") is None

    def test_delete_by_tag_is_repeatable(self, store):
        store.set("x", 1, tags=["t"])
        assert store.delete_by_tag("t") == 1
        assert store.delete_by_tag("t") == 0
        store.set("x", 1, tags=["t"])
        assert store.delete_by_tag("t") == 1

    def test_tags_may_contain_any_printable_characters(self, store):
        store.set("x", 1, tags=["content:ws:1", "a*b", "[t]"])
        store.set("y", 1, tags=["content:ws:10"])
        assert store.delete_by_tag("a*b") == 1
        assert store.get("y") == 1

    @pytest.mark.parametrize("tags", ["single-string", [""], [None], ["nul\x00"]])
    def test_invalid_tags_are_refused_and_nothing_is_stored(self, store, tags):
        with pytest.raises(InvalidInput):
            store.set("key", 1, tags=tags)
        assert store.get("key") is None

    # ------------------------------------------------------------ prefixes

    def test_delete_by_prefix(self, store):
        for key in ["user:1", "user:10", "user:2", "users", "other:user:1"]:
            store.set(key, key)
        assert store.delete_by_prefix("user:1") == 2
        assert store.get("user:1") is None and store.get("user:10") is None
        assert store.get("user:2") == "user:2"
        assert store.delete_by_prefix("user") == 2
        assert store.get("other:user:1") == "other:user:1"

    @pytest.mark.parametrize(
        "prefix,deleted,kept",
        [
            ("a*", ["a*", "a*b"], ["axb", "ab"]),
            ("a?", ["a?c"], ["abc", "a"]),
            ("[x]", ["[x]y"], ["xy", "x"]),
            ("b\\", ["b\\c"], ["bc", "b"]),
            ("[^a]", ["[^a]1"], ["b1", "[^a"]),
            ("]", ["]x"], ["x]"]),
        ],
    )
    def test_delete_by_prefix_takes_glob_characters_literally(self, store, prefix, deleted, kept):
        for key in deleted + kept:
            store.set(key, key)
        assert store.delete_by_prefix(prefix) == len(deleted)
        assert [store.get(key) for key in deleted] == [None] * len(deleted)
        assert [store.get(key) for key in kept] == kept

    def test_delete_by_prefix_of_many_keys(self, store):
        for i in range(1200):
            store.set(f"bulk:{i}", i, tags=["bulk"] if i % 2 else ())
        store.set("bulky", "kept")
        assert store.delete_by_prefix("bulk:") == 1200
        assert store.get("bulky") == "kept"
        assert store.delete_by_tag("bulk") == 0

    def test_delete_by_prefix_forgets_the_keys_tags(self, store):
        store.set("p:1", 1, tags=["t"])
        assert store.delete_by_prefix("p:") == 1
        store.set("p:1", 2)
        assert store.delete_by_tag("t") == 0
        assert store.get("p:1") == 2
