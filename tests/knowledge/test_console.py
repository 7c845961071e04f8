"""The staff Cypher console: a write is refused (and could not write anyway), injection strings
stay inert, the timeout fires, results are the workspace's only, non-staff get 403."""

from __future__ import annotations

import pytest
from django.db import DatabaseError
from django.urls import reverse

from knowledge import console, stores
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
    # the same query without a workspace filter sees both workspaces' "App": the other is dropped
    assert result.dropped == 1
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
        console._run_read_only(stores.graph(), "CREATE (n:Entity {key: 'sneaky'}) RETURN n", {}, ["n"], 2000)
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
    query = "MATCH (a), (b), (c), (d), (e), (f) WHERE a.workspace_id = $workspace RETURN a"
    build(ws, edges=[(f"n{i}", f"n{i + 1}") for i in range(60)])
    with pytest.raises(console.ConsoleError, match="longer than 50 ms"):
        console.run(workspace_id=ws, query=query, params={})


def test_scalar_results_are_refused(graphs):
    ws, _ = graphs
    with pytest.raises(console.ConsoleError, match="nodes, edges or paths"):
        console.run(workspace_id=ws, query="MATCH (n) RETURN count(n)", params={})


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
