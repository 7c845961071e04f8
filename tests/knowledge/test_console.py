"""The staff Cypher console: a write is refused (and could not write anyway), injection strings
stay inert, the timeout fires, the query sees only its workspace (row security: a WHERE clause or
a count cannot read another workspace), non-staff get 403. FalkorDB: tests/knowledge/
test_console_falkordb.py."""

from __future__ import annotations

import pytest
from django.db import DatabaseError
from django.urls import reverse

from knowledge import console, console_rls, stores
from knowledge.models import Entity
from tests.knowledge.graphs import build

pytestmark = pytest.mark.django_db(transaction=True)  # the console's own READ ONLY transaction


@pytest.fixture
def graphs(workspace, other_workspace):
    assert not build(workspace.id).errors
    assert not build(other_workspace.id, edges=[("app", "evil")]).errors
    yield workspace.id, other_workspace.id
    age = stores.graph()
    for ws in (workspace.id, other_workspace.id):
        age.cypher("MATCH (n) WHERE n.workspace_id = $ws DETACH DELETE n RETURN count(*)", {"ws": ws}, columns=("n",))


def count_nodes() -> int:
    return stores.graph().count_nodes(stores.ENTITY_LABEL)


def test_reads_with_bound_parameters_only_the_workspace(graphs):
    ws, other = graphs
    result = console.run(
        workspace_id=ws,
        query="MATCH (a:Entity {name: $name})-[r]->(b) RETURN a, r, b ORDER BY b.key",
        params={"name": "App"},
    )
    assert result.columns == ["c1", "c2", "c3"]
    assert [row[2].split()[1] for row in result.rows] == ["db", "web"]
    # without a workspace filter the query still sees only this workspace's "App" (row security)
    assert result.dropped == 0
    scoped = console.run(
        workspace_id=ws, query="MATCH (a:Entity) WHERE a.workspace_id = $workspace RETURN a", params={}
    )
    assert len(scoped.rows) == 7 and scoped.dropped == 0


@pytest.mark.parametrize(
    "query",
    [
        "CREATE (n:Entity {key: 'x'}) RETURN n",
        "MATCH (n) DETACH DELETE n RETURN n",
        "MATCH (n) SET n.name = 'pwned' RETURN n",
        "MERGE (n:Entity {key: 'y'}) RETURN n",
        "match (n) remove n.name return n",
        "MATCH (n) WITH n /* comment */ CREATE (m) RETURN m",
    ],
)
def test_writes_are_refused(graphs, query):
    ws, _ = graphs
    before = count_nodes()
    with pytest.raises(console.ConsoleError, match="read-only"):
        console.run(workspace_id=ws, query=query, params={})
    assert count_nodes() == before


def test_a_write_hidden_from_the_scan_still_cannot_write(graphs):
    """Defence in depth: even a write the keyword scan missed runs in a READ ONLY transaction."""
    ws, _ = graphs
    before = count_nodes()
    with pytest.raises(DatabaseError, match="read-only transaction"):
        console._run_read_only(
            stores.graph(), "CREATE (n:Entity {key: 'sneaky'}) RETURN n", {}, ["n"], 2000, workspace_id=ws
        )
    assert count_nodes() == before


@pytest.mark.parametrize(
    "name",
    ["App' }) MATCH (n) DETACH DELETE n //", "$$); DROP TABLE knowledge_entity; --", "\\' OR 1=1 --", 'App"})'],
)
def test_injection_strings_stay_inert(graphs, name):
    ws, _ = graphs
    before, rows = count_nodes(), Entity.objects.count()
    result = console.run(workspace_id=ws, query="MATCH (a:Entity) WHERE a.name = $name RETURN a", params={"name": name})
    assert result.rows == [] and count_nodes() == before and Entity.objects.count() == rows
    # keywords inside a string literal are not clauses
    result = console.run(workspace_id=ws, query="MATCH (a:Entity) WHERE a.name = 'CREATE DELETE' RETURN a", params={})
    assert result.rows == []


