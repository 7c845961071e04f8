"""Graph contract: Cypher, scans and counts, node filters, concurrent writers."""

from __future__ import annotations

import math

import pytest

from core.storage.filters import And, Eq, Exists, In, Not, Range
from core.storage.ports import (
    Edge,
    InvalidInput,
    InvalidName,
    MalformedDocument,
    Node,
    NodeRef,
    NotSupported,
    Page,
    Path,
    UnknownLabel,
)
from tests.contracts.features import skip_if_feature, skip_unless_feature
from tests.contracts.graph_data import (
    ALICE,
    BOB,
    CAROL,
    PARIS,
    GraphFixtures,
    run_threads,
)


class GraphQueryCases(GraphFixtures):
    # ------------------------------------------------------------ cypher

    @skip_unless_feature("supports_cypher")
    def test_cypher_with_parameters_returns_rows_keyed_by_columns(self, social):
        rows = social.cypher(
            "MATCH (a:Person)-[e:KNOWS]->(b:Person) WHERE a.key = $k RETURN b.key, e.since ORDER BY b.key",
            {"k": "alice"},
            columns=["friend", "since"],
        )
        assert rows == [{"friend": "bob", "since": 2001}, {"friend": "carol", "since": 2005}]

    @skip_unless_feature("supports_cypher")
    def test_cypher_returns_neutral_nodes_edges_and_paths(self, social):
        [row] = social.cypher("MATCH (n:City) WHERE n.key = $k RETURN n", {"k": "paris"})
        assert row == {"result": Node("City", "paris", {"name": "Paris", "population": 2_100_000})}
        rows = social.cypher(
            "MATCH (a:Person)-[e:KNOWS]->(b:Person) WHERE a.key = $k AND b.key = $t RETURN a, e, b",
            {"k": "alice", "t": "bob"},
            columns=["a", "e", "b"],
        )
        assert rows == [
            {
                "a": Node("Person", "alice", {"name": "Alice"}),
                "e": Edge("KNOWS", ALICE, BOB, {"since": 2001}),
                "b": Node("Person", "bob", {"name": "Bob"}),
            }
        ]
        [row] = social.cypher(
            "MATCH p = (a:Person)-[:KNOWS]->(b:Person) WHERE a.key = $k AND b.key = $t RETURN p",
            {"k": "bob", "t": "carol"},
        )
        assert row["result"] == Path(
            nodes=[Node("Person", "bob", {"name": "Bob"}), Node("Person", "carol", {"name": "Carol"})],
            edges=[Edge("KNOWS", BOB, CAROL, {"since": 2002})],
        )

    @skip_unless_feature("supports_cypher")
    def test_cypher_reads_at_most_max_rows(self, social):
        """What the console asks for: MATCH (n) RETURN n over a big graph read and converted every
        node (2 s for 55,000 of them) to show 200."""
        everything = social.cypher("MATCH (n) RETURN n.key ORDER BY n.key")
        assert len(everything) > 2
        assert social.cypher("MATCH (n) RETURN n.key ORDER BY n.key", max_rows=2) == everything[:2]
        assert social.cypher("MATCH (n) RETURN n.key ORDER BY n.key", max_rows=10**6) == everything
        for bad in (0, -1, True, "2", 2.5):
            with pytest.raises(InvalidInput):
                social.cypher("RETURN 1", max_rows=bad)

    @skip_if_feature("supports_cypher")
    def test_cypher_is_refused_without_the_feature(self, social):
        with pytest.raises(NotSupported):
            social.cypher("RETURN 1")

    @skip_unless_feature("supports_cypher")
    def test_cypher_parameters_are_values_not_code(self, social):
        for value in ["alice' OR 1=1 //", '"}) MATCH (n) DETACH DELETE n //', "$k", "%s", "x\\"]:
            assert social.cypher("MATCH (n:Person) WHERE n.key = $k RETURN n.key", {"k": value}) == []
        assert social.get_node(ALICE) is not None

    @skip_unless_feature("supports_cypher")
    def test_cypher_scalars_round_trip(self, schema):
        [row] = schema.cypher(
            "RETURN 1, 2.5, 'text ::vertex \"q\"', true, null, [1, 'a'], {a: {b: 1}}",
            columns=["i", "f", "s", "b", "n", "l", "m"],
        )
        assert row == {
            "i": 1,
            "f": 2.5,
            "s": 'text ::vertex "q"',
            "b": True,
            "n": None,
            "l": [1, "a"],
            "m": {"a": {"b": 1}},
        }
        assert not math.isnan(row["f"])

    @skip_unless_feature("supports_cypher")
    @pytest.mark.parametrize("columns", [[], ["a b"], ["x); DROP TABLE t; --"], ["a", "a"], "result", [None]])
    def test_cypher_columns_are_checked(self, schema, columns):
        with pytest.raises(InvalidInput):
            schema.cypher("RETURN 1", columns=columns)

    @skip_unless_feature("supports_cypher")
    def test_cypher_params_must_be_json(self, schema):
        with pytest.raises(MalformedDocument):
            schema.cypher("RETURN $x", {"x": float("nan")})

    # ------------------------------------------------------------ scans and counts (backfills)

    def test_scan_nodes_pages_through_every_node_once_in_key_order(self, schema):
        schema.bulk_load(nodes=[Node("Person", f"p{i:03d}", {"i": i}) for i in range(25)])
        schema.upsert_node("City", "paris")
        seen: list[Node] = []
        cursor = None
        while True:
            page = schema.scan_nodes("Person", after=cursor, limit=10)
            assert isinstance(page, Page) and len(page.items) <= 10
            seen.extend(page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        assert seen == [Node("Person", f"p{i:03d}", {"i": i}) for i in range(25)]
        assert schema.scan_nodes("City") == Page(items=[Node("City", "paris", {})], next_cursor=None)

    def test_scan_edges_pages_through_every_edge_once(self, social):
        seen: list[Edge] = []
        cursor = None
        while True:
            page = social.scan_edges("KNOWS", after=cursor, limit=4)
            seen.extend(page.items)
            cursor = page.next_cursor
            if cursor is None:
                break
        assert sorted((e.source.key, e.target.key, e.properties["since"]) for e in seen) == [
            ("alice", "bob", 2001),
            ("alice", "carol", 2005),
            ("bob", "carol", 2002),
            ("carol", "dave", 2003),
            ("dave", "alice", 2006),
            ("dave", "erin", 2004),
        ]
        assert {e.type for e in seen} == {"KNOWS"}
        lives = social.scan_edges("LIVES_IN").items
        assert sorted((e.source.key, e.target.key, e.properties.get("years", 0)) for e in lives) == [
            ("alice", "paris", 0),
            ("bob", "paris", 3),
        ]
        assert {(e.source, e.target) for e in lives} == {(ALICE, PARIS), (BOB, PARIS)}

    def test_counts(self, social):
        assert social.count_nodes() == 6
        assert social.count_nodes("Person") == 5
        assert social.count_nodes("City") == 1
        assert social.count_edges() == 8
        assert social.count_edges("KNOWS") == 6
        assert social.count_edges("LIVES_IN") == 2
        with pytest.raises(UnknownLabel):
            social.count_nodes("Robot")
        with pytest.raises(UnknownLabel):
            social.count_edges("HATES")

    def test_scans_and_counts_check_their_arguments(self, social):
        with pytest.raises(UnknownLabel):
            social.scan_nodes("Robot")
        with pytest.raises(UnknownLabel):
            social.scan_edges("Person")
        with pytest.raises(InvalidName):
            social.scan_nodes("Bad Label")
        for limit in (0, 10_001, "5"):
            with pytest.raises(InvalidInput):
                social.scan_nodes("Person", limit=limit)

    @pytest.mark.parametrize(
        ("where", "expected"),
        [
            (Eq("name", "Bob"), ["bob"]),
            (In("name", ["Alice", "Erin", "Zed"]), ["alice", "erin"]),
            (Range("rank", gte=2), ["carol", "dave"]),
            (Exists("tags"), ["alice", "bob"]),
            (Eq("tags", "x"), ["alice"]),  # an array matches through an element
            (Not(Exists("rank")), ["alice", "erin"]),
            (And(Exists("rank"), Not(Eq("name", "Dave"))), ["bob", "carol"]),
        ],
        ids=repr,
    )
    def test_nodes_filtered_by_top_level_properties(self, social, where, expected):
        social.upsert_node("Person", "alice", {"name": "Alice", "tags": ["x", "y"]})
        social.upsert_node("Person", "bob", {"name": "Bob", "rank": 1, "tags": []})
        social.upsert_node("Person", "bob", {"name": "Bob", "rank": 1, "tags": ["z"]})
        social.upsert_node("Person", "carol", {"name": "Carol", "rank": 2})
        social.upsert_node("Person", "dave", {"name": "Dave", "rank": 3.5})
        assert [n.key for n in social.scan_nodes("Person", where=where).items] == expected
        assert social.count_nodes("Person", where=where) == len(expected)

    @skip_if_feature("supports_nested_filter_paths")
    def test_nested_filter_paths_are_refused_without_the_feature(self, social):
        with pytest.raises(NotSupported):
            social.scan_nodes("Person", where=Eq("meta.lang", "en"))

    @skip_unless_feature("supports_nested_filter_paths")
    def test_nested_filter_paths(self, social):
        social.upsert_node("Person", "alice", {"meta": {"lang": "en"}})
        assert [n.key for n in social.scan_nodes("Person", where=Eq("meta.lang", "en")).items] == ["alice"]

    # ------------------------------------------------------------ concurrent writers

    def test_concurrent_writers_keep_nodes_and_edges_unique(self, concurrent_store):
        store = concurrent_store
        store.define_node_label("Person")
        store.define_edge_type("KNOWS")
        keys = [f"n{i}" for i in range(20)]

        def work(i: int) -> None:
            for key in keys if i % 2 == 0 else reversed(keys):
                store.upsert_node("Person", key, {"writer": i})
            for a, b in zip(keys, keys[1:], strict=False):
                store.upsert_edge("KNOWS", NodeRef("Person", a), NodeRef("Person", b), {"writer": i})
            store.bulk_load(
                nodes=[Node("Person", key, {"bulk": i}) for key in keys[:5]],
                edges=[Edge("KNOWS", NodeRef("Person", keys[0]), NodeRef("Person", k)) for k in keys[5:10]],
            )

        assert run_threads(4, work) == []
        assert store.count_nodes("Person") == 20
        assert store.count_edges("KNOWS") == 19 + 5
        assert len(store.scan_edges("KNOWS", limit=100).items) == 24
