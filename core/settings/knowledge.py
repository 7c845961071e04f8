"""The knowledge app: extractors, graph-aware retrieval, the Cypher console, and what it adds to
content's pages."""

from __future__ import annotations

import json
import os

from core.settings.env import env_bool, env_int

# The extractors every ingested document goes through (knowledge/extraction/): a JSON list of
# {"BACKEND": "dotted.Class", ...options}; see the README ("Knowledge: extraction").
STRATA_KNOWLEDGE_EXTRACTORS = json.loads(
    os.environ.get("STRATA_KNOWLEDGE_EXTRACTORS")
    or '[{"BACKEND": "knowledge.extraction.heuristic.HeuristicExtractor"},'
    ' {"BACKEND": "knowledge.extraction.structured.StructuredExtractor"}]'
)
# graph-aware retrieval: how much the graph score counts next to the text score (knowledge/retrieval.py)
STRATA_GRAPH_SEARCH_WEIGHT = float(os.environ.get("STRATA_GRAPH_SEARCH_WEIGHT", "1.0"))
# the staff Cypher console's statement timeout (knowledge/console.py)
STRATA_CYPHER_TIMEOUT_MS = int(os.environ.get("STRATA_CYPHER_TIMEOUT_MS", "2000"))
# sessions graph_import writes its batches through outside a transaction (one parses while the
# other writes; knowledge/import_pipeline.py); 1: one session
STRATA_GRAPH_IMPORT_CONNECTIONS = env_int("STRATA_GRAPH_IMPORT_CONNECTIONS", 2)
# allow the console where the graph store cannot isolate workspaces row by row (FalkorDB): results
# are then only graph elements of the workspace, but a WHERE clause can read other workspaces
STRATA_CYPHER_CONSOLE_UNISOLATED = env_bool("STRATA_CYPHER_CONSOLE_UNISOLATED", False)
# Sections other apps add to the document page: "dotted.path" of panel(*, workspace_id, document_id) -> HTML
STRATA_DOCUMENT_PANELS: list[str] = ["knowledge.pages.document_panel"]
# Search modes other apps add to the search page: mode -> "dotted.path" of
# search_hits(*, workspace_id, query, filters, limit) -> list[content.selectors.SearchHit]
STRATA_SEARCH_EXTRA_MODES: dict[str, str] = {"graph": "knowledge.retrieval.search_hits"}
