"""Graphs for the graph benchmark: Debian's package dependency graph, built offline from this
machine's apt lists, or a generated graph of the same shape when there are none.

Debian's graph (``apt-cache dumpavail``: every package of the configured suites) has one node
per package (label ``Package``, key the package name) and three edge types from a package to
the packages it names: ``DEPENDS`` (Depends and Pre-Depends, every alternative), ``RECOMMENDS``
and ``SUGGESTS``; names that are no package (virtual packages) and self-references are dropped.
On bookworm that is about 63,700 nodes and 298,000 edges, with libc6 the hub (21,800 incoming
``DEPENDS`` edges).

The generated graph has the same shape: power-law in-degree (targets drawn from a Zipf-like
distribution, so node ``p0`` gets the most incoming edges), a few outgoing edges per node.
"""

from __future__ import annotations

import functools
import random
import re
import shutil
import subprocess
from dataclasses import dataclass

from core.storage.ports import Edge, Node, NodeRef

LABEL = "Package"
DEPENDS, RECOMMENDS, SUGGESTS = "DEPENDS", "RECOMMENDS", "SUGGESTS"
EDGE_TYPES = (DEPENDS, RECOMMENDS, SUGGESTS)
_FIELDS = {"Depends": DEPENDS, "Pre-Depends": DEPENDS, "Recommends": RECOMMENDS, "Suggests": SUGGESTS}
_NAME = re.compile(r"[^\s(:\[]+")


@dataclass
class Shape:
    name: str
    nodes: list[Node]
    edges: list[Edge]

    @functools.cached_property
    def in_degree(self) -> dict[str, int]:
        """Incoming DEPENDS edges per node key."""
        counts: dict[str, int] = {}
        for edge in self.edges:
            if edge.type == DEPENDS:
                counts[edge.target.key] = counts.get(edge.target.key, 0) + 1
        return counts


def debian(text: str | None = None) -> Shape | None:
    """Debian's dependency graph from ``apt-cache dumpavail`` (None when apt has no lists)."""
    if text is None:
        if shutil.which("apt-cache") is None:
            return None
        result = subprocess.run(["apt-cache", "dumpavail"], capture_output=True, text=True, check=False)
        text = result.stdout
    packages: dict[str, dict[str, str]] = {}
    for block in text.split("\n\n"):
        fields = _fields(block)
        if "Package" in fields:
            packages.setdefault(fields["Package"], fields)
    if len(packages) < 1000:
        return None
    nodes = [
        Node(
            LABEL,
            name,
            {
                "section": fields.get("Section", ""),
                "priority": fields.get("Priority", ""),
                "version": fields.get("Version", ""),
                "size": int(fields.get("Installed-Size", "0") or 0),
            },
        )
        for name, fields in sorted(packages.items())
    ]
    pairs: dict[tuple[str, str, str], None] = {}
    for name, fields in packages.items():
        for field, edge_type in _FIELDS.items():
            for clause in fields.get(field, "").split(","):
                for alternative in clause.split("|"):
                    match = _NAME.search(alternative)
                    target = match.group(0) if match else ""
                    if target in packages and target != name:
                        pairs[(edge_type, name, target)] = None
    edges = [Edge(kind, NodeRef(LABEL, s), NodeRef(LABEL, t)) for kind, s, t in pairs]
    return Shape("Debian bookworm packages (apt-cache dumpavail)", nodes, edges)


def _fields(block: str) -> dict[str, str]:
    fields: dict[str, str] = {}
    last = None
    for line in block.split("\n"):
        if not line:
            continue
        if line[0] in " \t":
            if last is not None:
                fields[last] += " " + line.strip()
            continue
        name, _, value = line.partition(":")
        fields[name] = value.strip()
        last = name
    return fields


def generated(n_nodes: int = 60_000, n_edges: int = 300_000, seed: int = 42) -> Shape:
    """A dependency-like graph: power-law in-degree (node p0 the biggest hub), 1-20 outgoing
    edges per node, 80% DEPENDS and 10% each RECOMMENDS / SUGGESTS."""
    rng = random.Random(seed)
    nodes = [Node(LABEL, f"p{i}", {"section": f"s{i % 40}", "size": i % 977}) for i in range(n_nodes)]
    weights = [1.0 / (rank + 1) ** 1.1 for rank in range(n_nodes)]
    triples: dict[tuple[str, int, int], None] = {}
    while len(triples) < n_edges:
        sources = [rng.randrange(n_nodes) for _ in range(10_000)]
        targets = rng.choices(range(n_nodes), weights=weights, k=10_000)
        for source, target in zip(sources, targets, strict=True):
            if source != target:
                draw = rng.random()
                kind = DEPENDS if draw < 0.8 else RECOMMENDS if draw < 0.9 else SUGGESTS
                triples[(kind, source, target)] = None
    edges = [Edge(kind, NodeRef(LABEL, f"p{s}"), NodeRef(LABEL, f"p{t}")) for kind, s, t in list(triples)[:n_edges]]
    return Shape(f"generated ({n_nodes:,} nodes, power-law in-degree, seed {seed})", nodes, edges)
