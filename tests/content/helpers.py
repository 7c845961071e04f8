"""Shared helpers of the content tests."""

from __future__ import annotations

from content import stores
from content.services import IngestItem, document_ingest
from core import outbox


def projected() -> None:
    """With a content store that does not share the transaction (a dedicated adapter), deliver
    the outbox: its projections are written after the commit, from there (on PostgreSQL they
    were written in the service's transaction, and this does nothing)."""
    if all(store.features.joins_db_transaction for store in (stores.documents(), stores.vectors(), stores.graph())):
        return
    while outbox.relay().processed:
        pass


def ingest(workspace_id: int, *items: IngestItem, embed: bool = True) -> dict[str, int]:
    """Ingest the items (all must succeed); external id -> document id."""
    report = document_ingest(workspace_id=workspace_id, items=list(items), embed=embed)
    assert not report.failed, report.failed
    if embed:
        projected()
    return {r.external_id: r.document_id for r in report.results}
