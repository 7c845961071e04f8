"""Document contract: neutral filters and scans."""

from __future__ import annotations

import pytest

from core.storage.filters import And, ContainsAll, ContainsAny, Eq, Exists, In, Not, Or, Range
from core.storage.ports import (
    InvalidFilter,
    InvalidInput,
    Page,
    StoredDocument,
    UnknownCollection,
)
from tests.contracts.document_data import (
    ids,
)


class DocumentQueryCases:
    """Cases of DocumentStoreContract (its fixtures: store, collection, ...)."""

    # ------------------------------------------------------------ neutral filters

    @pytest.mark.parametrize(
        ("where", "expected"),
        [
            (Eq("kind", "note"), ["doc-1", "doc-3", "doc-4"]),
            (Eq("tags", "ai"), ["doc-2", "doc-3", "doc-4"]),  # an array matches through an element
            (Eq("meta.lang", "en"), ["doc-2", "doc-3", "doc-4"]),
            (Eq(("meta", "draft"), True), ["doc-4"]),
            (Eq("meta.draft", 1), []),  # booleans are not numbers
            (Eq("score", 7.0), ["doc-3"]),  # numbers compare by value
            (Eq("kind", "Note"), []),
            (In("meta.lang", ["fr", "de"]), ["doc-1"]),
            (In("score", [1, 9, 100]), ["doc-2", "doc-5"]),
            (ContainsAny("tags", ["db", "zz"]), ["doc-1", "doc-3"]),
            (ContainsAll("tags", ["ai", "db"]), ["doc-3"]),
            (ContainsAll("tags", ["ai"]), ["doc-2", "doc-3", "doc-4"]),
            (Range("score", gt=3, lte=7), ["doc-3", "doc-4"]),
            (Range("score", gte=9), ["doc-2"]),
            (Range("score", lt=1), []),
            (Range("kind", gt=0), []),  # strings are not in a numeric range
            (Exists("meta"), ["doc-1", "doc-2", "doc-3", "doc-4"]),
            (Exists("meta.draft"), ["doc-4"]),
            (Exists("tags"), ["doc-1", "doc-2", "doc-3", "doc-4"]),  # an empty array holds no value
            (Not(Exists("meta")), ["doc-5"]),
            (Not(Eq("meta.lang", "en")), ["doc-1", "doc-5"]),  # Not also matches a missing path
            (And(Eq("kind", "note"), Not(Eq("tags", "db"))), ["doc-4"]),
            (Or(Eq("kind", "paper"), Range("score", lt=4)), ["doc-1", "doc-2", "doc-5"]),
            (And(), ["doc-1", "doc-2", "doc-3", "doc-4", "doc-5"]),
            (Or(), []),
        ],
        ids=repr,
    )
    def test_neutral_filters(self, store, filled, where, expected):
        assert ids(store.find(filled, where=where)) == expected
        assert store.find_ids(filled, where=where) == expected
        assert store.count(filled, where=where) == len(expected)

    def test_where_and_contains_combine(self, store, filled):
        found = store.find(filled, where=Range("score", gte=5), contains={"kind": "note"})
        assert ids(found) == ["doc-3", "doc-4"]
        assert store.count(filled, where=Exists("meta.draft"), contains={"meta": {"lang": "en"}}) == 1

    def test_containment_sugar_matches_array_elements_and_nested_objects(self, store, filled):
        assert store.find_ids(filled, contains={"tags": ["ai", "db"]}) == ["doc-3"]
        assert store.find_ids(filled, contains={"meta": {"lang": "en", "draft": True}}) == ["doc-4"]
        assert store.find_ids(filled, contains={}) == ["doc-1", "doc-2", "doc-3", "doc-4", "doc-5"]

    @pytest.mark.parametrize("where", ["kind", {"kind": "note"}, ("kind", "note"), 5, [Eq("kind", "note")]], ids=repr)
    def test_a_where_that_is_not_a_filter_is_refused(self, store, filled, where):
        with pytest.raises(InvalidFilter):
            store.find(filled, where=where)

    @pytest.mark.parametrize(
        "make",
        [
            lambda: Eq("has space", 1),
            lambda: Eq("", 1),
            lambda: Eq("a..b", 1),
            lambda: Eq("a", None),
            lambda: Eq("a", [1]),
            lambda: Eq("a", float("nan")),
            lambda: Eq("a", "nul\x00"),
            lambda: In("a", []),
            lambda: In("a", "text"),
            lambda: Range("a"),
            lambda: Range("a", gt="1"),
            lambda: Range("a", gt=1, gte=2),
            lambda: Not("a"),
        ],
    )
    def test_malformed_filters_are_refused_when_built(self, make):
        with pytest.raises(InvalidFilter):
            make()

    @pytest.mark.parametrize(
        "contains", [{"a": None}, {"a": [{"b": 1}]}, {"bad key!": 1}, {f"k{i}": "x" * 100 for i in range(20)}]
    )
    def test_containment_sugar_that_has_no_neutral_filter_is_refused(self, store, filled, contains, settings):
        settings.STRATA_MAX_DOCUMENT_BYTES = 1000  # the last one is too large
        with pytest.raises(InvalidInput):
            store.find(filled, contains=contains)

    # ------------------------------------------------------------ scans (backfills)

    def test_scan_pages_through_every_document_once(self, store, collection):
        store.put_many(collection, [(f"doc-{i:03d}", {"i": i}) for i in range(25)])
        seen: list[StoredDocument] = []
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
        assert sorted(d.id for d in seen) == [f"doc-{i:03d}" for i in range(25)]
        assert all(d.body == {"i": int(d.id[4:])} for d in seen)

    def test_scan_of_an_empty_collection_is_one_empty_page(self, store, collection):
        assert store.scan(collection) == Page(items=[], next_cursor=None)

    def test_scan_checks_its_arguments(self, store, collection):
        with pytest.raises(UnknownCollection):
            store.scan("contract.missing")
        for limit in (0, -1, 10_001, "5"):
            with pytest.raises(InvalidInput):
                store.scan(collection, limit=limit)
        with pytest.raises(InvalidInput):
            store.scan(collection, after=5)
