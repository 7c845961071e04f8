"""Moving the knowledge graph to FalkorDB with storage_move gives the same query answers (and
keeps workspaces apart there too)."""

from __future__ import annotations

import uuid

import pytest
from django.core.management import call_command

from core.models import StorageRoute
from core.storage import routing, storages
from core.storage.falkordb import FalkorGraphStore
from knowledge import selectors, stores
from tests.knowledge.graphs import build
from tests.moving import AGE

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def routed(settings):
    settings.STRATA_STORAGE = {
        **settings.STRATA_STORAGE,
        "knowledge": {
            "graph": {
                "DEFAULT": "age",
                "age": AGE,
                "falkordb": {
                    "BACKEND": "core.storage.falkordb.FalkorGraphStore",
                    "graph": f"kg_{uuid.uuid4().hex[:12]}",
                },
            }
        },
    }
    settings.STRATA_STORAGE_ROUTE_TTL = 0.2
    storages.reset()
    routing.clear_cache()
    yield
    falkor = storages.backend("knowledge", "graph", "falkordb")
    if isinstance(falkor, FalkorGraphStore):
        falkor.drop_graph()
        falkor.close()
    StorageRoute.objects.filter(app="knowledge").delete()
    storages.reset()
    routing.clear_cache()


def answers(ws: int) -> dict:
    def keys(nodes):
        return [(n.key, n.depth) for n in nodes]

    path = selectors.shortest_path(workspace_id=ws, source="cli", target="socket", direction="out")
    return {
        "neighbours": keys(selectors.neighbours(workspace_id=ws, key="http")),
        "k_hop": keys(selectors.k_hop(workspace_id=ws, key="app", k=3, direction="out")),
        "dependents": keys(selectors.dependents(workspace_id=ws, key="socket", depth=3)),
        "path": [n.key for n in path.nodes] if path else None,
        "uses": keys(selectors.neighbours(workspace_id=ws, key="app", labels=["USES_FOR_MOVE"])),
        "subgraph": sorted(
            (e.label, e.source, e.target) for e in selectors.subgraph(workspace_id=ws, key="http", depth=2)[1]
        ),
    }


def test_knowledge_graph_moves_to_falkordb_with_the_same_answers(routed, workspace, other_workspace):
    extra = [{"kind": "edge", "source": "app", "target": "tools", "label": "USES_FOR_MOVE"}]
    try:
        assert not build(workspace.id, extra=extra).errors
        assert not build(other_workspace.id, edges=[("app", "evil"), ("socket", "evil")]).errors
        before = answers(workspace.id), answers_other(other_workspace.id)
        assert stores.graph().features.vendor == "postgresql"
        call_command("storage_move", "knowledge", "graph", "--to", "falkordb", "--grace", "0")
        routing.clear_cache()
        assert stores.graph().features.vendor == "falkordb"
        after = answers(workspace.id), answers_other(other_workspace.id)
        assert after == before
        assert before[0]["uses"] == [("tools", 1)] and before[0]["path"] == ["cli", "http", "socket"]
        # new writes land in FalkorDB (from the outbox: it does not share the transaction)
        assert not build(workspace.id, edges=[("socket", "libc")]).errors
        from tests.knowledge.helpers import drain

        drain()
        assert ("libc", 1) in [
            (n.key, n.depth) for n in selectors.neighbours(workspace_id=workspace.id, key="socket", direction="out")
        ]
    finally:
        age = storages.backend("knowledge", "graph", "age")
        for ws in (workspace.id, other_workspace.id):
            age.cypher(
                "MATCH (n) WHERE n.workspace_id = $ws DETACH DELETE n RETURN count(*)", {"ws": ws}, columns=("n",)
            )


def answers_other(ws: int) -> list:
    return [n.key for n in selectors.neighbours(workspace_id=ws, key="app")]
