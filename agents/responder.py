"""What one chat turn retrieves, as numbered sources: passages from content search (the agent's
mode), documents and facts from the knowledge app's graph-aware retrieval, and recalled memories.

Bounded: at most one content search (a fixed number of queries; none of its own when the agent
uses graph-aware retrieval with the hybrid mode, whose ranking already runs that search: the
passages are then the best passage of each document it ranks by text and graph together), one
graph-aware retrieval (bounded by knowledge.retrieval), one memory recall (bounded by
agents.recall). Each stage's time is kept
(milliseconds) for the interaction event."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings

from agents.configs import AgentConfig
from agents.llm import Source
from agents.recall import memory_recall
from content import selectors as content
from knowledge import selectors as knowledge


@dataclass
class Retrieved:
    sources: list[Source] = field(default_factory=list)
    retrieved_ids: list[str] = field(default_factory=list)
    timing: dict[str, float] = field(default_factory=dict)


def _ms(start: float) -> float:
    return round((time.perf_counter() - start) * 1000, 3)


def _search(workspace_id: int, question: str, mode: str, limit: int) -> list[Any]:
    for attempt in (mode, "fulltext"):
        try:
            return content.search(workspace_id=workspace_id, query=question, mode=attempt, limit=limit)
        except content.SearchModelMismatch:
            continue  # this process cannot embed for the workspace: full text only
        except content.SearchError:
            return []
    return []


def passage_source(n: int, hit: Any) -> Source:
    return Source(
        n=n,
        ref=f"chunk:{hit.chunk_id}",
        kind="passage",
        text=hit.passage,
        title=hit.title,
        document_id=hit.document_id,
        chunk_id=hit.chunk_id,
    )


def retrieve(*, workspace_id: int, config: AgentConfig, user_id: int | None, agent_id: int, question: str) -> Retrieved:
    found = Retrieved()
    limit = int(settings.STRATA_AGENTS_PASSAGES)
    hits: list[Any] = []
    start = time.perf_counter()
    if config.search_mode != "none" and not (config.use_graph and config.search_mode == "hybrid"):
        hits = _search(workspace_id, question, config.search_mode, limit)
    found.timing["retrieve"] = _ms(start)
    facts: list[Any] = []
    start = time.perf_counter()
    if config.use_graph:
        # its ranking already includes a hybrid search: with the agent's mode hybrid, that one
        # search serves both (one passage per document, ranked by text and graph together)
        answer = knowledge.graph_retrieve(workspace_id=workspace_id, question=question, limit=limit)
        have = {h.chunk_id for h in hits}
        for doc in answer.documents:
            if config.search_mode == "none" and doc.graph_score == 0:
                continue  # no content search: only what the graph connects
            if doc.hit is not None and doc.hit.chunk_id and doc.hit.chunk_id not in have:
                hits.append(doc.hit)  # a passage the graph ranked (or the agent's search did not find)
                have.add(doc.hit.chunk_id)
            elif doc.hit is None:
                found.retrieved_ids.append(f"doc:{doc.document_id}")  # reached through the graph only
        facts = answer.facts[:limit]
    found.timing["graph"] = _ms(start)
    memories: list[Any] = []
    start = time.perf_counter()
    if config.use_memory:
        memories = memory_recall(
            workspace_id=workspace_id,
            agent_id=agent_id,
            user_id=user_id,
            query=question,
            limit=int(settings.STRATA_AGENTS_MEMORIES),
        )
    found.timing["memory"] = _ms(start)
    sources: list[Source] = [passage_source(i + 1, hit) for i, hit in enumerate(hits)]
    for fact in facts:
        sources.append(Source(n=len(sources) + 1, ref=f"fact:{fact.fact_id}", kind="fact", text=fact.statement))
    for memory in memories:
        sources.append(
            Source(n=len(sources) + 1, ref=f"memory:{memory.memory_id}", kind="memory", text=memory.statement)
        )
    found.sources = sources
    found.retrieved_ids = [s.ref for s in sources] + found.retrieved_ids
    return found


def citations(sources: list[Source], numbers: list[int], quotes: dict[int, str]) -> list[dict[str, Any]]:
    """The answer's citations, in the order cited: what each ``[n]`` points to, with the quote
    (the extractive responder's verbatim quote; else the start of the source)."""
    by_number = {s.n: s for s in sources}
    cited = []
    for n in numbers:
        source = by_number[n]
        ref = f"doc:{source.document_id}" if source.document_id is not None else source.ref
        cited.append(
            {
                "n": n,
                "ref": ref,
                "source": source.ref,
                "kind": source.kind,
                "document_id": source.document_id,
                "chunk_id": source.chunk_id,
                "title": source.title,
                "quote": quotes.get(n) or source.text[:300],
            }
        )
    return cited
