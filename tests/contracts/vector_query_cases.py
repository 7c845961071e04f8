"""Vector contract: get_many, scans, indexed fields and neutral filters."""

from __future__ import annotations

import pytest

from core.storage.filters import And, ContainsAll, Eq, Exists, In, Not, Or, Range
from core.storage.ports import (
    InvalidFilter,
    InvalidInput,
    InvalidName,
    Page,
    UnknownCollection,
    VectorItem,
)
from tests.contracts.vector_data import (
    MODEL,
    same_vector,
)


class VectorQueryCases:
    """Cases of VectorStoreContract (its fixtures: store, collection, ...)."""

    # ------------------------------------------------------------ get_many and scans (backfills)

    def test_get_many_returns_the_items_that_exist(self, store, collection):
        store.upsert(collection, [self.item("a", 1.0, n=1), self.item("b", 0.0, 1.0, n=2)], model=MODEL)
        got = store.get_many(collection, ["b", "missing", "a", "b"])
        assert sorted(got) == ["a", "b"]
        assert got["a"].key == "a" and got["a"].metadata == {"n": 1}
        assert same_vector(got["b"].vector, self.basis(0.0, 1.0), store)
        assert store.get_many(collection, []) == {}
        with pytest.raises(UnknownCollection):
            store.get_many("contract.missing", ["a"])
        with pytest.raises(InvalidName):
            store.get_many(collection, ["ok", ""])

    def test_scan_pages_through_every_item_once(self, store, collection):
        store.upsert(collection, [self.item(f"k{i:02d}", 1.0, float(i), i=i) for i in range(25)], model=MODEL)
        seen: list[VectorItem] = []
        cursor = None
        pages = 0
        while True:
            page = store.scan(collection, after=cursor, limit=10)
            assert isinstance(page, Page) and len(page.items) <= 10
            seen.extend(page.items)
            pages += 1
            cursor = page.next_cursor
            if cursor is None:
                break
        assert pages == 3
        assert sorted(item.key for item in seen) == [f"k{i:02d}" for i in range(25)]
        for item in seen:
            assert item.metadata == {"i": int(item.key[1:])}
            assert same_vector(item.vector, self.basis(1.0, float(item.metadata["i"])), store)

    def test_scan_without_vectors_and_of_an_empty_collection(self, store, collection):
        assert store.scan(collection) == Page(items=[], next_cursor=None)
        store.upsert(collection, [self.item("a", 1.0, n=1)], model=MODEL)
        [item] = store.scan(collection, with_vectors=False).items
        assert (item.key, list(item.vector), item.metadata) == ("a", [], {"n": 1})
        with pytest.raises(UnknownCollection):
            store.scan("contract.missing")
        with pytest.raises(InvalidInput):
            store.scan(collection, limit=0)

    # ------------------------------------------------------------ indexed fields

    def test_indexed_fields_are_declared_and_added(self, store, make_collection):
        name = make_collection("contract.indexed", indexed_fields={"workspace_id": "integer", "doc.lang": "keyword"})
        assert store.get_collection(name).indexed_fields == (("doc.lang", "keyword"), ("workspace_id", "integer"))
        again = store.create_collection(
            name, dimension=self.dimension, model=MODEL, indexed_fields={"year": "float", "workspace_id": "integer"}
        )
        expected = (("doc.lang", "keyword"), ("workspace_id", "integer"), ("year", "float"))
        assert again.indexed_fields == expected
        assert store.get_collection(name).indexed_fields == expected
        store.upsert(name, [self.item("a", 1.0, workspace_id=7, doc={"lang": "en"}, year=2024.0)], model=MODEL)
        hits = store.search(name, self.basis(1.0), model=MODEL, where=And(Eq("workspace_id", 7), Eq("doc.lang", "en")))
        assert [hit.key for hit in hits] == ["a"]

    @pytest.mark.parametrize(
        "fields", [{"a": "text"}, {"bad path!": "keyword"}, ["workspace_id"], {"a": None}], ids=repr
    )
    def test_invalid_indexed_fields_are_refused(self, store, fields):
        with pytest.raises(InvalidInput):
            store.create_collection("contract.bad-fields", dimension=self.dimension, model=MODEL, indexed_fields=fields)
        with pytest.raises(UnknownCollection):
            store.get_collection("contract.bad-fields")

    # ------------------------------------------------------------ neutral filters

    @pytest.fixture
    def tagged(self, store, collection) -> str:
        store.upsert(
            collection,
            [
                self.item("a", 1.0, 0.0, lang="en", tags=["ai", "db"], year=2021, meta={"draft": True}),
                self.item("b", 1.0, 0.1, lang="fr", tags=["db"], year=2023),
                self.item("c", 1.0, 0.2, lang="en", tags=[], year=2024.5, meta={"draft": False}),
                self.item("d", 1.0, 0.3, lang="de", year=2019),
            ],
            model=MODEL,
        )
        return collection

    @pytest.mark.parametrize(
        ("where", "expected"),
        [
            (Eq("lang", "en"), ["a", "c"]),
            (Eq("tags", "db"), ["a", "b"]),
            (Eq("meta.draft", True), ["a"]),
            (Eq("year", 2023.0), ["b"]),
            (In("lang", ["fr", "de"]), ["b", "d"]),
            (ContainsAll("tags", ["ai", "db"]), ["a"]),
            (Range("year", gte=2021, lt=2024), ["a", "b"]),
            (Range("year", gt=2024), ["c"]),
            (Exists("tags"), ["a", "b"]),
            (Not(Exists("meta")), ["b", "d"]),
            (Not(Eq("lang", "en")), ["b", "d"]),
            (Or(Eq("lang", "de"), Eq("meta.draft", False)), ["c", "d"]),
            (And(Eq("lang", "en"), Range("year", lte=2022)), ["a"]),
        ],
        ids=repr,
    )
    def test_neutral_filters_in_search_and_count(self, store, tagged, where, expected):
        hits = store.search(tagged, self.basis(1.0, 0.0), model=MODEL, k=10, where=where)
        assert [hit.key for hit in hits] == expected  # the nearest first, and no two at one distance
        assert store.count(tagged, where=where) == len(expected)

    def test_where_and_filter_combine_and_delete_where_takes_both(self, store, tagged):
        assert store.count(tagged, filter={"lang": "en"}, where=Range("year", gt=2022)) == 1
        assert store.delete_where(tagged, where=In("lang", ["fr", "de"])) == 2
        assert sorted(item.key for item in store.scan(tagged).items) == ["a", "c"]
        assert store.delete_where(tagged, {"lang": "en"}, where=Eq("meta.draft", True)) == 1
        with pytest.raises(InvalidInput):
            store.delete_where(tagged, where=And())
        with pytest.raises(InvalidInput):
            store.delete_where(tagged)
        assert store.count(tagged) == 1

    @pytest.mark.parametrize("where", [{"lang": "en"}, "lang", [Eq("lang", "en")]], ids=repr)
    def test_a_where_that_is_not_a_filter_is_refused(self, store, tagged, where):
        with pytest.raises(InvalidFilter):
            store.search(tagged, self.basis(1.0), model=MODEL, where=where)
        with pytest.raises(InvalidFilter):
            store.count(tagged, where=where)
