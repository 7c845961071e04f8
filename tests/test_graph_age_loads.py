"""AgeGraphStore: loading the same graph again writes nothing, and the label tables' statistics
(live and dead rows, size) that storage_report reads."""

from __future__ import annotations

import uuid

import pytest
from django.db import connection

from core.storage.ports import Edge, Node, NodeNotFound, NodeRef
from core.storage.postgres.age import AgeGraphStore


def tuple_writes(store: AgeGraphStore) -> dict[str, tuple[int, int, int]]:
    """This transaction's (inserted, updated, deleted) rows per label table of the graph."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT l.name::text, pg_stat_get_xact_tuples_inserted(l.relation), "
            "pg_stat_get_xact_tuples_updated(l.relation), pg_stat_get_xact_tuples_deleted(l.relation) "
            "FROM ag_catalog.ag_label l JOIN ag_catalog.ag_graph g ON g.graphid = l.graph "
            "WHERE g.name = %s AND l.name IN ('Person', 'KNOWS')",
            [store.graph],
        )
        return {name: (ins, upd, dele) for name, ins, upd, dele in cursor.fetchall()}


@pytest.fixture
def store(db) -> AgeGraphStore:
    store = AgeGraphStore(graph=f"t_{uuid.uuid4().hex[:16]}")
    store.define_node_label("Person")
    store.define_edge_type("KNOWS")
    return store


def graph(n: int, version: int = 1) -> tuple[list[Node], list[Edge]]:
    nodes = [Node("Person", f"p{i}", {"n": i, "version": version}) for i in range(n)]
    edges = [
        Edge("KNOWS", NodeRef("Person", f"p{i}"), NodeRef("Person", f"p{(i * 7 + 3) % n}"), {"w": i}) for i in range(n)
    ]
    return nodes, edges


@pytest.mark.django_db
def test_a_second_identical_load_changes_no_row(store):
    nodes, edges = graph(200)
    store.bulk_load(nodes=nodes, edges=edges)
    before = tuple_writes(store)
    assert before == {"Person": (200, 0, 0), "KNOWS": (200, 0, 0)}
    store.bulk_load(nodes=nodes, edges=edges)
    for node in nodes[:5]:
        store.upsert_node(node.label, node.key, node.properties)
    for edge in edges[:5]:
        store.upsert_edge(edge.type, edge.source, edge.target, edge.properties)
    assert tuple_writes(store) == before  # not one row inserted, updated or deleted


@pytest.mark.django_db
def test_a_load_rewrites_only_the_rows_that_changed(store):
    nodes, edges = graph(100)
    store.bulk_load(nodes=nodes, edges=edges)
    changed = [Node(n.label, n.key, {**n.properties, "version": 2}) for n in nodes[:10]]
    moved = [Edge(e.type, e.source, e.target, {"w": -1}) for e in edges[:3]]
    store.bulk_load(nodes=nodes[10:] + changed, edges=edges[3:] + moved)
    assert tuple_writes(store) == {"Person": (100, 10, 0), "KNOWS": (100, 3, 0)}
    assert store.get_node(NodeRef("Person", "p0")).properties == {"n": 0, "version": 2}
    assert store.get_node(NodeRef("Person", "p50")).properties == {"n": 50, "version": 1}


@pytest.mark.django_db
def test_label_table_stats_name_every_label_with_its_rows_and_size(store):
    nodes, edges = graph(50)
    store.bulk_load(nodes=nodes, edges=edges)
    stats = {row.name: row for row in store.label_table_stats()}
    assert set(stats) == {"KNOWS", "Person"}
    assert stats["Person"].kind == "node label" and stats["KNOWS"].kind == "edge type"
    assert all(row.bytes > 0 and row.live_rows >= 0 and row.dead_rows >= 0 for row in stats.values())
    assert 0.0 <= stats["Person"].dead_fraction <= 1.0
    assert AgeGraphStore(graph=f"t_{uuid.uuid4().hex[:16]}").label_table_stats() == []


@pytest.mark.django_db
def test_load_query_writes_edges_between_existing_ends_or_nothing(store):
    """load_query: the edges a query yields between nodes it (or an earlier load) wrote, each end
    looked up once however many edges name it; a missing end writes nothing (NodeNotFound); a
    second identical load changes no row; analyze refreshes the label tables' statistics."""
    nodes = "SELECT 'Person', jsonb_build_object('key', 'p' || i, 'n', i)::text FROM generate_series(0, 9) i"  # noqa: S608
    edges = (
        "SELECT 'KNOWS', 'Person', 'p' || i, 'Person', 'p' || ((i + k) %% 10), "
        "jsonb_build_object('w', i * 10 + k)::text FROM generate_series(0, 9) i, generate_series(1, %(k)s) k"
    )
    assert store.load_query(nodes=nodes, edges=edges, params={"k": 3}) == (10, 30)
    assert tuple_writes(store) == {"Person": (10, 0, 0), "KNOWS": (30, 0, 0)}
    edge = {(e.source.key, e.target.key): e.properties for e in store.scan_edges("KNOWS", limit=100).items}
    assert len(edge) == 30 and edge[("p9", "p1")] == {"w": 92}
    ghost = edges + " UNION ALL SELECT 'KNOWS', 'Person', 'p0', 'Person', 'ghost', '{}'"
    with pytest.raises(NodeNotFound):
        store.load_query(nodes="SELECT 'Person', '{}' WHERE false", edges=ghost, params={"k": 4})
    assert tuple_writes(store) == {"Person": (10, 0, 0), "KNOWS": (30, 0, 0)}  # the 10 new edges were not
    store.load_query(nodes=nodes, edges=edges, params={"k": 3})
    assert tuple_writes(store) == {"Person": (10, 0, 0), "KNOWS": (30, 0, 0)}
    store.analyze(["Person", "KNOWS", "Undefined"])
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [f'{store.graph}."KNOWS"'])
        assert cursor.fetchone()[0] == 30


