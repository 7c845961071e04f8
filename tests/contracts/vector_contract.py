"""What every VectorStore adapter must do. Uses only the port API and the port errors.

Subclass it as ``class TestMyVectorStore(VectorStoreContract)`` and provide the ``store``
fixture and an ``unavailable_store`` fixture (the adapter pointed at a server that does not
answer). ``dimension`` is the collection dimension the suite uses (the project's is 1536).
Cases are skipped only where ``store.features`` says the adapter cannot do them; where the
port leaves an order open (hits at equal distance) the suite accepts any order.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import pytest
from django.db import transaction

from core.storage.ports import (
    CollectionConflict,
    DimensionMismatch,
    InvalidInput,
    InvalidName,
    ModelMismatch,
    PayloadTooLarge,
    StoreUnavailable,
    UnknownCollection,
    VectorCollection,
    VectorFeatures,
    VectorItem,
    VectorStore,
)
from tests.contracts.features import FeatureGate, skip_unless_feature
from tests.contracts.vector_data import (
    COLLECTION,
    MODEL,
    Boom,
    same_vector,
)
from tests.contracts.vector_query_cases import VectorQueryCases


class VectorStoreContract(VectorQueryCases, FeatureGate):
    dimension = 1536

    @pytest.fixture
    def store(self) -> VectorStore:
        raise NotImplementedError("the adapter's test class provides the store")

    @pytest.fixture
    def unavailable_store(self) -> VectorStore:
        raise NotImplementedError("the adapter's test class provides a store whose server does not answer")

    @pytest.fixture
    def collection(self, store: VectorStore) -> Iterator[str]:
        store.create_collection(COLLECTION, dimension=self.dimension, model=MODEL)
        yield COLLECTION
        store.drop_collection(COLLECTION)

    @pytest.fixture
    def make_collection(self, store: VectorStore) -> Iterator:
        made: list[str] = []

        def make(name: str, **spec) -> str:
            spec.setdefault("dimension", self.dimension)
            spec.setdefault("model", MODEL)
            store.create_collection(name, **spec)
            made.append(name)
            return name

        yield make
        for name in made:
            store.drop_collection(name)

    # ------------------------------------------------------------ vectors used by the tests

    def basis(self, *weights: float) -> list[float]:
        """A vector whose first components are ``weights`` and the rest zero."""
        vector = [0.0] * self.dimension
        vector[: len(weights)] = weights
        return vector

    def item(self, key: str, *weights: float, **metadata) -> VectorItem:
        return VectorItem(key=key, vector=self.basis(*weights), metadata=metadata)

    # ------------------------------------------------------------ collections

    def test_store_implements_the_port(self, store):
        assert isinstance(store, VectorStore)
        assert isinstance(store.features, VectorFeatures)
        assert self.dimension <= store.features.max_dimension

    def test_writes_follow_the_callers_transaction_as_the_features_say(self, store, collection):
        with pytest.raises(Boom), transaction.atomic():
            store.upsert(collection, [self.item("in-tx", 1.0)], model=MODEL)
            raise Boom
        assert (store.get(collection, "in-tx") is None) == store.features.joins_db_transaction

    def test_an_unreachable_store_raises_store_unavailable_after_validating(self, unavailable_store):
        with pytest.raises(InvalidName):
            unavailable_store.get("bad name", "k")  # checked before any connection
        with pytest.raises(StoreUnavailable):
            unavailable_store.create_collection(COLLECTION, dimension=self.dimension, model=MODEL)
        with pytest.raises(StoreUnavailable):
            unavailable_store.get(COLLECTION, "k")
        unavailable_store.close()

    def test_create_get_and_list_collections(self, store, make_collection):
        make_collection("contract.b", model="model-b", metric="l2")
        make_collection("contract.a")
        assert store.get_collection("contract.a") == VectorCollection("contract.a", self.dimension, MODEL, "cosine")
        assert store.get_collection("contract.b") == VectorCollection("contract.b", self.dimension, "model-b", "l2")
        listed = [c for c in store.list_collections() if c.name.startswith("contract.")]
        assert [c.name for c in listed] == ["contract.a", "contract.b"]

    def test_create_collection_returns_the_collection_and_is_idempotent(self, store, collection):
        store.upsert(collection, [self.item("k", 1.0)], model=MODEL)
        again = store.create_collection(collection, dimension=self.dimension, model=MODEL)
        assert again == VectorCollection(collection, self.dimension, MODEL, "cosine")
        assert store.count(collection) == 1

    @pytest.mark.parametrize("change", [{"model": "model-b"}, {"metric": "l2"}, {"metric": "inner_product"}])
    def test_recreating_with_a_different_spec_raises_collection_conflict(self, store, collection, change):
        spec = {"dimension": self.dimension, "model": MODEL, "metric": "cosine", **change}
        with pytest.raises(CollectionConflict):
            store.create_collection(collection, **spec)
        assert store.get_collection(collection).model == MODEL
        assert store.get_collection(collection).metric == "cosine"

    @pytest.mark.parametrize(
        "spec",
        [
            {"dimension": 0},
            {"dimension": -3},
            {"dimension": "1536"},
            {"dimension": True},
            {"metric": "dot"},
            {"model": ""},
            {"model": None},
        ],
    )
    def test_invalid_collection_specs_are_refused(self, store, spec):
        full = {"dimension": self.dimension, "model": MODEL, "metric": "cosine", **spec}
        with pytest.raises(InvalidInput):
            store.create_collection("contract.invalid", **full)
        with pytest.raises(UnknownCollection):
            store.get_collection("contract.invalid")

    @pytest.mark.parametrize("name", ["", "with space", "a/b", "quote'", "x" * 201, None])
    def test_invalid_collection_names_raise_invalid_name(self, store, name):
        with pytest.raises(InvalidName):
            store.create_collection(name, dimension=self.dimension, model=MODEL)
        with pytest.raises(InvalidName):
            store.get_collection(name)

    def test_unknown_collection_raises(self, store):
        missing = "contract.missing"
        with pytest.raises(UnknownCollection):
            store.get_collection(missing)
        with pytest.raises(UnknownCollection):
            store.upsert(missing, [self.item("k", 1.0)], model=MODEL)
        with pytest.raises(UnknownCollection):
            store.search(missing, self.basis(1.0), model=MODEL)
        with pytest.raises(UnknownCollection):
            store.get(missing, "k")
        with pytest.raises(UnknownCollection):
            store.count(missing)
        with pytest.raises(UnknownCollection):
            store.delete(missing, ["k"])
        with pytest.raises(UnknownCollection):
            store.delete_where(missing, {"a": 1})

    def test_drop_collection_removes_it_and_its_vectors(self, store, collection):
        store.upsert(collection, [self.item("k", 1.0)], model=MODEL)
        store.drop_collection(collection)
        with pytest.raises(UnknownCollection):
            store.get_collection(collection)
        store.create_collection(collection, dimension=self.dimension, model=MODEL)
        assert store.count(collection) == 0
        assert store.get(collection, "k") is None

    def test_drop_of_an_unknown_collection_is_a_noop(self, store):
        store.drop_collection("contract.never-created")

    def test_collections_are_isolated(self, store, collection, make_collection):
        other = make_collection("contract.other")
        store.upsert(collection, [self.item("same", 1.0, where="first")], model=MODEL)
        store.upsert(other, [self.item("same", 0.0, 1.0, where="second"), self.item("x", 1.0)], model=MODEL)
        assert store.get(collection, "same").metadata == {"where": "first"}
        assert [hit.key for hit in store.search(collection, self.basis(1.0), model=MODEL, k=10)] == ["same"]
        assert store.count(other) == 2

    # ------------------------------------------------------------ writes

    def test_upsert_then_get_round_trips(self, store, collection):
        written = store.upsert(
            collection,
            [self.item("k1", 0.25, -0.5, 1.0, tag="x", n=1, nested={"list": [1, 2]}), self.item("k2", 1.0)],
            model=MODEL,
        )
        assert written == 2
        got = store.get(collection, "k1")
        assert got.key == "k1"
        assert len(got.vector) == self.dimension
        assert same_vector(got.vector, self.basis(0.25, -0.5, 1.0), store)
        assert got.metadata == {"tag": "x", "n": 1, "nested": {"list": [1, 2]}}
        assert store.get(collection, "k2").metadata == {}

    def test_get_of_a_missing_key_is_none(self, store, collection):
        assert store.get(collection, "missing") is None

    def test_upsert_replaces_vector_and_metadata(self, store, collection):
        store.upsert(collection, [self.item("k", 1.0, old=True)], model=MODEL)
        store.upsert(collection, [self.item("k", 0.0, 1.0, new=True)], model=MODEL)
        got = store.get(collection, "k")
        assert same_vector(got.vector, self.basis(0.0, 1.0), store)
        assert got.metadata == {"new": True}
        assert store.count(collection) == 1

    def test_upsert_keeps_the_last_item_of_a_repeated_key(self, store, collection):
        written = store.upsert(
            collection, [self.item("k", 1.0, v=1), self.item("other", 1.0), self.item("k", 0.0, 1.0, v=2)], model=MODEL
        )
        assert written == 2
        assert store.get(collection, "k").metadata == {"v": 2}

    @pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64])
    def test_upsert_and_search_accept_numpy_arrays(self, store, collection, dtype):
        vector = np.zeros(self.dimension, dtype=dtype)
        vector[3] = 2
        store.upsert(collection, [VectorItem("np", vector, {"dtype": str(np.dtype(dtype))})], model=MODEL)
        assert same_vector(store.get(collection, "np").vector, self.basis(0.0, 0.0, 0.0, 2.0), store)
        hits = store.search(collection, vector, model=MODEL, k=1)
        assert hits[0].key == "np"

    def test_upsert_accepts_a_generator_and_tuples(self, store, collection):
        items = (VectorItem(f"k{i}", tuple(self.basis(1.0, float(i)))) for i in range(20))
        assert store.upsert(collection, items, model=MODEL) == 20
        assert store.count(collection) == 20

    def test_bulk_load_writes_every_item_and_refuses_another_model(self, store, collection, settings):
        settings.STRATA_VECTOR_LIVE_BATCH = 7  # several batches
        with pytest.raises(ModelMismatch):
            store.bulk_load(collection, model="model-other", rows=20)
        with store.bulk_load(collection, model=MODEL, rows=20) as load:
            assert load.add(self.item(f"k{i:02d}", 1.0, float(i), n=i) for i in range(20)) == 20
        assert store.count(collection) == 20
        assert store.get(collection, "k05").metadata == {"n": 5}
        assert store.search(collection, self.basis(1.0, 5.0), model=MODEL, k=1)[0].key == "k05"

    def test_an_index_kind_is_accepted_or_refused_by_the_port(self, store, make_collection):
        name = make_collection("contract.binary", index="binary")
        assert store.get_collection(name) == VectorCollection(name, self.dimension, MODEL, "cosine")
        with pytest.raises(InvalidInput, match="unknown vector index"):
            store.create_collection("contract.bad", dimension=self.dimension, model=MODEL, index="flat")

    def test_upsert_of_nothing_writes_nothing(self, store, collection):
        assert store.upsert(collection, [], model=MODEL) == 0
        assert store.count(collection) == 0

    def test_wrong_dimension_raises_dimension_mismatch_and_writes_nothing(self, store, collection):
        short = VectorItem("short", [1.0] * (self.dimension - 1))
        with pytest.raises(DimensionMismatch) as error:
            store.upsert(collection, [self.item("good", 1.0), short], model=MODEL)
        assert str(self.dimension) in str(error.value) and str(self.dimension - 1) in str(error.value)
        with pytest.raises(DimensionMismatch):
            store.upsert(collection, [VectorItem("long", [1.0] * (self.dimension + 1))], model=MODEL)
        assert store.count(collection) == 0

    def test_wrong_model_raises_model_mismatch_naming_both(self, store, collection):
        with pytest.raises(ModelMismatch) as error:
            store.upsert(collection, [self.item("k", 1.0)], model="model-z")
        assert MODEL in str(error.value) and "model-z" in str(error.value)
        assert store.count(collection) == 0

    @pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, 1e300])
    def test_non_finite_components_are_refused(self, store, collection, bad):
        with pytest.raises(InvalidInput):
            store.upsert(collection, [self.item("good", 1.0), self.item("bad", 1.0, bad)], model=MODEL)
        with pytest.raises(InvalidInput):
            store.search(collection, self.basis(1.0, bad), model=MODEL)
        assert store.count(collection) == 0

    @pytest.mark.parametrize("vector", ["not a vector", None, [[1.0, 2.0]], ["a"] * 1536, [None] * 1536])
    def test_vectors_that_are_not_number_sequences_are_refused(self, store, collection, vector):
        with pytest.raises(InvalidInput):
            store.upsert(collection, [VectorItem("k", vector)], model=MODEL)
        assert store.count(collection) == 0

    @pytest.mark.parametrize("metadata", [[1, 2], "text", {"a": math.nan}, {"a": "nul\x00"}, {"a": object()}], ids=str)
    def test_invalid_metadata_is_refused(self, store, collection, metadata):
        with pytest.raises(InvalidInput):
            store.upsert(collection, [self.item("good", 1.0), VectorItem("k", self.basis(1.0), metadata)], model=MODEL)
        assert store.count(collection) == 0

    def test_metadata_over_the_size_limit_is_refused(self, store, collection, settings):
        settings.STRATA_MAX_METADATA_BYTES = 200
        store.upsert(collection, [self.item("small", 1.0, text="x" * 50)], model=MODEL)
        with pytest.raises(PayloadTooLarge):
            store.upsert(collection, [self.item("big", 1.0, text="x" * 500)], model=MODEL)
        assert store.get(collection, "big") is None

    @pytest.mark.parametrize("key", ["", "x" * 256, "nul\x00", "new\nline", None, 7])
    def test_invalid_keys_raise_invalid_name(self, store, collection, key):
        with pytest.raises(InvalidName):
            store.upsert(collection, [self.item("good", 1.0), VectorItem(key, self.basis(1.0))], model=MODEL)
        with pytest.raises(InvalidName):
            store.get(collection, key)
        assert store.count(collection) == 0

    def test_items_must_be_vector_items(self, store, collection):
        with pytest.raises(InvalidInput):
            store.upsert(collection, [("k", self.basis(1.0), {})], model=MODEL)

    # ------------------------------------------------------------ deletes and counts

    def test_delete_by_keys(self, store, collection):
        store.upsert(collection, [self.item(k, 1.0) for k in "abcd"], model=MODEL)
        assert store.delete(collection, ["a", "c", "missing"]) == 2
        assert store.get(collection, "a") is None
        assert store.count(collection) == 2
        assert store.delete(collection, []) == 0

    def test_delete_where_metadata_contains(self, store, collection):
        store.upsert(
            collection,
            [self.item("a", 1.0, doc=1), self.item("b", 1.0, doc=1, extra=True), self.item("c", 1.0, doc=2)],
            model=MODEL,
        )
        assert store.delete_where(collection, {"doc": 1}) == 2
        assert store.count(collection) == 1
        assert store.get(collection, "c") is not None
        assert store.delete_where(collection, {"doc": 99}) == 0

    def test_delete_where_refuses_an_empty_filter(self, store, collection):
        store.upsert(collection, [self.item("a", 1.0)], model=MODEL)
        with pytest.raises(InvalidInput):
            store.delete_where(collection, {})
        with pytest.raises(InvalidInput):
            store.delete_where(collection, [1])
        assert store.count(collection) == 1

    def test_count_with_a_filter(self, store, collection):
        store.upsert(
            collection,
            [self.item(f"k{i}", 1.0, float(i), parity="even" if i % 2 == 0 else "odd", tags=["x"]) for i in range(9)],
            model=MODEL,
        )
        assert store.count(collection) == 9
        assert store.count(collection, filter={"parity": "even"}) == 5
        assert store.count(collection, filter={"tags": ["x"], "parity": "odd"}) == 4
        assert store.count(collection, filter={"parity": "none"}) == 0

    # ------------------------------------------------------------ search

    def test_search_returns_the_nearest_first_with_cosine_scores(self, store, collection):
        store.upsert(
            collection,
            [
                self.item("exact", 1.0, 0.0),
                self.item("close", 0.9, 0.1),
                self.item("far", 0.1, 0.9),
                self.item("opposite", -1.0, 0.0),
                self.item("scaled", 5.0, 0.0),
            ],
            model=MODEL,
        )
        hits = store.search(collection, self.basis(2.0, 0.0), model=MODEL, k=4)
        assert {hits[0].key, hits[1].key} == {"exact", "scaled"}  # a tie: any order
        assert [hit.key for hit in hits[2:]] == ["close", "far"]
        assert hits[0].score == pytest.approx(1.0, abs=1e-6)
        assert hits[0].distance == pytest.approx(0.0, abs=1e-6)
        assert hits[2].score == pytest.approx(0.9 / math.hypot(0.9, 0.1), abs=1e-5)
        assert all(hit.score == pytest.approx(1.0 - hit.distance) for hit in hits)
        assert [hit.score for hit in hits] == sorted((hit.score for hit in hits), reverse=True)

    def test_search_returns_metadata_and_at_most_k_hits(self, store, collection):
        store.upsert(collection, [self.item(f"k{i}", 1.0, i / 10, i=i) for i in range(30)], model=MODEL)
        hits = store.search(collection, self.basis(1.0, 0.0), model=MODEL, k=5)
        assert [hit.key for hit in hits] == ["k0", "k1", "k2", "k3", "k4"]
        assert [hit.metadata for hit in hits] == [{"i": i} for i in range(5)]
        assert len(store.search(collection, self.basis(1.0), model=MODEL, k=100)) == 30

    def test_search_with_a_metadata_filter(self, store, collection):
        store.upsert(
            collection,
            [self.item(f"k{i}", 1.0, i / 10, group="a" if i % 3 == 0 else "b", i=i) for i in range(30)],
            model=MODEL,
        )
        hits = store.search(collection, self.basis(1.0, 0.0), model=MODEL, k=4, filter={"group": "a"})
        assert [hit.key for hit in hits] == ["k0", "k3", "k6", "k9"]
        assert store.search(collection, self.basis(1.0), model=MODEL, k=4, filter={"group": "none"}) == []

    @pytest.mark.parametrize(
        "metric,expected_order,score",
        [
            ("l2", ["a", "b", "c"], lambda q, v: -math.dist(q, v)),
            ("inner_product", ["c", "b", "a"], lambda q, v: sum(x * y for x, y in zip(q, v, strict=True))),
        ],
    )
    def test_search_scores_for_l2_and_inner_product(self, store, make_collection, metric, expected_order, score):
        name = make_collection(f"contract.{metric.replace('_', '-')}", metric=metric)
        vectors = {"a": [1.0, 0.0], "b": [2.0, 0.5], "c": [4.0, 1.0]}
        store.upsert(name, [self.item(key, *v) for key, v in vectors.items()], model=MODEL)
        query = [1.0, 0.0]
        hits = store.search(name, self.basis(*query), model=MODEL, k=3)
        assert [hit.key for hit in hits] == expected_order
        for hit in hits:
            assert hit.score == pytest.approx(score(query, vectors[hit.key]), abs=1e-5)
            assert hit.distance == pytest.approx(-hit.score, abs=1e-5)

    def test_search_checks_model_dimension_and_k(self, store, collection):
        store.upsert(collection, [self.item("k", 1.0)], model=MODEL)
        with pytest.raises(ModelMismatch):
            store.search(collection, self.basis(1.0), model="model-z")
        with pytest.raises(DimensionMismatch):
            store.search(collection, [1.0, 0.0], model=MODEL)
        for k in (0, -1, "3", 1.5):
            with pytest.raises(InvalidInput):
                store.search(collection, self.basis(1.0), model=MODEL, k=k)
        with pytest.raises(InvalidInput):
            store.search(collection, self.basis(1.0), model=MODEL, filter=[1])

    @skip_unless_feature("orders_ties_by_key")
    def test_equally_distant_hits_come_ordered_by_key(self, store, collection):
        store.upsert(collection, [self.item(key, 1.0) for key in ("b", "c", "a")], model=MODEL)
        assert [hit.key for hit in store.search(collection, self.basis(1.0), model=MODEL, k=3)] == ["a", "b", "c"]

    def test_k_is_bounded_by_the_features(self, store, collection):
        store.upsert(collection, [self.item("k", 1.0)], model=MODEL)
        assert len(store.search(collection, self.basis(1.0), model=MODEL, k=store.features.max_k)) == 1
        with pytest.raises(InvalidInput):
            store.search(collection, self.basis(1.0), model=MODEL, k=store.features.max_k + 1)

    def test_dimensions_are_checked_against_the_features(self, store, make_collection):
        dimensions = store.features.dimensions
        for dimension in (8, 384, 3072):
            if dimensions is None or dimension in dimensions:
                name = make_collection(f"contract.dim{dimension}", dimension=dimension)
                vector = [0.0] * dimension
                vector[1] = 1.0
                store.upsert(name, [VectorItem("k", vector)], model=MODEL)
                assert store.search(name, vector, model=MODEL, k=1)[0].key == "k"
            else:
                with pytest.raises(InvalidInput):
                    store.create_collection(f"contract.dim{dimension}", dimension=dimension, model=MODEL)
        with pytest.raises(InvalidInput):
            store.create_collection("contract.huge", dimension=store.features.max_dimension + 1, model=MODEL)
