"""Reads of content: search (semantic, full-text, hybrid), the document page, lists, summaries
(the public facade).

Everything here is scoped to one workspace and only reads. Search results and the document page
are cached through the content app's cache port under the workspace's content version, which
every writing service bumps in its transaction (content/caching.py): never stale.

Each story has its module; other code imports the selectors from here:

* ``content.search``     search, rank fusion, highlighting
* ``content.documents``  the document page, the document list, metadata lookups, the summary
"""

from __future__ import annotations

from content.documents import (
    DOCUMENTS_PER_PAGE,
    MAX_SIMILAR,
    MAX_STATUS_IDS,
    ChunkView,
    DocumentContext,
    DocumentStatus,
    SimilarDocument,
    document_body,
    document_ids_matching_metadata,
    document_list,
    document_statuses,
    document_with_context,
    stored_embedding_model,
    workspace_summary,
)
from content.embeddings import native_dimension
from content.knowledge_reads import (
    DocumentSourceView,
    document_ids_by_external_id,
    document_labels,
    document_sources,
    embed_for_workspace,
    embed_question,
    workspace_ids_of_documents,
)
from content.query import SearchError, SearchModelMismatch
from content.search import (
    MAX_LIMIT,
    MAX_QUERY_CHARS,
    SEARCH_MODES,
    TS_CONFIG,
    SearchHit,
    SearchMode,
    SearchResults,
    highlight_html,
    search,
    search_modes,
    search_results,
)

__all__ = [
    "DOCUMENTS_PER_PAGE",
    "MAX_LIMIT",
    "MAX_QUERY_CHARS",
    "MAX_SIMILAR",
    "MAX_STATUS_IDS",
    "SEARCH_MODES",
    "TS_CONFIG",
    "ChunkView",
    "DocumentContext",
    "DocumentSourceView",
    "DocumentStatus",
    "SearchError",
    "SearchHit",
    "SearchMode",
    "SearchModelMismatch",
    "SearchResults",
    "SimilarDocument",
    "document_body",
    "document_ids_by_external_id",
    "document_ids_matching_metadata",
    "document_labels",
    "document_sources",
    "embed_for_workspace",
    "embed_question",
    "document_list",
    "document_statuses",
    "document_with_context",
    "highlight_html",
    "native_dimension",
    "search",
    "search_results",
    "search_modes",
    "stored_embedding_model",
    "workspace_ids_of_documents",
    "workspace_summary",
]
