"""Celery tasks of the agents app. Thin: parse arguments, call one service."""

from __future__ import annotations

from celery import shared_task

from agents.memory_writes import MemoryError
from agents.remember import remember_turn


@shared_task(
    name="agents.remember_turn",
    ignore_result=True,
    autoretry_for=(Exception,),
    dont_autoretry_for=(MemoryError,),
    retry_backoff=True,
    max_retries=5,
)
def remember(workspace_id: int, conversation_id: int, seq: int) -> int:
    """Write the memories of one user message (enqueued after the chat turn commits)."""
    return len(remember_turn(workspace_id=int(workspace_id), conversation_id=int(conversation_id), seq=int(seq)))