@pytest.mark.django_db
def test_load_query_ends_known_to_the_session_are_checked_before_they_are_used(store):
    """The vertex ids load_query resolved are kept for the session's next loads; a vertex deleted
    and written again (another id, same key) and a graph dropped and created again (its ids start
    again) are looked up afresh, so an edge never points at a vertex that is gone or another one."""
    nodes = "SELECT 'Person', jsonb_build_object('key', 'p' || i)::text FROM generate_series(0, 2) i"  # noqa: S608
    edge = "SELECT 'KNOWS', 'Person', %(s)s, 'Person', %(t)s, '{}'"
    store.load_query(nodes=nodes, edges=edge, params={"s": "p0", "t": "p1"})
    with connection.cursor() as cursor:
        cursor.execute("SELECT key FROM strata_graph_known_ends WHERE label = 'Person' ORDER BY key")
        assert [key for (key,) in cursor.fetchall()] == ["p0", "p1"]
    store.delete_node(NodeRef("Person", "p1"))  # (its edge with it)
    store.upsert_node("Person", "p1", {"again": True})
    store.load_query(nodes="SELECT 'Person', '{}' WHERE false", edges=edge, params={"s": "p0", "t": "p1"})
    assert ends_of_edges(store) == [("p0", "p1")]  # (an edge to the deleted vertex would have no key)
    graph_name = store.graph
    store.drop_graph()
    again = AgeGraphStore(graph=graph_name)
    again.define_node_label("Person")
    again.define_edge_type("KNOWS")
    again.upsert_node("Person", "other", {})  # takes the id p0 had
    again.upsert_node("Person", "p1", {})
    with pytest.raises(NodeNotFound):  # p0 is not in the new graph, whatever the session knew
        again.load_query(nodes="SELECT 'Person', '{}' WHERE false", edges=edge, params={"s": "p0", "t": "p1"})
    again.upsert_node("Person", "p0", {})
    again.load_query(nodes="SELECT 'Person', '{}' WHERE false", edges=edge, params={"s": "p0", "t": "p1"})
    assert ends_of_edges(again) == [("p0", "p1")]


def ends_of_edges(store: AgeGraphStore) -> list[tuple]:
    """(start key, end key) of every KNOWS edge, read straight from the label tables."""
    key = "ag_catalog.agtype_access_operator(VARIADIC ARRAY[{}.properties, '\"key\"'::ag_catalog.agtype])::text"
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT {key.format("s")}, {key.format("t")} FROM {store.graph}."KNOWS" e '  # noqa: S608
            f'LEFT JOIN {store.graph}."Person" s ON s.id = e.start_id '
            f'LEFT JOIN {store.graph}."Person" t ON t.id = e.end_id'
        )
        return sorted(tuple(k and k.strip('"') for k in row) for row in cursor.fetchall())