def test_the_timeout_fires(graphs, settings):
    ws, _ = graphs
    settings.STRATA_CYPHER_TIMEOUT_MS = 50
    # a count reads every row of the product (the console stops a plain RETURN after 201 rows)
    query = "MATCH (a), (b), (c), (d), (e), (f) WHERE a.workspace_id = $workspace RETURN count(a)"
    build(ws, edges=[(f"n{i}", f"n{i + 1}") for i in range(60)])
    with pytest.raises(console.ConsoleError, match="longer than 50 ms"):
        console.run(workspace_id=ws, query=query, params={})


def test_counts_count_only_this_workspace(graphs):
    ws, other = graphs
    assert stores.graph().count_nodes(stores.ENTITY_LABEL) == 7 + 3  # the app sees both workspaces
    counts = console.run(
        workspace_id=ws, query="MATCH (n) WITH count(n) AS n MATCH ()-[e]->() RETURN n, count(e) AS e", params={}
    )
    assert counts.rows == [["7", "6"]] and counts.dropped == 0
    assert console.run(workspace_id=other, query="MATCH (n) RETURN count(n)", params={}).rows == [["3"]]
    names = console.run(workspace_id=ws, query="MATCH (n:Entity) RETURN n.name ORDER BY n.name", params={})
    assert '"Evil"' not in [row[0] for row in names.rows] and len(names.rows) == 7


PROBES = [
    # does the other workspace hold a node named Evil? (each answer must not depend on it)
    "MATCH (a:Entity {name: 'App'}), (x:Entity) WHERE x.name = 'Evil' RETURN a",
    "MATCH (a:Entity {name: 'App'}) OPTIONAL MATCH (x {name: 'Evil'}) RETURN a, x IS NULL AS hidden",
    "MATCH (x) WHERE x.workspace_id = $other RETURN count(x)",
    "MATCH (x) WHERE x.key STARTS WITH $prefix RETURN count(x)",
    "MATCH (a:Entity), (x) WHERE id(x) > id(a) AND x.name = 'Evil' RETURN count(a)",
    "MATCH ()-[e]->() WHERE e.workspace_id = $other RETURN count(e)",
    "MATCH (a:Entity {name: 'App'})-[e]->(b) RETURN b.name ORDER BY b.name",
]


def test_a_where_clause_cannot_probe_another_workspace(graphs):
    """The same answers whether or not the other workspace's data exists."""
    ws, other = graphs
    params = {"other": other, "prefix": f"w{other}:"}

    def answers():
        return [console.run(workspace_id=ws, query=q, params=params).rows for q in PROBES]

    with_other = answers()
    assert with_other[0] == [] and with_other[1][0][1] == "true" and with_other[2] == [["0"]]
    assert with_other[-1] == [['"Db"'], ['"Web"']]
    stores.graph().cypher(
        "MATCH (n) WHERE n.workspace_id = $ws DETACH DELETE n RETURN count(*)", {"ws": other}, columns=("n",)
    )
    assert answers() == with_other


def forge_cross_edges(ws: int, other: int) -> None:
    """Edges the projection never writes: between the workspaces, one claiming each workspace."""
    age = stores.graph()
    for source, target, claims in ((f"w{ws}:web", f"w{other}:evil", ws), (f"w{other}:evil", f"w{ws}:tools", other)):
        age.cypher(
            "MATCH (a {key: $s}), (b {key: $t}) CREATE (a)-[:DEPENDS_ON {workspace_id: $c}]->(b) RETURN a",
            {"s": source, "t": target, "c": claims},
            columns=("a",),
        )


def test_even_a_forged_cross_workspace_edge_stays_hidden(graphs):
    ws, other = graphs
    forge_cross_edges(ws, other)
    edges = console.run(workspace_id=ws, query="MATCH (a)-[e]->(b) RETURN startNode(e).key, endNode(e).key", params={})
    assert len(edges.rows) == 6 and all(f'"w{ws}:' in k for row in edges.rows for k in row)
    two_hops = console.run(workspace_id=ws, query="MATCH (a {name: 'Web'})-[]->()-[]->(c) RETURN c", params={})
    assert [row[0].split()[1] for row in two_hops.rows] == ["socket"]


