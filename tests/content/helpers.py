"""Shared helpers of the content tests."""

from __future__ import annotations

from content.services import IngestItem, document_ingest


def ingest(workspace_id: int, *items: IngestItem, embed: bool = True) -> dict[str, int]:
    """Ingest the items (all must succeed); external id -> document id."""
    report = document_ingest(workspace_id=workspace_id, items=list(items), embed=embed)
    assert not report.failed, report.failed
    return {r.external_id: r.document_id for r in report.results}
