"""The Cypher console on FalkorDB (no row security there): off unless
STRATA_CYPHER_CONSOLE_UNISOLATED allows it; then the engine itself refuses writes
(GRAPH.RO_QUERY) and only this workspace's graph elements are shown."""

from __future__ import annotations

import uuid

import pytest

from core.storage import storages
from core.storage.falkordb import FalkorGraphStore
from core.storage.ports import InvalidInput, Node
from knowledge import console, stores

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def falkor(settings, workspace, other_workspace):
    settings.STRATA_STORAGE = {
        **settings.STRATA_STORAGE,
        "knowledge": {
            "graph": {
                "DEFAULT": "falkordb",
                "falkordb": {
                    "BACKEND": "core.storage.falkordb.FalkorGraphStore",
                    "graph": f"kc_{uuid.uuid4().hex[:12]}",
                },
            }
        },
    }
    storages.reset()
    store = stores.graph()
    assert isinstance(store, FalkorGraphStore)
    store.define_node_label(stores.ENTITY_LABEL)
    store.bulk_load(
        nodes=[
            Node(stores.ENTITY_LABEL, stores.node_key(ws, "app"), {"workspace_id": ws, "name": "App"})
            for ws in (workspace.id, other_workspace.id)
        ]
    )
    yield store
    store.drop_graph()
    store.close()
    storages.reset()


def test_the_console_is_off_without_row_security(falkor, workspace):
    with pytest.raises(console.ConsoleError, match="cannot isolate workspaces"):
        console.run(workspace_id=workspace.id, query="MATCH (a:Entity) RETURN a", params={})


def test_allowed_it_reads_only_graph_elements_of_the_workspace(falkor, workspace, settings):
    settings.STRATA_CYPHER_CONSOLE_UNISOLATED = True
    result = console.run(workspace_id=workspace.id, query="MATCH (a:Entity) RETURN a", params={})
    assert [row[0].split()[1] for row in result.rows] == ["app"] and result.dropped == 1
    with pytest.raises(console.ConsoleError, match="scalar values"):
        console.run(workspace_id=workspace.id, query="MATCH (a:Entity) RETURN count(a)", params={})
    with pytest.raises(console.ConsoleError, match="read-only"):
        console.run(workspace_id=workspace.id, query="MATCH (a) SET a.name = 'x' RETURN a", params={})


def test_the_engine_refuses_a_write_the_scan_missed(falkor):
    before = falkor.count_nodes(stores.ENTITY_LABEL)
    with pytest.raises(InvalidInput, match="cypher query refused"):
        falkor.cypher("CREATE (n:Entity {key: 'sneaky'}) RETURN n", {}, columns=("n",), read_only=True)
    assert falkor.count_nodes(stores.ENTITY_LABEL) == before == 2
