"""FalkorDB's own Cypher for the benchmark's traversals: the engine's floor, printed as a
reference next to the two adapters (it is not an adapter: no validation, no port values).

k-hop uses the variable-length form ``[*1..k] ... RETURN DISTINCT``, which FalkorDB 4 answers
wrongly on converging paths (upstream issue #2157); the benchmark counts how often it differs
from the adapters. Shortest path uses FalkorDB's ``shortestPath`` (allowed only in RETURN/WITH).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from core.storage.falkordb import FalkorGraphStore
from core.storage.ports import NodeRef

ARROWS = {"out": ("-", "->"), "in": ("<-", "-"), "both": ("-", "-")}


def _graph(store: FalkorGraphStore) -> Any:
    store._client()  # noqa: SLF001 (the benchmark reaches past the port on purpose)
    return store._graph  # noqa: SLF001


def reach(store: FalkorGraphStore, k: int, direction: str, edge_type: str) -> Callable[[NodeRef], set]:
    """(label, key) of the nodes 1..k edges away, as ``[*1..k] RETURN DISTINCT``."""
    left, right = ARROWS[direction]
    hops = "" if k == 1 else f"*1..{k}"
    query = (
        f"MATCH (a:`{{label}}` {{{{key: $key}}}}){left}[:`{edge_type}`{hops}]{right}(b) WHERE b <> a "
        "RETURN DISTINCT labels(b)[0], b.key"
    )

    def run(ref: NodeRef) -> set:
        rows = _graph(store).ro_query(query.format(label=ref.label), {"key": ref.key}).result_set
        return {(label, key) for label, key in rows}

    return run


def shortest(store: FalkorGraphStore, direction: str, edge_type: str | None, max_depth: int = 6) -> Callable:
    """The length of FalkorDB's ``shortestPath`` between a pair (None: no path)."""
    left, right = ARROWS[direction]
    kind = f":`{edge_type}`" if edge_type else ""
    query = (
        "MATCH (a:`{s}` {{key: $s}}), (b:`{t}` {{key: $t}}) "
        f"RETURN length(shortestPath((a){left}[{kind}*1..{max_depth}]{right}(b)))"
    )

    def run(pair: tuple[NodeRef, NodeRef]) -> tuple:
        source, target = pair
        rows = _graph(store).ro_query(query.format(s=source.label, t=target.label), {"s": source.key, "t": target.key})
        return (rows.result_set[0][0] if rows.result_set else None,)

    return run
