"""AgeGraphStore: the GraphStore contract suite plus what is specific to Apache AGE."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.test.utils import CaptureQueriesContext
from psycopg import sql

from core.storage import get_graph_store
from core.storage.ports import (
    Edge,
    InvalidInput,
    InvalidName,
    MalformedDocument,
    Node,
    NodeNotFound,
    NodeRef,
    Path,
    PayloadTooLarge,
)
from core.storage.postgres.age import AgeGraphStore, parse_agtype
from tests.contracts.graph_contract import GraphStoreContract, run_threads
from tests.unreachable import unreachable_database

A, B, C = NodeRef("Person", "a"), NodeRef("Person", "b"), NodeRef("Person", "c")


class Boom(Exception):
    pass


def fresh_graph_name() -> str:
    return f"t_{uuid.uuid4().hex[:16]}"


@pytest.fixture
def age(db) -> AgeGraphStore:
    """A store on a graph of its own, created inside the test's transaction (AGE DDL is
    transactional, so the rollback at the end of the test removes it)."""
    store = AgeGraphStore(graph=fresh_graph_name())
    store.ensure_graph()
    return store


@pytest.fixture
def people(age: AgeGraphStore) -> AgeGraphStore:
    age.define_node_label("Person")
    age.define_edge_type("KNOWS")
    return age


@pytest.fixture
def committed(transactional_db) -> Iterator[AgeGraphStore]:
    """A store on a committed graph (for tests of the caller's own transactions); dropped after."""
    store = AgeGraphStore(graph=fresh_graph_name())
    store.define_node_label("Person")
    store.define_edge_type("KNOWS")
    yield store
    store.drop_graph()


def plan(query: sql.Composable, params: list | None = None) -> str:
    with connection.cursor() as cursor:
        cursor.execute((sql.SQL("EXPLAIN (COSTS OFF) ") + query).as_string(cursor.connection), params)
        return "\n".join(row[0] for row in cursor.fetchall())


def table_exists(schema: str, table: str) -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [f'"{schema}"."{table}"'])
        return cursor.fetchone()[0]


class TestAgeGraphStore(GraphStoreContract):
    @pytest.fixture
    def store(self, age):
        return age

    @pytest.fixture
    def unavailable_store(self):
        with unreachable_database() as alias:
            yield AgeGraphStore(graph=fresh_graph_name(), using=alias)

    @pytest.fixture
    def concurrent_store(self, db):
        """A graph committed by another connection, so the test's writer threads see its labels
        (it stays in the test database, which is dropped after the run)."""
        store = AgeGraphStore(graph=fresh_graph_name())
        assert run_threads(1, lambda _: (store.define_node_label("Person"), store.define_edge_type("KNOWS"))) == []
        return store


# ---------------------------------------------------------------- configuration and names


@pytest.mark.django_db
def test_it_is_the_configured_default_graph_store_on_the_project_graph():
    store = get_graph_store("knowledge")
    assert isinstance(store, AgeGraphStore)
    assert store.graph == settings.STRATA_GRAPH_NAME == AgeGraphStore().graph
    assert store.graph_exists()  # created by core's first migration


@pytest.mark.parametrize("name", ["ab", "Upper", "has-dash", "x; DROP SCHEMA public", "a" * 64, "", 5])
def test_invalid_graph_names_are_refused(name):
    with pytest.raises(InvalidName):
        AgeGraphStore(graph=name)


@pytest.mark.django_db
def test_graphs_are_isolated_from_each_other(people):
    other = AgeGraphStore(graph=fresh_graph_name())
    other.define_node_label("Person")
    people.upsert_node("Person", "a", {"graph": "first"})
    assert other.get_node(A) is None
    assert people.get_node(A).properties == {"graph": "first"}


@pytest.mark.django_db
def test_a_label_cannot_be_both_a_node_label_and_an_edge_type(people):
    with pytest.raises(InvalidInput, match="node label"):
        people.define_edge_type("Person")
    with pytest.raises(InvalidInput, match="edge type"):
        people.define_node_label("KNOWS")


@pytest.mark.django_db
def test_age_internal_tables_are_not_labels(people):
    with pytest.raises(InvalidName):
        people.define_node_label("_ag_label_vertex")
    assert people.node_labels() == ["Person"] and people.edge_types() == ["KNOWS"]


