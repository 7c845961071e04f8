"""Fuzzing `manage.py ingest` and the storage ports.

- ingest: random files (every supported type, bad bytes, deep JSON, markup) in a directory;
  the command ends with its summary line (a CommandError for failed items, never another
  exception or a traceback) and the workspace is complete in all four models afterwards.
- ports: random names, keys, JSON values, paths, vectors, labels, properties, Cypher
  parameters and cache keys. Each call either works or raises one of the port's errors
  (``StorageError``), and a refused write leaves the store as it was.
"""

from __future__ import annotations

import io
import math

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from hypothesis import given, settings
from hypothesis import strategies as st

from content.models import Document
from core.storage import get_cache, get_document_store, get_graph_store, get_vector_store
from core.storage.ports import Node, NodeRef, StorageError, VectorItem
from tests.fault.invariants import check_workspace
from tests.fuzz import strategies as s
from tests.fuzz.conftest import examples

pytestmark = pytest.mark.django_db


def test_ingest_command(request, workspace, tmp_path_factory, count):
    @settings(settings.get_profile("strata-fuzz"), max_examples=examples(request, 400))
    @given(files=st.lists(st.tuples(s.file_names, s.file_bytes), min_size=1, max_size=4), embed=st.booleans())
    def run(files, embed):
        count()
        root = tmp_path_factory.mktemp("ingest")
        for n, (name, content) in enumerate(files):
            safe = name.replace("/", "_").replace("\x00", "_")  # what a file system can hold
            (root / f"{n}-{safe}"[:200]).write_bytes(content)
        out, err = io.StringIO(), io.StringIO()
        args = [str(root), "--workspace", workspace.slug, "-v", "0", *(["--embed"] if embed else [])]
        try:
            call_command("ingest", *args, stdout=out, stderr=err)
        except CommandError as exc:
            assert "item(s) failed" in str(exc), exc
        assert out.getvalue().startswith("added "), out.getvalue()
        assert "Traceback" not in err.getvalue()
        check_workspace(workspace.pk)

    run()
    assert count.ran() >= 300
    assert Document.objects.filter(workspace=workspace).exists()  # good items among the bad got in


names = st.one_of(s.short_text, st.sampled_from(["fuzz", "fuzz.coll", "a" * 201, "", "x:y", "UPPER_ok-1"]))
keys = st.one_of(s.short_text, st.sampled_from(["k", "k" * 256, " ", "\x00", "\ud800"]))


def test_document_store(request, count):
    store = get_document_store("fuzz")
    store.create_collection("fuzz")

    @settings(settings.get_profile("strata-fuzz"), max_examples=examples(request, 500))
    @given(
        collection=names, key=keys, body=s.json_texts, path=st.one_of(st.none(), s.text, s.json_texts), data=st.data()
    )
    def run(collection, key, body, path, data):
        count()
        before = store.count("fuzz")
        try:
            store.put(collection, key, body)
        except StorageError:
            assert store.count("fuzz") == before  # refused: nothing written
        contains = data.draw(st.one_of(st.none(), st.dictionaries(s.short_text, st.one_of(s.short_text, st.floats()))))
        try:
            store.find(collection, contains=contains, path=path, limit=data.draw(st.integers(-2, 5)))
        except StorageError:
            pass

    run()
    assert count.ran() >= 400


def test_vector_store(request, count):
    store = get_vector_store("fuzz")
    store.create_collection("fuzz.vectors", dimension=1536, model="fuzz-model")
    floats = st.one_of(st.floats(), st.sampled_from([math.nan, math.inf, -math.inf, 1e308, 0.0]), st.integers())
    # mostly 1536 values (one of them odd), sometimes another length
    vectors = st.builds(
        lambda fill, n, odd, at: [*([fill] * n)][:at] + [odd] + [fill] * max(0, n - at - 1),
        st.sampled_from([0.0, 0.5, -1.0, 1e-30]),
        st.sampled_from([0, 1, 1535, 1536, 1536, 1536, 1537, 3000]),
        floats,
        st.integers(0, 1536),
    )

    @settings(settings.get_profile("strata-fuzz"), max_examples=examples(request, 500))
    @given(
        collection=st.one_of(st.just("fuzz.vectors"), names),
        key=keys,
        vector=vectors,
        metadata=st.dictionaries(s.short_text, st.one_of(s.short_text, floats), max_size=3),
        model=st.sampled_from(["fuzz-model", "other", ""]),
        k=st.integers(-1, 2000),
    )
    def run(collection, key, vector, metadata, model, k):
        count()
        before = store.count("fuzz.vectors")
        try:
            store.upsert(collection, [VectorItem(key, vector, metadata)], model=model)
        except StorageError:
            assert store.count("fuzz.vectors") == before
        try:
            store.search(collection, vector, model=model, k=k, filter=metadata or None)
        except StorageError:
            pass

    run()
    assert count.ran() >= 400


def test_graph_store(request, count):
    graph = get_graph_store("fuzz")
    graph.define_node_label("Fuzz")
    labels = st.one_of(st.just("Fuzz"), names)

    @settings(settings.get_profile("strata-fuzz"), max_examples=examples(request, 400))
    @given(
        label=labels,
        key=keys,
        properties=st.dictionaries(s.short_text, st.one_of(s.short_text, st.floats(), st.integers()), max_size=3),
        params=st.dictionaries(s.short_text, st.one_of(s.short_text, st.floats(), st.integers()), max_size=3),
        depth=st.integers(-1, 12),
    )
    def run(label, key, properties, params, depth):
        count()
        for call in (
            lambda: graph.upsert_node(label, key, properties),
            lambda: graph.bulk_load(nodes=[Node(label, key, properties)]),
            lambda: graph.neighbours(NodeRef(label, key), direction="both"),
            lambda: graph.k_hop(NodeRef(label, key), k=depth),
            lambda: graph.cypher("MATCH (n:Fuzz) WHERE n.key = $key RETURN count(n)", {"key": key, **params}),
        ):
            try:
                call()
            except StorageError:
                pass

    run()
    assert count.ran() >= 300


def test_cache(request, count):
    cache = get_cache("fuzz")

    @settings(settings.get_profile("strata-fuzz"), max_examples=examples(request, 500))
    @given(key=keys, tags=st.lists(keys, max_size=3), timeout=st.one_of(st.none(), st.floats(), st.integers(-5, 5)))
    def run(key, tags, timeout):
        count()
        for call in (
            lambda: cache.set(key, {"v": key}, timeout=timeout, tags=tags),
            lambda: cache.get(key),
            lambda: cache.delete_by_tag(tags[0] if tags else key),
            lambda: cache.delete_by_prefix(key),
        ):
            try:
                call()
            except StorageError:
                pass

    run()
    assert count.ran() >= 400