def test_variable_length_patterns_are_refused_because_age_reads_them_around_row_security(graphs):
    ws, other = graphs
    forge_cross_edges(ws, other)
    for query in ("MATCH p=(a {name: 'Web'})-[*1..3]->(c) RETURN c", "MATCH (a)<-[r:DEPENDS_ON *]-(b) RETURN a"):
        with pytest.raises(console.ConsoleError, match="variable-length"):
            console.run(workspace_id=ws, query=query, params={})
    # why: run past the check, AGE's variable-length walk crosses the hidden edges to reach
    # this workspace's "tools" through the other workspace's "evil"
    rows = console._run_read_only(
        stores.graph(),
        "MATCH (a {name: 'Web'})-[*1..2]->(c {name: 'Tools'}) RETURN c",
        {},
        ["c"],
        2000,
        workspace_id=ws,
    )
    assert [row["c"].key for row in rows] == [f"w{ws}:tools"]
    for query in (
        "MATCH (n) RETURN vertex_stats('strata', n)",
        "MATCH (n) RETURN ag_catalog.age_id(n)",
        # the workspace setting cannot be switched from inside the query
        "RETURN pg_catalog . /* */ set_config('strata.console_workspace', $other, true)",
        "RETURN `pg_catalog`.`set_config`('strata.console_workspace', $other, true)",
    ):
        with pytest.raises(console.ConsoleError, match="not allowed"):
            console.run(workspace_id=ws, query=query, params={"other": str(other)})
    # AGE resolves an unqualified name among its own functions only
    with pytest.raises(console.ConsoleError, match="set_config does not exist"):
        console.run(workspace_id=ws, query="RETURN set_config('strata.console_workspace', '1', true)", params={})
    # a list comprehension's * is arithmetic, not a pattern
    doubled = console.run(workspace_id=ws, query="MATCH (n {name: 'App'}) RETURN [x IN [1, 2] | x * 2]", params={})
    assert doubled.rows == [["[2, 4]"]]


def test_labels_created_later_are_secured_on_first_use(graphs):
    ws, _ = graphs
    graph = stores.graph().graph
    assert not console_rls.missing(graph)
    build(ws, edges=[("app", "late")], extra=[{"kind": "edge", "source": "app", "target": "late", "label": "USES"}])
    assert [kind for _, kind, _ in console_rls.missing(graph)] == ["e"]
    uses = console.run(workspace_id=ws, query="MATCH ()-[e:USES]->() RETURN count(e)", params={})
    assert uses.rows == [["1"]] and not console_rls.missing(graph)
    assert console_rls.ensure(graph) == 0  # idempotent


@pytest.mark.parametrize(
    "params", ['{"workspace": 1}', "[1]", '{"a b": 1}', "{", '{"x": ' + "[" * 5000 + "]" * 5000 + "}"]
)
def test_bad_parameters(params):
    with pytest.raises(console.ConsoleError):
        console.parse_params(params)


def test_console_page_is_for_staff_editors(client, user, graphs, workspace):
    client.force_login(user)
    assert client.get(reverse("knowledge:console")).status_code == 403
    user.is_staff = True
    user.save()
    page = client.post(reverse("knowledge:console"), {"query": "MATCH (a:Entity {key: $k}) RETURN a", "params": ""})
    assert page.status_code == 200
    page = client.post(
        reverse("knowledge:console"), {"query": "MATCH (a:Entity) WHERE a.name = $n RETURN a", "params": '{"n": "Web"}'}
    )
    assert page.status_code == 200 and "web" in page.content.decode()
    page = client.post(reverse("knowledge:console"), {"query": "CREATE (n) RETURN n", "params": ""})
    assert page.status_code == 400 and "read-only" in page.content.decode()


def test_a_result_past_max_rows_is_cut_there_and_says_so(graphs, monkeypatch):
    ws, _ = graphs
    everything = console.run(workspace_id=ws, query="MATCH (n:Entity) RETURN n.key ORDER BY n.key", params={})
    assert not everything.truncated and len(everything.rows) > 2
    monkeypatch.setattr(console, "MAX_ROWS", 2)
    cut = console.run(workspace_id=ws, query="MATCH (n:Entity) RETURN n.key ORDER BY n.key", params={})
    assert cut.rows == everything.rows[:2] and cut.truncated
    exact = console.run(workspace_id=ws, query="MATCH (n:Entity) RETURN n.key ORDER BY n.key LIMIT 2", params={})
    assert exact.rows == everything.rows[:2] and not exact.truncated
