"""Writing interaction events: ``record_interaction`` (one row) and ``record_interactions``
(a batch, through PostgreSQL's COPY). Called after a chat turn's transaction commits.

Every event is checked before anything is written (a bad item refuses the whole batch with a
``ValueError`` naming it: never a half-written batch). Events older than the retention period are
refused (their partition would be dropped), and so are events more than an hour in the future;
a day without a partition gets one on demand."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, connection, transaction

from agents.flywheel import partitions

MAX_TEXT = 1_000_000  # characters of query or answer
MAX_MODEL = 200
#: how far ahead of this process's clock an event may be (another host's clock); later is refused,
#: so a wrong clock cannot create partitions for years to come
MAX_CLOCK_SKEW = dt.timedelta(hours=1)
COLUMNS = (
    "occurred_at",
    "workspace_id",
    "agent_id",
    "agent_version",
    "conversation_id",
    "user_id",
    "query",
    "retrieved_ids",
    "answer",
    "citations",
    "latency_ms",
    "model",
)


@dataclass(frozen=True)
class Interaction:
    workspace_id: int
    agent_id: int
    agent_version: int  # the AgentVersion.number that produced it
    conversation_id: int | None
    user_id: int | None
    query: str
    retrieved_ids: list[str]  # e.g. "chunk:123", "fact:9", "memory:4", "doc:<document id>"
    answer: str
    citations: list[dict]  # [{"ref": "doc:12", "document_id": 12, "chunk_id": 34, "title": ..., "quote": ...}]
    latency_ms: dict[str, float]  # per stage: {"retrieve": .., "graph": .., "memory": .., "llm": .., "total": ..}
    model: str  # LLM backend/model name
    occurred_at: dt.datetime | None = None


def _text(value: Any, name: str, limit: int) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{name} must be a string")
    if len(value) > limit:
        raise ValueError(f"{name} is longer than {limit} characters")
    return value.replace("\x00", "\ufffd")  # PostgreSQL text cannot hold NUL


def _json(value: Any, name: str) -> str:
    try:
        text = json.dumps(value, ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} is not JSON: {exc}") from None
    return text.replace("\\u0000", "\\ufffd")  # nor can jsonb


def _positive(value: Any, name: str, *, nullable: bool = False) -> int | None:
    if value is None and nullable:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1 or value >= 2**63:
        raise ValueError(f"{name} must be a positive integer")
    return value


def _row(item: Interaction, *, now: dt.datetime, oldest: dt.date) -> tuple:
    """The COPY/INSERT row of one interaction, or ValueError saying what is wrong."""
    if not isinstance(item, Interaction):
        raise ValueError("not an Interaction")
    occurred = item.occurred_at or now
    if not isinstance(occurred, dt.datetime) or occurred.tzinfo is None:
        raise ValueError("occurred_at must be an aware datetime")
    occurred = occurred.astimezone(dt.UTC)
    if occurred.date() < oldest:
        raise ValueError(f"occurred_at {occurred:%Y-%m-%d} is older than the retention period (from {oldest})")
    if occurred > now + MAX_CLOCK_SKEW:
        raise ValueError(f"occurred_at {occurred.isoformat()} is in the future")
    if not isinstance(item.retrieved_ids, list | tuple) or not all(isinstance(r, str) for r in item.retrieved_ids):
        raise ValueError("retrieved_ids must be a list of strings")
    if not isinstance(item.citations, list | tuple) or not all(isinstance(c, dict) for c in item.citations):
        raise ValueError("citations must be a list of objects")
    if not isinstance(item.latency_ms, dict):
        raise ValueError("latency_ms must be an object of stage -> milliseconds")
    latency = {}
    for stage, ms in item.latency_ms.items():
        if not isinstance(stage, str) or isinstance(ms, bool) or not isinstance(ms, int | float):
            raise ValueError("latency_ms must map stage names to numbers")
        if not math.isfinite(ms) or ms < 0:
            raise ValueError(f"latency_ms[{stage!r}] must be a finite, non-negative number")
        latency[stage] = float(ms)
    if "total" not in latency:
        latency["total"] = sum(latency.values())
    version = item.agent_version
    if isinstance(version, bool) or not isinstance(version, int) or not 0 <= version < 2**31:
        raise ValueError("agent_version must be a non-negative integer")
    return (
        occurred,
        _positive(item.workspace_id, "workspace_id"),
        _positive(item.agent_id, "agent_id"),
        version,
        _positive(item.conversation_id, "conversation_id", nullable=True),
        _positive(item.user_id, "user_id", nullable=True),
        _text(item.query, "query", MAX_TEXT),
        _json(list(item.retrieved_ids), "retrieved_ids"),
        _text(item.answer, "answer", MAX_TEXT),
        _json(list(item.citations), "citations"),
        _json(latency, "latency_ms"),
        _text(item.model, "model", MAX_MODEL),
    )


def _no_partition(exc: IntegrityError) -> bool:
    cause = exc.__cause__
    return getattr(cause, "sqlstate", None) == "23514" and "no partition" in str(cause)


_INSERT = (
    f"INSERT INTO {partitions.PARENT} ({', '.join(COLUMNS)}) "  # noqa: S608 (fixed names)
    f"VALUES ({', '.join(['%s'] * 7)}, %s::jsonb, %s, %s::jsonb, %s::jsonb, %s) RETURNING id"
)


def record_interaction(interaction: Interaction) -> int:
    """Store one interaction as an event row; returns its id (unique across partitions)."""
    now = dt.datetime.now(dt.UTC)
    row = _row(interaction, now=now, oldest=partitions.oldest_kept_day(on=now.date()))
    for attempt in (1, 2):
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute(_INSERT, list(row))
                return cursor.fetchone()[0]
        except IntegrityError as exc:
            if attempt == 2 or not _no_partition(exc):
                raise
        partitions.ensure(days=[row[0].date()])
    raise AssertionError("unreachable")


def record_interactions(interactions: Iterable[Interaction]) -> int:
    """Store a batch of interactions with one COPY; returns how many. All or nothing: a bad item
    raises ``ValueError`` (``item N: ...``) before anything is written."""
    now = dt.datetime.now(dt.UTC)
    oldest = partitions.oldest_kept_day(on=now.date())
    rows = []
    for number, item in enumerate(interactions):
        try:
            rows.append(_row(item, now=now, oldest=oldest))
        except ValueError as exc:
            raise ValueError(f"item {number}: {exc}") from None
    if not rows:
        return 0
    partitions.ensure(days={row[0].date() for row in rows})
    copy = f"COPY {partitions.PARENT} ({', '.join(COLUMNS)}) FROM STDIN"
    with transaction.atomic(), connection.cursor() as cursor:
        with cursor.cursor.copy(copy) as writer:
            for row in rows:
                writer.write_row(row)
    return len(rows)


def events_delete_for_workspace(*, workspace_id: int) -> int:
    """Delete the workspace's interaction events from every partition (its workspace is gone:
    the feedback and daily metrics rows went with it by their foreign keys); returns how many."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM agents_interaction_event WHERE workspace_id = %s", [int(workspace_id)])
        return cursor.rowcount
