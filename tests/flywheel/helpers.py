"""Helpers of the flywheel tests: interactions with known contents."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import connection

from agents.flywheel.services import Interaction


def interaction(workspace_id: int, agent_id: int = 1, **overrides: Any) -> Interaction:
    fields: dict[str, Any] = {
        "workspace_id": workspace_id,
        "agent_id": agent_id,
        "agent_version": 1,
        "conversation_id": 7,
        "user_id": None,
        "query": "how do I rotate the keys?",
        "retrieved_ids": ["chunk:1", "fact:2"],
        "answer": "Rotate them with the rotate command [1].",
        "citations": [{"ref": "doc:12", "document_id": 12, "chunk_id": 1, "title": "Keys", "quote": "rotate"}],
        "latency_ms": {"retrieve": 3.0, "llm": 10.0, "total": 15.0},
        "model": "extractive",
        "occurred_at": None,
    }
    fields.update(overrides)
    return Interaction(**fields)


def days_ago(n: int, hour: int = 12) -> dt.datetime:
    """``hour`` o'clock (UTC) ``n`` days ago; today, no later than now (the future is refused)."""
    now = dt.datetime.now(dt.UTC)
    moment = dt.datetime.combine(now.date() - dt.timedelta(days=n), dt.time(hour), tzinfo=dt.UTC)
    return min(moment, now)


def partition_of(event_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT tableoid::regclass::text FROM agents_interaction_event WHERE id = %s", [event_id])
        return cursor.fetchone()[0]
