"""A small graph with known answers, imported through graph_import."""

from __future__ import annotations

import io
import json

from knowledge.services import graph_import

# app -> web -> http -> socket;  app -> db -> socket;  cli -> http;  tools (isolated)
DEPENDS = [("app", "web"), ("web", "http"), ("http", "socket"), ("app", "db"), ("db", "socket"), ("cli", "http")]


def lines(edges=DEPENDS, extra=()) -> bytes:
    out = [
        json.dumps({"kind": "node", "key": key, "label": "Package", "properties": {"name": key.title()}})
        for key in sorted({k for e in edges for k in e} | {"tools"})
    ]
    out += [json.dumps({"kind": "edge", "source": s, "target": t, "label": "DEPENDS_ON"}) for s, t in edges]
    out += [json.dumps(x) if not isinstance(x, str) else x for x in extra]
    return ("\n".join(out) + "\n").encode()


def build(workspace_id: int, edges=DEPENDS, extra=(), name="graph.jsonl"):
    return graph_import(stream=io.BytesIO(lines(edges, extra)), name=name, workspace_id=workspace_id)
