"""Long-term memories: add (merging near-duplicates), update and forget.

A memory is a row (the record); its graph node with ``ABOUT`` edges to the knowledge entities it
names is projected inline (``agents.project_memory_graph``) and its embedding is written after
the commit by the outbox handler ``agents.embed_memories`` (an embedding call never runs in a
transaction). Forgetting deletes the row; the same event removes the node (and its edges) and
the vector, so the memory is gone from every store.

Near-duplicates: a new statement that is the same text (ignoring case and spacing) as one of the
agent's memories for that user, or whose embedding is at least
``STRATA_AGENTS_MEMORY_MERGE_SIMILARITY`` close to one, is merged into it: the newer wording
replaces the older one and ``merged_count`` goes up, so memories do not pile up.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from agents import stores
from agents.models import Agent, Memory
from content import selectors as content
from core import outbox
from core.storage import filters
from core.storage.ports import StoreUnavailable, UnknownCollection
from knowledge import selectors as knowledge

EVENT_MEMORIES_CHANGED = "agents.memories.changed"
MAX_STATEMENT_CHARS = 1000


class MemoryError(ValueError):  # noqa: A001 (the agents app's own)
    """A bad memory (empty or too long statement) or no such memory / agent in the workspace."""


@dataclass(frozen=True)
class MemoryWrite:
    memory_id: int
    merged: bool


def normalized(statement: str) -> str:
    text = " ".join(str(statement).split())
    if not text:
        raise MemoryError("a memory needs a statement")
    if len(text) > MAX_STATEMENT_CHARS:
        raise MemoryError(f"a memory is limited to {MAX_STATEMENT_CHARS:,} characters")
    return text


def statement_hash(text: str) -> str:
    return hashlib.sha256(text.casefold().encode()).hexdigest()


def owner_filter(agent_id: int, user_id: int | None) -> filters.Filter:
    return filters.And(filters.Eq("agent_id", int(agent_id)), filters.Eq("user_id", int(user_id or 0)))


def _near_duplicate(workspace_id: int, agent_id: int, user_id: int | None, text: str) -> int | None:
    """The id of the agent's memory (for this user) closest in meaning, when close enough."""
    try:
        model, matrix = content.embed_for_workspace(workspace_id=workspace_id, texts=[text])
        hits = stores.vectors().search(
            stores.memory_collection(workspace_id=workspace_id, model=model),
            matrix[0].tolist(),
            model=model,
            k=1,
            where=owner_filter(agent_id, user_id),
        )
    except (UnknownCollection, StoreUnavailable):
        return None
    threshold = float(settings.STRATA_AGENTS_MEMORY_MERGE_SIMILARITY)
    return int(hits[0].key) if hits and hits[0].score >= threshold else None


def _entities(workspace_id: int, text: str) -> dict[int, str]:
    return {e.id: e.name for e in knowledge.entities_in(workspace_id=workspace_id, question=text, limit=10)}


def _publish(workspace_id: int, memory_ids: list[int], entity_names: dict[int, str] | None = None) -> None:
    outbox.publish(
        event_type=EVENT_MEMORIES_CHANGED,
        payload={"workspace_id": workspace_id, "memory_ids": memory_ids, "entity_names": entity_names or {}},
        workspace_id=workspace_id,
    )


def memory_add(
    *,
    workspace_id: int,
    agent_id: int,
    user_id: int | None,
    statement: str,
    source_conversation_id: int | None = None,
    source_message_seq: int | None = None,
) -> MemoryWrite:
    """Remember ``statement`` for the agent (and user), merged into a near-duplicate when there
    is one. Embeds (outside any transaction), then writes in one short transaction."""
    text = normalized(statement)
    if not Agent.objects.filter(pk=agent_id, workspace_id=workspace_id).exists():
        raise MemoryError("no such agent in this workspace")
    digest = statement_hash(text)
    same = Memory.objects.filter(agent_id=agent_id, user_id=user_id, statement_hash=digest).values_list("pk", flat=True)
    target = same.first() or _near_duplicate(workspace_id, agent_id, user_id, text)
    entities = _entities(workspace_id, text)
    with transaction.atomic():
        row = (
            Memory.objects.select_for_update().filter(pk=target, workspace_id=workspace_id).first() if target else None
        )
        clash = Memory.objects.filter(agent_id=agent_id, user_id=user_id, statement_hash=digest).first()
        if row is None and clash is not None:
            row = clash
        if row is not None:
            if clash is not None and clash.pk != row.pk:
                row = clash  # the same text exists: merge into that one
            Memory.objects.filter(pk=row.pk).update(
                statement=text,
                statement_hash=digest,
                entity_ids=sorted(entities),
                merged_count=F("merged_count") + 1,
                updated_at=timezone.now(),
                source_conversation_id=source_conversation_id or row.source_conversation_id,
                source_message_seq=source_message_seq or row.source_message_seq,
            )
            _publish(workspace_id, [row.pk], entities)
            return MemoryWrite(row.pk, True)
        memory = Memory.objects.create(
            workspace_id=workspace_id,
            agent_id=agent_id,
            user_id=user_id,
            statement=text,
            statement_hash=digest,
            entity_ids=sorted(entities),
            source_conversation_id=source_conversation_id,
            source_message_seq=source_message_seq,
        )
        _publish(workspace_id, [memory.pk], entities)
        return MemoryWrite(memory.pk, False)


def memory_update(*, workspace_id: int, memory_id: int, statement: str) -> MemoryWrite:
    """Change a memory's statement (its vector and entity links follow)."""
    text = normalized(statement)
    entities = _entities(workspace_id, text)
    with transaction.atomic():
        row = Memory.objects.select_for_update().filter(pk=memory_id, workspace_id=workspace_id).first()
        if row is None:
            raise MemoryError("no such memory in this workspace")
        digest = statement_hash(text)
        clash = (
            Memory.objects.filter(agent_id=row.agent_id, user_id=row.user_id, statement_hash=digest)
            .exclude(pk=row.pk)
            .first()
        )
        if clash is not None:  # the new text is another memory's: merge this one into it
            Memory.objects.filter(pk=clash.pk).update(
                merged_count=F("merged_count") + 1 + row.merged_count, updated_at=timezone.now()
            )
            row.delete()
            _publish(workspace_id, [row.pk, clash.pk], entities)
            return MemoryWrite(clash.pk, True)
        Memory.objects.filter(pk=row.pk).update(
            statement=text, statement_hash=digest, entity_ids=sorted(entities), updated_at=timezone.now()
        )
        _publish(workspace_id, [row.pk], entities)
        return MemoryWrite(row.pk, False)


@transaction.atomic
def memory_forget(*, workspace_id: int, memory_id: int) -> bool:
    """Forget a memory: its row now, its graph node in the same transaction (or from the outbox),
    its vector right after the commit. False when there was no such memory."""
    deleted, _ = Memory.objects.filter(pk=memory_id, workspace_id=workspace_id).delete()
    if deleted:
        _publish(workspace_id, [int(memory_id)])
    return bool(deleted)