@pytest.mark.django_db
def test_hostile_names_and_keys_change_nothing(people):
    for name in ['Person"; DROP TABLE "Person"; --', "Person; DROP", "Person'"]:
        with pytest.raises(InvalidName):
            people.upsert_node(name, "a")
    key = '\'; DROP TABLE "Person"; -- $$ $strata_cypher$'
    people.upsert_node("Person", key, {"v": "'); DELETE FROM x; --"})
    assert people.get_node(NodeRef("Person", key)) == Node("Person", key, {"v": "'); DELETE FROM x; --"})
    assert table_exists(people.graph, "Person")


# ---------------------------------------------------------------- storage layout and indexes


@pytest.mark.django_db
def test_labels_are_age_tables_with_the_key_and_gin_indexes(people):
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tablename, indexdef FROM pg_indexes WHERE schemaname = %s ORDER BY indexname", [people.graph]
        )
        indexes = cursor.fetchall()
    person = "\n".join(d for t, d in indexes if t == "Person")
    knows = "\n".join(d for t, d in indexes if t == "KNOWS")
    assert "CREATE UNIQUE INDEX" in person and "agtype_access_operator(VARIADIC ARRAY[properties" in person
    assert "USING gin (properties)" in person
    assert "CREATE UNIQUE INDEX" in knows and "(start_id, end_id)" in knows
    assert "(end_id, start_id)" in knows  # incoming walks and their pages, in index order
    assert 'UNIQUE INDEX "KNOWS_id_uniq"' in knows and "btree (id)" in knows  # edges by id (paths)
    # AGE's own single-column (start_id) and (end_id) indexes are prefixes of those: dropped
    assert "(start_id)" not in knows and "(end_id)" not in knows


@pytest.mark.django_db
def test_key_lookups_use_the_unique_key_index(people):
    people.upsert_node("Person", "a")
    query = sql.SQL(
        "SELECT id FROM {} WHERE "
        "ag_catalog.agtype_access_operator(VARIADIC ARRAY[properties, '\"key\"'::ag_catalog.agtype]) = %s::text::agtype"
    ).format(sql.Identifier(people.graph, "Person"))
    assert "Person_key_uniq" in plan(query, ['"a"'])


@pytest.mark.django_db
def test_cypher_matches_by_key_can_use_the_gin_index(people):
    people.upsert_node("Person", "a")
    with connection.cursor() as cursor:
        cursor.execute("SET LOCAL enable_seqscan = off")
    cypher = sql.SQL("SELECT * FROM cypher({}, $$ MATCH (n:Person {{key: 'a'}}) RETURN n $$) AS (n agtype)")
    assert "Person_props_gin" in plan(cypher.format(sql.Literal(people.graph)))


@pytest.mark.django_db
def test_nodes_and_edges_live_in_age_and_cypher_sees_them(people):
    people.upsert_node("Person", "a", {"name": "Ada"})
    people.upsert_node("Person", "b")
    people.upsert_edge("KNOWS", A, B, {"since": 2020})
    rows = people.cypher(
        "MATCH (a:Person {key: $k})-[e:KNOWS]->(b) RETURN a, e, b.key", {"k": "a"}, columns=["a", "e", "b"]
    )
    assert rows == [{"a": Node("Person", "a", {"name": "Ada"}), "e": Edge("KNOWS", A, B, {"since": 2020}), "b": "b"}]


@pytest.mark.django_db
def test_what_cypher_writes_is_seen_by_the_port(people):
    people.cypher("CREATE (:Person {key: 'x', n: 1})-[:KNOWS {w: 2}]->(:Person {key: 'y'})")
    assert people.get_node(NodeRef("Person", "x")) == Node("Person", "x", {"n": 1})
    assert people.neighbours(NodeRef("Person", "x")) == [Node("Person", "y", {})]


@pytest.mark.django_db
def test_the_key_index_keeps_keys_unique_even_for_cypher(people):
    people.upsert_node("Person", "a")
    with pytest.raises(IntegrityError):
        people.cypher("CREATE (:Person {key: 'a'})")
    assert people.cypher("MATCH (n:Person) RETURN count(n)") == [{"result": 1}]  # the savepoint kept us usable


@pytest.mark.django_db
def test_defining_again_restores_a_missing_index(people):
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("DROP INDEX {}")
            .format(sql.Identifier(people.graph, "Person_props_gin"))
            .as_string(cursor.connection)
        )
    assert not table_exists(people.graph, "Person_props_gin")
    people.define_node_label("Person")
    assert table_exists(people.graph, "Person_props_gin")


