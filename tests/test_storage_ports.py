"""The ports' own machinery: sealed public methods, the neutral filter and its sugar, the
storage handler (per-thread instances, close_all on request_finished and in Celery workers)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import request_finished

from core.storage import filters, get_cache, get_document_store, storages
from core.storage.filters import And, ContainsAll, Eq, from_containment
from core.storage.handler import create_store
from core.storage.ports import DocumentStore, InvalidFilter, InvalidName
from core.storage.postgres.documents import PostgresDocumentStore
from core.storage.redis_cache import RedisCache

# ---------------------------------------------------------------- sealed ports


def test_an_adapter_cannot_override_a_validating_public_method():
    with pytest.raises(TypeError, match="overrides put of its port"):

        class Careless(PostgresDocumentStore):
            def put(self, collection, doc_id, document):  # skips the validation
                return None


def test_an_adapter_implements_the_hooks_and_gets_the_validation_for_free():
    calls = []

    class Recording(DocumentStore):
        def _do_create_collection(self, name):
            calls.append(name)

        _do_drop_collection = _do_put_many = _do_delete_many = _do_get_many = _do_find = _do_count = _do_scan = (
            lambda self, *a, **k: calls.append(a)
        )

    store = Recording()
    with pytest.raises(InvalidName):
        store.create_collection("has space")
    with pytest.raises(InvalidName):
        store.put("c", "", {"a": 1})
    assert calls == []
    store.create_collection("c")
    assert calls == ["c"]


def test_abstract_hooks_must_be_implemented():
    class Incomplete(DocumentStore):
        pass

    with pytest.raises(TypeError):
        Incomplete()


# ---------------------------------------------------------------- filters


def test_containment_sugar_builds_a_neutral_filter():
    built = from_containment({"lang": "en", "tags": ["ai", "db"], "doc": {"year": 2024}, "empty": []})
    assert built == And(Eq("lang", "en"), ContainsAll("tags", ["ai", "db"]), Eq("doc.year", 2024))
    assert filters.paths(built) == [("lang",), ("tags",), ("doc", "year")]
    assert filters.is_match_all(from_containment({}))


def test_filters_nest_only_so_deep():
    deep = Eq("a", 1)
    for _ in range(filters.MAX_DEPTH):
        deep = And(deep)
    assert filters.check_filter(deep) is deep
    with pytest.raises(InvalidFilter):
        filters.check_filter(And(deep))  # what every port method runs on its where=


def test_a_filter_holds_a_bounded_number_of_conditions():
    wide = filters.Or(*(filters.In(f"f{i}", list(range(100))) for i in range(60)))
    with pytest.raises(InvalidFilter, match="at most"):
        filters.check_filter(wide)


def test_in_keeps_numbers_and_booleans_apart():
    assert filters.In("a", [1, True, 1.0, "1"]).values == (1, True, 1.0, "1")


# ---------------------------------------------------------------- the handler


@pytest.mark.django_db  # which backend serves reads is a database row (core.storage.routing)
def test_each_thread_gets_its_own_instances(settings):
    mine = get_document_store("content")
    assert get_document_store("content") is mine
    theirs: list = []
    thread = threading.Thread(target=lambda: theirs.append(get_document_store("content")))
    thread.start()
    thread.join()
    assert isinstance(theirs[0], PostgresDocumentStore) and theirs[0] is not mine


def test_settings_changes_reset_the_instances(settings):
    before = get_cache("content")
    settings.STRATA_STORAGE = {
        **settings.STRATA_STORAGE,
        "content": {"cache": {"BACKEND": before.__module__ + ".RedisCache"}},
    }
    after = get_cache("content")
    assert isinstance(after, RedisCache) and after is not before


def test_a_backend_must_implement_the_kind_s_port(settings):
    settings.STRATA_STORAGE = {"default": {"vectors": {"BACKEND": "core.storage.redis_cache.RedisCache"}}}
    with pytest.raises(ImproperlyConfigured, match="does not implement VectorStore"):
        create_store("content", "vectors")
    with pytest.raises(ImproperlyConfigured):
        create_store("content", "graph")
    with pytest.raises(ImproperlyConfigured):
        create_store("content", "spreadsheets")


@pytest.mark.django_db  # request_finished also closes Django's old connections
def test_close_all_runs_when_a_request_finishes_and_in_celery_workers(settings):
    closed: list[str] = []

    class Tracking(RedisCache):
        def _do_close(self):
            closed.append(self.alias)

    settings.STRATA_STORAGE = {"default": {"cache": {"BACKEND": f"{__name__}.TrackingCache"}}}
    globals()["TrackingCache"] = Tracking
    try:
        store = get_cache("content")
        request_finished.send(sender=None)
        assert closed == ["default"]

        from celery.signals import worker_process_init, worker_process_shutdown

        worker_process_shutdown.send(sender=None)
        assert closed == ["default", "default"]
        worker_process_init.send(sender=None)  # a forked worker drops its parent's instances
        assert get_cache("content") is not store
    finally:
        del globals()["TrackingCache"]
        storages.reset()


# ---------------------------------------------------------------- settings from the environment


def _storage_settings(**env: str) -> subprocess.CompletedProcess:
    code = (
        "import django, json; django.setup(); from django.conf import settings; "
        "print(json.dumps(settings.STRATA_STORAGE))"
    )
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, "DJANGO_SETTINGS_MODULE": "core.settings", "STRATA_EMBEDDED_AUTOSTART": "0", **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_environment_chooses_the_default_adapters():
    result = _storage_settings(
        STRATA_DOCUMENT_STORE="postgres-dedicated",
        STRATA_VECTOR_STORE="qdrant",
        STRATA_QDRANT_URL="http://qdrant:6333",
        STRATA_QDRANT_API_KEY="k",
        STRATA_GRAPH_STORE="falkordb",
        STRATA_FALKORDB_URL="redis://falkordb:6379",
    )
    assert result.returncode == 0, result.stderr
    default = json.loads(result.stdout)["default"]
    # every choice stays available by alias (storage_move can move to it); the variable picks the DEFAULT
    assert default["documents"] == {
        "DEFAULT": "postgres-dedicated",
        "postgres": {"BACKEND": "core.storage.postgres.documents.PostgresDocumentStore"},
        "postgres-dedicated": {
            "BACKEND": "core.storage.postgres.documents.PostgresDocumentStore",
            "using": "documents",
        },
    }
    assert default["vectors"] == {
        "DEFAULT": "qdrant",
        "postgres": {"BACKEND": "core.storage.postgres.vectors.PostgresVectorStore"},
        "qdrant": {"BACKEND": "core.storage.qdrant.QdrantVectorStore", "url": "http://qdrant:6333", "api_key": "k"},
    }
    assert default["graph"] == {
        "DEFAULT": "falkordb",
        "age": {"BACKEND": "core.storage.postgres.age.AgeGraphStore"},
        "falkordb": {"BACKEND": "core.storage.falkordb.FalkorGraphStore", "url": "redis://falkordb:6379"},
    }
    refused = _storage_settings(STRATA_GRAPH_STORE="neo4j")
    assert refused.returncode != 0 and "STRATA_GRAPH_STORE='neo4j'" in refused.stderr
