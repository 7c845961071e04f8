"""What every DocumentStore adapter must do. Uses only the port API and the port errors.

Subclass it as ``class TestMyDocumentStore(DocumentStoreContract)`` and provide the ``store``
fixture (plus whatever marks the adapter needs, e.g. ``pytest.mark.django_db``) and an
``unavailable_store`` fixture: the same adapter pointed at a server that does not answer.
Cases are skipped only where ``store.features`` says the adapter cannot do them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.db import transaction

from core.storage.filters import ContainsAny
from core.storage.ports import (
    DocumentFeatures,
    DocumentStore,
    InvalidInput,
    InvalidName,
    MalformedDocument,
    NotSupported,
    PayloadTooLarge,
    StoredDocument,
    StoreUnavailable,
    UnknownCollection,
)
from tests.contracts.document_data import (
    BAD_IDS,
    BAD_NAMES,
    COLLECTION,
    MALFORMED_TEXT,
    NOT_FINITE,
    NOT_OBJECTS,
    NOT_SERIALISABLE,
    OTHER,
    WITH_NUL,
    Boom,
)
from tests.contracts.document_query_cases import DocumentQueryCases
from tests.contracts.features import FeatureGate, skip_if_feature, skip_unless_feature


class DocumentStoreContract(DocumentQueryCases, FeatureGate):
    @pytest.fixture
    def store(self) -> DocumentStore:
        raise NotImplementedError("the adapter's test class provides the store")

    @pytest.fixture
    def unavailable_store(self) -> DocumentStore:
        raise NotImplementedError("the adapter's test class provides a store whose server does not answer")

    @pytest.fixture
    def collection(self, store: DocumentStore) -> Iterator[str]:
        store.create_collection(COLLECTION)
        yield COLLECTION
        store.drop_collection(COLLECTION)

    @pytest.fixture
    def filled(self, store: DocumentStore, collection: str) -> str:
        store.put_many(
            collection,
            [
                ("doc-3", {"kind": "note", "tags": ["ai", "db"], "score": 7, "meta": {"lang": "en"}}),
                ("doc-1", {"kind": "note", "tags": ["db"], "score": 3, "meta": {"lang": "fr"}}),
                ("doc-2", {"kind": "paper", "tags": ["ai"], "score": 9, "meta": {"lang": "en"}}),
                ("doc-5", {"kind": "paper", "tags": [], "score": 1}),
                ("doc-4", {"kind": "note", "tags": ["ai"], "score": 5, "meta": {"lang": "en", "draft": True}}),
            ],
        )
        return collection

    # ------------------------------------------------------------ basics

    def test_store_implements_the_port(self, store):
        assert isinstance(store, DocumentStore)
        assert isinstance(store.features, DocumentFeatures)

    def test_writes_follow_the_callers_transaction_as_the_features_say(self, store, collection):
        with pytest.raises(Boom), transaction.atomic():
            store.put(collection, "in-tx", {"a": 1})
            raise Boom
        expected = None if store.features.joins_db_transaction else {"a": 1}
        assert store.get(collection, "in-tx") == expected

    def test_an_unreachable_store_raises_store_unavailable_after_validating(self, unavailable_store):
        with pytest.raises(InvalidName):
            unavailable_store.put(COLLECTION, "", {"a": 1})  # checked before any connection
        with pytest.raises(StoreUnavailable):
            unavailable_store.put(COLLECTION, "doc-1", {"a": 1})
        with pytest.raises(StoreUnavailable):
            unavailable_store.get(COLLECTION, "doc-1")
        unavailable_store.close()

    def test_put_then_get_round_trips_the_document(self, store, collection):
        body = {
            "title": "Ünïcødé ✓ 日本語",
            "n": 42,
            "big": 12345678901234567890,
            "x": 1.5,
            "ok": True,
            "none": None,
            "nested": {"list": [1, "two", {"three": [3.0]}], "empty": {}},
            "escaped": 'back\\slash "quoted" \\u0000 not a NUL',
        }
        store.put(collection, "doc-1", body)
        assert store.get(collection, "doc-1") == body

    def test_put_replaces_the_whole_document(self, store, collection):
        store.put(collection, "doc-1", {"a": 1, "b": 2})
        store.put(collection, "doc-1", {"c": 3})
        assert store.get(collection, "doc-1") == {"c": 3}
        assert store.count(collection) == 1

    @pytest.mark.parametrize(
        "raw", ['{"a": [1, 2], "b": "x"}', b'{"a": [1, 2], "b": "x"}', bytearray(b'{"a":[1,2],"b":"x"}')]
    )
    def test_put_parses_json_text(self, store, collection, raw):
        store.put(collection, "doc-1", raw)
        assert store.get(collection, "doc-1") == {"a": [1, 2], "b": "x"}

    def test_get_of_a_missing_document_is_none(self, store, collection):
        assert store.get(collection, "missing") is None

    def test_ids_may_use_any_printable_characters_up_to_255(self, store, collection):
        ids = ["x" * 255, "ünïcødé id", "a/b:c d?*[]%_'\"", "1"]
        for doc_id in ids:
            store.put(collection, doc_id, {"id": doc_id})
        assert store.get_many(collection, ids) == {doc_id: {"id": doc_id} for doc_id in ids}

    # ------------------------------------------------------------ collections

    def test_create_collection_is_idempotent(self, store, collection):
        store.put(collection, "doc-1", {"a": 1})
        store.create_collection(collection)
        assert store.get(collection, "doc-1") == {"a": 1}

    def test_collections_are_isolated(self, store, collection):
        store.create_collection(OTHER)
        try:
            store.put(collection, "same-id", {"in": "first"})
            store.put(OTHER, "same-id", {"in": "second"})
            assert store.get(collection, "same-id") == {"in": "first"}
            assert store.get(OTHER, "same-id") == {"in": "second"}
            assert store.find_ids(OTHER) == ["same-id"]
            store.delete(OTHER, "same-id")
            assert store.get(collection, "same-id") == {"in": "first"}
        finally:
            store.drop_collection(OTHER)

    def test_drop_collection_deletes_its_documents(self, store, collection):
        store.put(collection, "doc-1", {"a": 1})
        store.drop_collection(collection)
        with pytest.raises(UnknownCollection):
            store.get(collection, "doc-1")
        store.create_collection(collection)
        assert store.get(collection, "doc-1") is None
        assert store.count(collection) == 0

    def test_drop_of_an_unknown_collection_is_a_noop(self, store):
        store.drop_collection("contract.never-created")

    @pytest.mark.parametrize(
        "call",
        [
            lambda s: s.put("contract.missing", "d", {"a": 1}),
            lambda s: s.put_many("contract.missing", [("d", {"a": 1})]),
            lambda s: s.put_many("contract.missing", []),
            lambda s: s.get("contract.missing", "d"),
            lambda s: s.get_many("contract.missing", ["d"]),
            lambda s: s.delete("contract.missing", "d"),
            lambda s: s.delete_many("contract.missing", ["d"]),
            lambda s: s.find("contract.missing"),
            lambda s: s.find_ids("contract.missing", contains={"a": 1}),
            lambda s: s.count("contract.missing"),
        ],
        ids=[
            "put",
            "put_many",
            "put_many_empty",
            "get",
            "get_many",
            "delete",
            "delete_many",
            "find",
            "find_ids",
            "count",
        ],
    )
    def test_unknown_collection_raises(self, store, call):
        with pytest.raises(UnknownCollection):
            call(store)

    @pytest.mark.parametrize("name", BAD_NAMES)
    def test_invalid_collection_names_raise_invalid_name(self, store, name):
        with pytest.raises(InvalidName):
            store.create_collection(name)
        with pytest.raises(InvalidName):
            store.put(name, "doc-1", {"a": 1})
        with pytest.raises(InvalidName):
            store.find(name)

    @pytest.mark.parametrize("doc_id", BAD_IDS)
    def test_invalid_ids_raise_invalid_name_and_write_nothing(self, store, collection, doc_id):
        with pytest.raises(InvalidName):
            store.put(collection, doc_id, {"a": 1})
        with pytest.raises(InvalidName):
            store.put_many(collection, [("fine", {"a": 1}), (doc_id, {"a": 1})])
        with pytest.raises(InvalidName):
            store.get(collection, doc_id)
        assert store.count(collection) == 0

    # ------------------------------------------------------------ refused documents

    @pytest.mark.parametrize("document", NOT_OBJECTS)
    def test_documents_that_are_not_json_objects_are_refused(self, store, collection, document):
        with pytest.raises(MalformedDocument):
            store.put(collection, "doc-1", document)
        assert store.get(collection, "doc-1") is None

    @pytest.mark.parametrize("document", MALFORMED_TEXT)
    def test_malformed_json_text_is_refused(self, store, collection, document):
        with pytest.raises(MalformedDocument):
            store.put(collection, "doc-1", document)
        assert store.get(collection, "doc-1") is None

    @pytest.mark.parametrize("document", NOT_SERIALISABLE, ids=["object", "set", "bytes", "complex", "tuple-key"])
    def test_values_json_cannot_represent_are_refused(self, store, collection, document):
        with pytest.raises(MalformedDocument):
            store.put(collection, "doc-1", document)
        assert store.get(collection, "doc-1") is None

    @pytest.mark.parametrize("document", NOT_FINITE)
    def test_nan_and_infinity_are_refused(self, store, collection, document):
        with pytest.raises(MalformedDocument):
            store.put(collection, "doc-1", document)
        assert store.get(collection, "doc-1") is None

    @pytest.mark.parametrize("document", WITH_NUL)
    def test_nul_characters_are_refused(self, store, collection, document):
        with pytest.raises(MalformedDocument):
            store.put(collection, "doc-1", document)
        assert store.get(collection, "doc-1") is None

    def test_lone_surrogates_are_refused(self, store, collection):
        with pytest.raises(MalformedDocument):
            store.put(collection, "doc-1", {"a": "\ud800"})
        with pytest.raises(MalformedDocument):
            store.put(collection, "doc-1", '{"a": "\\ud800"}')

    def test_documents_over_the_size_limit_are_refused(self, store, collection, settings):
        settings.STRATA_MAX_DOCUMENT_BYTES = 1000
        store.put(collection, "small", {"text": "x" * 500})
        with pytest.raises(PayloadTooLarge):
            store.put(collection, "big", {"text": "x" * 2000})
        with pytest.raises(PayloadTooLarge):
            store.put(collection, "big", '{"text": "' + "é" * 600 + '"}')  # 1,200 bytes of UTF-8
        with pytest.raises(PayloadTooLarge):
            store.put_many(collection, [("a", {"ok": 1}), ("big", {"text": "x" * 2000})])
        assert store.find_ids(collection) == ["small"]

    def test_put_many_validates_every_document_before_writing(self, store, collection):
        good = [(f"doc-{i}", {"i": i}) for i in range(5)]
        for bad in ({"a": float("nan")}, "[1]", {"a": "\x00"}):
            with pytest.raises(MalformedDocument):
                store.put_many(collection, [*good, ("bad", bad)])
        with pytest.raises(InvalidInput):
            store.put_many(collection, [*good, ("only-one-element",)])
        assert store.count(collection) == 0

    # ------------------------------------------------------------ batch operations

    def test_put_many_writes_and_counts_documents(self, store, collection):
        written = store.put_many(collection, ((f"doc-{i}", {"i": i}) for i in range(250)))
        assert written == 250
        assert store.count(collection) == 250
        assert store.get(collection, "doc-249") == {"i": 249}

    def test_put_many_keeps_the_last_document_of_a_repeated_id(self, store, collection):
        store.put(collection, "doc-1", {"v": 0})
        written = store.put_many(collection, [("doc-1", {"v": 1}), ("doc-2", '{"v": 2}'), ("doc-1", b'{"v": 3}')])
        assert written == 2
        assert store.get_many(collection, ["doc-1", "doc-2"]) == {"doc-1": {"v": 3}, "doc-2": {"v": 2}}

    def test_get_many_returns_the_documents_that_exist(self, store, collection):
        store.put_many(collection, [("a", {"n": 1}), ("b", {"n": 2})])
        assert store.get_many(collection, ["a", "missing", "b", "a"]) == {"a": {"n": 1}, "b": {"n": 2}}
        assert store.get_many(collection, []) == {}

    def test_delete_reports_whether_a_document_was_deleted(self, store, collection):
        store.put(collection, "a", {"n": 1})
        assert store.delete(collection, "a") is True
        assert store.delete(collection, "a") is False
        assert store.get(collection, "a") is None

    def test_delete_many_returns_how_many_were_deleted(self, store, collection):
        store.put_many(collection, [(k, {"k": k}) for k in "abcd"])
        assert store.delete_many(collection, ["a", "c", "missing", "a"]) == 2
        assert store.find_ids(collection) == ["b", "d"]
        assert store.delete_many(collection, []) == 0

    # ------------------------------------------------------------ queries

    def test_find_by_containment(self, store, filled):
        assert [d.id for d in store.find(filled, contains={"kind": "note"})] == ["doc-1", "doc-3", "doc-4"]
        assert [d.id for d in store.find(filled, contains={"tags": ["ai"]})] == ["doc-2", "doc-3", "doc-4"]
        assert [d.id for d in store.find(filled, contains={"meta": {"lang": "en"}, "kind": "note"})] == [
            "doc-3",
            "doc-4",
        ]
        assert store.find(filled, contains={"kind": "video"}) == []

    def test_find_returns_stored_documents(self, store, filled):
        assert store.find(filled, contains={"kind": "paper", "score": 9}) == [
            StoredDocument(id="doc-2", body={"kind": "paper", "tags": ["ai"], "score": 9, "meta": {"lang": "en"}})
        ]

    @skip_unless_feature("supports_path_queries")
    def test_find_by_json_path(self, store, filled):
        assert [d.id for d in store.find(filled, path='$.tags[*] ? (@ == "ai")')] == ["doc-2", "doc-3", "doc-4"]
        assert [d.id for d in store.find(filled, path="$ ? (@.score > 4)")] == ["doc-2", "doc-3", "doc-4"]
        assert [d.id for d in store.find(filled, path="$.meta.draft")] == ["doc-4"]
        assert store.find(filled, path='$.tags[*] ? (@ == "nothing")') == []

    @skip_unless_feature("supports_path_queries")
    def test_find_with_containment_and_path(self, store, filled):
        found = store.find(filled, contains={"kind": "note"}, path='$.tags[*] ? (@ == "ai")')
        assert [d.id for d in found] == ["doc-3", "doc-4"]

    def test_find_orders_by_id_and_pages(self, store, filled):
        assert [d.id for d in store.find(filled)] == ["doc-1", "doc-2", "doc-3", "doc-4", "doc-5"]
        assert [d.id for d in store.find(filled, limit=2)] == ["doc-1", "doc-2"]
        assert [d.id for d in store.find(filled, limit=2, offset=2)] == ["doc-3", "doc-4"]
        assert [d.id for d in store.find(filled, limit=2, offset=4)] == ["doc-5"]
        assert store.find(filled, offset=10) == []
        assert store.find(filled, limit=0) == []

    def test_find_ids(self, store, filled):
        assert store.find_ids(filled) == ["doc-1", "doc-2", "doc-3", "doc-4", "doc-5"]
        assert store.find_ids(filled, contains={"kind": "paper"}) == ["doc-2", "doc-5"]
        assert store.find_ids(filled, where=ContainsAny("tags", ["db"])) == ["doc-1", "doc-3"]
        assert store.find_ids(filled, limit=3) == ["doc-1", "doc-2", "doc-3"]

    @skip_unless_feature("supports_path_queries")
    def test_find_ids_by_json_path(self, store, filled):
        assert store.find_ids(filled, path='$.tags[*] ? (@ == "db")') == ["doc-1", "doc-3"]

    @skip_if_feature("supports_path_queries")
    def test_json_path_queries_are_refused_without_the_feature(self, store, filled):
        with pytest.raises(NotSupported):
            store.find(filled, path="$.kind")

    def test_find_ids_without_limit_returns_everything(self, store, collection):
        store.put_many(collection, [(f"doc-{i:04d}", {"i": i}) for i in range(1500)])
        ids = store.find_ids(collection)
        assert len(ids) == 1500
        assert ids == sorted(ids)

    def test_count(self, store, filled):
        assert store.count(filled) == 5
        assert store.count(filled, contains={"kind": "note"}) == 3
        assert store.count(filled, contains={"meta": {"lang": "en"}}) == 3
        assert store.count(filled, contains={"kind": "video"}) == 0

    @skip_unless_feature("supports_path_queries")
    @pytest.mark.parametrize(
        "path",
        [
            "$.[",
            "$ ? (@.a ==",
            "not a path at all )",
            '$.a ? (@ like_regex "(")',
            "$.kind ? (@ == $undefined)",  # issue 6: an undefined variable was a raw ProgrammingError
            '$.kind ? (@ starts with $x && @ == "note")',
            '$.kind ? (@ == "\ud800")',
            "$" + "[0]" * 1000 + " ? (" * 500 + "@ == 1" + ")" * 500,
        ],
    )
    def test_malformed_json_path_raises_invalid_input_and_the_store_keeps_working(self, store, filled, path):
        with pytest.raises(InvalidInput):
            store.find(filled, path=path)
        with pytest.raises(InvalidInput):
            store.find_ids(filled, path=path)
        store.put(filled, "after-error", {"still": "working"})
        assert store.get(filled, "after-error") == {"still": "working"}

    @pytest.mark.parametrize(
        "path", ["strict $.kind.datetime()", "$.kind.double() ? (@ > 1)", "$.size() ? (@ / 0 == 1)"]
    )
    @skip_unless_feature("supports_path_queries")
    def test_errors_while_evaluating_a_path_are_no_match(self, store, filled, path):
        # @? suppresses errors of evaluation (type, arithmetic, datetime): such a path matches nothing
        assert store.find_ids(filled, path=path) == []

    @pytest.mark.parametrize("contains", [[1], "text", {"a": float("nan")}, {"a": "\x00"}])
    def test_invalid_containment_filters_are_refused(self, store, filled, contains):
        with pytest.raises(InvalidInput):
            store.find(filled, contains=contains)
        with pytest.raises(InvalidInput):
            store.count(filled, contains=contains)

    @pytest.mark.parametrize("kwargs", [{"limit": -1}, {"offset": -1}, {"limit": "10"}, {"limit": 1.5}])
    def test_invalid_paging_is_refused(self, store, filled, kwargs):
        with pytest.raises(InvalidInput):
            store.find(filled, **kwargs)