@pytest.mark.django_db
def test_long_labels_get_distinct_index_names(age):
    first, second = "L" + "x" * 61 + "1", "L" + "x" * 61 + "2"
    age.define_node_label(first)
    age.define_node_label(second)
    age.upsert_node(first, "k", {"n": 1})
    age.upsert_node(second, "k", {"n": 2})
    age.upsert_node(second, "k", {"n": 3})  # ON CONFLICT needs this label's own unique index
    assert age.get_node(NodeRef(first, "k")).properties == {"n": 1}
    assert age.get_node(NodeRef(second, "k")).properties == {"n": 3}


# ---------------------------------------------------------------- values


@pytest.mark.django_db
def test_key_is_a_reserved_node_property(people):
    with pytest.raises(InvalidInput, match="reserved"):
        people.upsert_node("Person", "a", {"key": "b"})
    with pytest.raises(InvalidInput, match="reserved"):
        people.bulk_load(nodes=[Node("Person", "a", {"key": "b"})])
    assert people.get_node(A) is None
    people.upsert_node("Person", "a")
    people.upsert_node("Person", "b")
    assert people.upsert_edge("KNOWS", A, B, {"key": "edges may use it"}).properties == {"key": "edges may use it"}


@pytest.mark.django_db
def test_integers_must_fit_in_64_bits(people):
    assert people.upsert_node("Person", "a", {"n": 2**63 - 1, "m": -(2**63)}).properties == {
        "n": 2**63 - 1,
        "m": -(2**63),
    }
    assert people.get_node(A).properties == {"n": 2**63 - 1, "m": -(2**63)}
    for too_big in (2**63, -(2**63) - 1, [1, {"x": 10**30}]):
        with pytest.raises(MalformedDocument, match="64 bits"):
            people.upsert_node("Person", "b", {"n": too_big})
    assert people.get_node(B) is None


@pytest.mark.django_db
def test_unicode_and_surrogates(people):
    people.upsert_node("Person", "a", {"emoji": "🙂", "accents": "éàü", "escaped": "\\u0000 is text"})
    assert people.get_node(A).properties == {"emoji": "🙂", "accents": "éàü", "escaped": "\\u0000 is text"}
    with pytest.raises(MalformedDocument):
        people.upsert_node("Person", "b", {"lone": "\ud800"})


@pytest.mark.django_db
def test_properties_have_a_size_limit(people, settings):
    settings.STRATA_MAX_METADATA_BYTES = 1000
    people.upsert_node("Person", "a", {"text": "x" * 900})
    with pytest.raises(PayloadTooLarge):
        people.upsert_node("Person", "b", {"text": "x" * 1000})
    with pytest.raises(PayloadTooLarge):
        people.bulk_load(nodes=[Node("Person", "b", {"text": "é" * 600})])
    assert people.get_node(B) is None


@pytest.mark.parametrize(
    ("text", "value"),
    [
        (
            '{"id": 1, "label": "L", "properties": {"k": "a::vertex"}}::vertex',
            {"id": 1, "label": "L", "properties": {"k": "a::vertex"}},
        ),
        ('[{"id": 1}::vertex, {"id": 2, "start_id": 1}::edge]::path', [{"id": 1}, {"id": 2, "start_id": 1}]),
        ('{"w": 1.5::numeric, "s": "say \\"::edge\\" ok"}', {"w": 1.5, "s": 'say "::edge" ok'}),
        ('"plain ::path"', "plain ::path"),
        ("3", 3),
        (None, None),
    ],
)
def test_agtype_text_is_parsed_without_touching_strings(text, value):
    assert parse_agtype(text) == value


# ---------------------------------------------------------------- cypher escape hatch


@pytest.mark.django_db
def test_cypher_paths_and_numeric_values_come_back_as_python(people):
    people.upsert_node("Person", "a")
    people.upsert_node("Person", "b")
    people.upsert_edge("KNOWS", A, B)
    [row] = people.cypher(
        "MATCH p = (:Person {key: $k})-[:KNOWS]->() RETURN p, 1.25::numeric", {"k": "a"}, columns=["p", "n"]
    )
    assert row["p"] == Path(nodes=[Node("Person", "a"), Node("Person", "b")], edges=[Edge("KNOWS", A, B)])
    assert row["n"] == 1.25


