"""Memory recall: the agent's memories (for this user, and those for everyone) closest in
meaning to a query, weighted by recency.

Bounded whatever the number of memories: one query embedding (cached per workspace, by model
and text), one vector search (the agent's memories for the user and for everyone: k nearest,
filtered on indexed fields), one row read of the hits. Score: ``(1 - w) x similarity + w x 0.5 ** (age in
days / half-life)`` with ``w = STRATA_AGENTS_MEMORY_RECENCY_WEIGHT``; hits less similar than
``STRATA_AGENTS_MEMORY_MIN_SIMILARITY`` are dropped."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from agents import stores
from agents.models import Memory
from content import selectors as content
from core.storage import filters
from core.storage.ports import StoreUnavailable, UnknownCollection

POOL = 4  # vector hits fetched per memory recalled (recency may reorder them)


@dataclass(frozen=True)
class RecalledMemory:
    memory_id: int
    statement: str
    score: float
    similarity: float
    age_days: float
    entity_ids: tuple[int, ...] = ()


def _query_vector(workspace_id: int, query: str) -> tuple[str, list[float]] | None:
    embedded = content.embed_question(workspace_id=workspace_id, text=query)
    if embedded is None:
        model, matrix = content.embed_for_workspace(workspace_id=workspace_id, texts=[query])
        return model, matrix[0].tolist()
    return embedded[0], embedded[1].tolist()


def memory_recall(
    *, workspace_id: int, agent_id: int, user_id: int | None, query: str, limit: int = 5
) -> list[RecalledMemory]:
    """The best ``limit`` memories for ``query``, best first."""
    if not query.strip() or limit < 1:
        return []
    found = _query_vector(workspace_id, query[:2000])
    if found is None:
        return []
    model, vector = found
    collection = stores.memory_collection(workspace_id=workspace_id, model=model)
    floor = float(settings.STRATA_AGENTS_MEMORY_MIN_SIMILARITY)
    owners = [int(user_id), 0] if user_id else [0]
    where = filters.And(filters.Eq("agent_id", int(agent_id)), filters.In("user_id", owners))
    try:
        hits = stores.vectors().search(collection, vector, model=model, k=min(limit * POOL, 100), where=where)
    except (UnknownCollection, StoreUnavailable):
        return []
    similarity = {int(h.key): h.score for h in hits if h.score >= floor}
    if not similarity:
        return []
    rows = Memory.objects.filter(pk__in=list(similarity), workspace_id=workspace_id, agent_id=agent_id).values_list(
        "pk", "statement", "updated_at", "entity_ids"
    )
    weight = float(settings.STRATA_AGENTS_MEMORY_RECENCY_WEIGHT)
    half_life = max(float(settings.STRATA_AGENTS_MEMORY_HALF_LIFE_DAYS), 1e-6)
    now = timezone.now()
    recalled = []
    for pk, statement, updated_at, entity_ids in rows:
        age = max(0.0, (now - updated_at).total_seconds() / 86400)
        sim = similarity[pk]
        score = (1 - weight) * sim + weight * 0.5 ** (age / half_life)
        recalled.append(RecalledMemory(pk, statement, score, sim, age, tuple(entity_ids)))
    recalled.sort(key=lambda m: (-m.score, -m.memory_id))
    return recalled[:limit]
