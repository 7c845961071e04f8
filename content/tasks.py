"""Celery tasks of the content app. Thin: parse arguments, call one function."""

from __future__ import annotations

from celery import shared_task

from content import bm25_workspaces


@shared_task(name="content.tasks.fulltext_index_workspace", ignore_result=True)
def fulltext_index_workspace(workspace_id: int) -> list[str]:
    """Give the workspace its own BM25 indexes if it lacks them (idempotent; a short transaction of
    its own, never inside an ingest's)."""
    return bm25_workspaces.ensure(int(workspace_id))