@pytest.mark.django_db
def test_cypher_text_with_percent_signs_and_dollars(age):
    assert age.cypher("RETURN '100% $$ done'") == [{"result": "100% $$ done"}]


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    [
        "RETURN 1 $strata_cypher$, NULL) AS (a agtype); DROP TABLE core_workspace; --",
        "RETURN 1 $STRATA_CYPHER$",
        "RETURN 1 // $strata_cypher",
        "",
        "   ",
        "RETURN '\x00'",
        None,
    ],
)
def test_cypher_queries_that_could_escape_the_quote_are_refused(age, query):
    with pytest.raises(InvalidInput):
        age.cypher(query)
    assert table_exists("public", "core_workspace")


@pytest.mark.django_db
@pytest.mark.parametrize(
    "query",
    ["MATCH (n RETURN n", "RETURN nosuchfunction(1)", "RETURN x", "RETURN 1, 2", "RETURN 1 / 0"],
)
def test_bad_cypher_raises_invalid_input_and_leaves_the_transaction_usable(people, query):
    with transaction.atomic():
        people.upsert_node("Person", "a")
        with pytest.raises(InvalidInput):
            people.cypher(query)
        people.upsert_node("Person", "b")  # would fail in an aborted transaction
    assert people.get_node(A) is not None and people.get_node(B) is not None


@pytest.mark.django_db
def test_cypher_params_are_bound_server_side_not_spliced(people):
    people.upsert_node("Person", "a", {"name": "Ada"})
    hostile = {"k": "a' OR true RETURN n //", "q": "$strata_cypher$ ); DROP TABLE core_workspace; --"}
    assert people.cypher("MATCH (n:Person) WHERE n.key = $k RETURN n.name", hostile) == []
    assert people.cypher("RETURN $q", hostile) == [{"result": hostile["q"]}]
    assert people.cypher("MATCH (n:Person) WHERE n.key = $k RETURN n.name", {"k": "a"}) == [{"result": "Ada"}]
    assert table_exists("public", "core_workspace")


# ---------------------------------------------------------------- traversals are SQL


@pytest.mark.django_db
def test_each_traversal_is_one_round_trip_and_never_cypher(committed):
    """The label catalogue is in memory and each traversal is one statement (with the catalogue
    version in its first row), so a traversal costs exactly one query (once the labels are
    committed: until then each call first checks the catalogue, see the next test)."""
    people = committed
    people.bulk_load(
        nodes=[Node("Person", f"p{i}") for i in range(30)],
        edges=[Edge("KNOWS", NodeRef("Person", f"p{i}"), NodeRef("Person", f"p{(i * 7 + 1) % 30}")) for i in range(30)],
    )
    start = NodeRef("Person", "p0")
    calls = {
        "k_hop": lambda: people.k_hop(start, k=3, direction="both"),
        "k_hop limit": lambda: people.k_hop(start, k=3, limit=2, properties=False),
        "neighbours": lambda: people.neighbours(start, direction="both"),
        "neighbours limit": lambda: people.neighbours(start, limit=1, edge_types=["KNOWS"]),
        "page": lambda: people.neighbours_page(start, direction="in", limit=1),
        "subgraph": lambda: people.subgraph(start, depth=2),
        "shortest_path": lambda: people.shortest_path(start, NodeRef("Person", "p8")),
    }
    for name, call in calls.items():
        call()  # composes the statement (the catalogue is already in memory)
        with CaptureQueriesContext(connection) as ctx:
            assert call(), name
        assert len(ctx.captured_queries) == 1, (name, [q["sql"][:80] for q in ctx.captured_queries])
        assert "cypher(" not in ctx.captured_queries[0]["sql"]


@pytest.mark.django_db
@pytest.mark.parametrize("too_deep", [11, 100])
def test_depths_are_capped(people, too_deep):
    people.upsert_node("Person", "a")
    with pytest.raises(InvalidInput):
        people.k_hop(A, k=too_deep)
    with pytest.raises(InvalidInput):
        people.subgraph(A, depth=too_deep)
    with pytest.raises(InvalidInput):
        people.shortest_path(A, A, max_depth=too_deep)
    assert people.k_hop(A, k=10) == []


