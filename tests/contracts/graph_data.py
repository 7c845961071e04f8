"""The graph contract's data, helpers and fixtures (the cases are in graph_*_cases.py)."""

from __future__ import annotations

import threading

import pytest
from django.db import connections

from core.storage.ports import (
    Edge,
    GraphStore,
    Hop,
    Node,
    NodeRef,
)
from tests.contracts.features import FeatureGate

BAD_LABELS = ["", "has space", "1starts_with_digit", "semi;colon", 'quo"te', "da-sh", "naïve", "x" * 64, None, 5]
BAD_KEYS = ["", "x" * 256, "nul\x00byte", "new\nline", "tab\there", None, 12, b"bytes"]
ODD_KEYS = ["a", "A", "a%", "a_", "it's", 'say "hi"', "back\\slash", "ünïcode ✓", "$k", "x" * 255, "{key: 1}"]
NOT_JSON = [
    {"a": float("nan")},
    {"a": float("inf")},
    {"nested": [1, {"b": float("-inf")}]},
    {"a": object()},
    {"a": {1, 2}},
    {"a": b"bytes"},
    {"a": "x\x00y"},
    {"a\x00": 1},
    [1, 2],
    "text",
]
RICH = {
    "name": "Ada ✓",
    "n": 42,
    "big": 2**62,
    "f": 1.5,
    "neg": -3,
    "flag": True,
    "off": False,
    "none": None,
    "tags": ["x", "y", 3],
    "nested": {"deep": {"deeper": [1, {"k": "v"}]}},
    "quote": 'it\'s "quoted" ::vertex',
}

ALICE, BOB, CAROL, DAVE, ERIN = (NodeRef("Person", key) for key in ("alice", "bob", "carol", "dave", "erin"))
PARIS = NodeRef("City", "paris")


def refs(nodes: list[Node]) -> list[tuple[str, str]]:
    return [(node.label, node.key) for node in nodes]


def hops(found: list[Hop]) -> list[tuple[str, str, int]]:
    return [(hop.node.label, hop.node.key, hop.depth) for hop in found]


def edge_triples(edges: list[Edge]) -> list[tuple[str, str, str]]:
    return [(edge.type, edge.source.key, edge.target.key) for edge in edges]


class Boom(Exception):
    pass


def run_threads(count: int, work) -> list[BaseException]:
    """Run ``work(i)`` in ``count`` threads started together; the errors they raised."""
    barrier = threading.Barrier(count)
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            barrier.wait(timeout=30)
            work(i)
        except BaseException as error:  # noqa: BLE001 (reported to the test)
            errors.append(error)
        finally:
            connections.close_all()  # a thread's own database connections

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


class GraphFixtures(FeatureGate):
    @pytest.fixture
    def store(self) -> GraphStore:
        raise NotImplementedError("the adapter's test class provides a store on an empty graph")

    @pytest.fixture
    def unavailable_store(self) -> GraphStore:
        raise NotImplementedError("the adapter's test class provides a store whose server does not answer")

    @pytest.fixture
    def concurrent_store(self, store) -> GraphStore:
        """A store on an empty graph whose writes other threads see (override when ``store``'s don't)."""
        return store

    @pytest.fixture
    def schema(self, store: GraphStore) -> GraphStore:
        for label in ("Person", "City"):
            store.define_node_label(label)
        for edge_type in ("KNOWS", "LIVES_IN"):
            store.define_edge_type(edge_type)
        return store

    @pytest.fixture
    def social(self, schema: GraphStore) -> GraphStore:
        """alice -> bob -> carol -> dave -> erin, alice -> carol, dave -> alice (KNOWS);
        alice, bob -> paris (LIVES_IN)."""
        for ref in (ALICE, BOB, CAROL, DAVE, ERIN):
            schema.upsert_node(ref.label, ref.key, {"name": ref.key.title()})
        schema.upsert_node("City", "paris", {"name": "Paris", "population": 2_100_000})
        for source, target, since in [
            (ALICE, BOB, 2001),
            (BOB, CAROL, 2002),
            (CAROL, DAVE, 2003),
            (DAVE, ERIN, 2004),
            (ALICE, CAROL, 2005),
            (DAVE, ALICE, 2006),
        ]:
            schema.upsert_edge("KNOWS", source, target, {"since": since})
        schema.upsert_edge("LIVES_IN", ALICE, PARIS)
        schema.upsert_edge("LIVES_IN", BOB, PARIS, {"years": 3})
        return schema