@pytest.mark.django_db
def test_k_hop_on_a_dense_cyclic_graph_visits_each_node_once(people):
    keys = [f"n{i}" for i in range(40)]
    people.bulk_load(
        nodes=[Node("Person", key) for key in keys],
        edges=[Edge("KNOWS", NodeRef("Person", a), NodeRef("Person", b)) for a in keys for b in keys if a != b],
    )
    found = people.k_hop(NodeRef("Person", "n0"), k=10, direction="both")
    assert sorted(h.node.key for h in found) == sorted(keys[1:])
    assert {h.depth for h in found} == {1}


@pytest.mark.django_db
def test_shortest_path_meets_in_the_middle_of_a_long_chain(people):
    keys = [f"c{i:02d}" for i in range(11)]
    people.bulk_load(
        nodes=[Node("Person", key) for key in keys],
        edges=[Edge("KNOWS", NodeRef("Person", a), NodeRef("Person", b)) for a, b in zip(keys, keys[1:], strict=False)],
    )
    path = people.shortest_path(NodeRef("Person", "c00"), NodeRef("Person", "c10"), max_depth=10)
    assert [n.key for n in path.nodes] == keys
    assert [(e.source.key, e.target.key) for e in path.edges] == list(zip(keys, keys[1:], strict=False))
    assert people.shortest_path(NodeRef("Person", "c00"), NodeRef("Person", "c10"), max_depth=9) is None


# ---------------------------------------------------------------- the caller's transaction


@pytest.mark.django_db(transaction=True)
def test_a_rollback_of_the_callers_transaction_removes_nodes_and_edges(committed):
    committed.upsert_node("Person", "a")
    with pytest.raises(Boom), transaction.atomic():
        committed.upsert_node("Person", "b", {"in": "block"})
        committed.upsert_edge("KNOWS", A, B)
        committed.bulk_load(nodes=[Node("Person", "c")], edges=[Edge("KNOWS", B, C)])
        # traversals inside the block see the uncommitted writes
        assert [(h.node.key, h.depth) for h in committed.k_hop(A, k=2)] == [("b", 1), ("c", 2)]
        assert committed.shortest_path(A, C).length == 2
        raise Boom
    assert committed.get_node(A) is not None
    assert committed.get_node(B) is None and committed.get_node(C) is None
    assert committed.k_hop(A, k=3) == []
    assert committed.cypher("MATCH ()-[e]->() RETURN count(e)") == [{"result": 0}]


@pytest.mark.django_db(transaction=True)
def test_committed_writes_stay(committed):
    with transaction.atomic():
        committed.bulk_load(nodes=[Node("Person", "a"), Node("Person", "b")], edges=[Edge("KNOWS", A, B)])
    assert [n.key for n in committed.neighbours(A)] == ["b"]


@pytest.mark.django_db(transaction=True)
def test_a_failed_bulk_load_inside_a_transaction_keeps_the_callers_earlier_writes(committed):
    with transaction.atomic():
        committed.upsert_node("Person", "a")
        with pytest.raises(NodeNotFound):
            committed.bulk_load(nodes=[Node("Person", "b")], edges=[Edge("KNOWS", A, NodeRef("Person", "ghost"))])
        committed.bulk_load(nodes=[Node("Person", "c")], edges=[Edge("KNOWS", A, C)])  # temp tables are gone
        committed.bulk_load(edges=[Edge("KNOWS", C, A)])
    assert committed.get_node(B) is None
    assert [n.key for n in committed.neighbours(A, direction="both")] == ["c"]


@pytest.mark.django_db(transaction=True)
def test_labels_defined_in_a_rolled_back_transaction_disappear(committed):
    with pytest.raises(Boom), transaction.atomic():
        committed.define_node_label("Temporary")
        committed.upsert_node("Temporary", "t")
        assert "Temporary" in committed.node_labels()
        raise Boom
    assert committed.node_labels() == ["Person"]
    committed.define_node_label("Temporary")  # and can be defined again afterwards
    assert committed.node_labels() == ["Person", "Temporary"]


@pytest.mark.django_db(transaction=True)
def test_a_graph_created_by_the_store_can_be_dropped(transactional_db):
    store = AgeGraphStore(graph=fresh_graph_name())
    assert not store.graph_exists()
    store.define_node_label("Person")  # creates the graph
    assert store.graph_exists() and table_exists(store.graph, "Person")
    store.drop_graph()
    assert not store.graph_exists()
    assert store.node_labels() == []
