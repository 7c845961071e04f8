"""Graph-aware retrieval: given a question, find the entities it names, expand their
neighbourhood in the graph, and rank the connected documents and facts together with the
vector and full-text hits (LightRAG's local/global/mix idea, without its per-item round trips).

The number of queries per question is bounded whatever the graph's size: one for the entities
named in the question (its word n-grams against entity names and aliases), one hybrid search
(content's, a fixed number of queries), at most ``MAX_SEEDS`` neighbourhood traversals (each one
recursive SQL query on AGE, one per level on FalkorDB, each with a node limit), one for the
facts of those entities, one embedding plus one vector search for facts close in meaning, and
one for the titles of documents reached only through the graph.

Scores: a document's text score is its best hybrid score relative to the best hit (0..1); its
graph score is, over the question's entities, 1 / depth of the shortest connection (a document
that mentions the entity: 1; one that mentions a neighbour: 1/2), divided by the number of
entities (a document whose title names the entity counts as linked to it); the rank is text +
``STRATA_GRAPH_SEARCH_WEIGHT`` x graph. A document of the question's entity itself (linked to it
by one edge, e.g. ``doc:apt ABOUT apt``, or whose title names it) ranks
above every document reached only through the entity's neighbours: those are ranked by their
score, but never above the weakest of the entity's own documents (a neighbour's changelog full of
the question's words outranked the package's own README). A fact scores its cosine similarity to
the question plus 0.5 per question entity it is about.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils.html import escape
from django.utils.safestring import mark_safe

from content import selectors as content
from core.storage.ports import StoreUnavailable, UnknownCollection
from knowledge import queries, stores
from knowledge.models import Entity, Fact
from knowledge.normalize import normalize_name

MAX_SEEDS = 5
MAX_WORDS = 64
MAX_NGRAM = 4
NEIGHBOURHOOD_LIMIT = 400
TEXT_POOL = 30
_WORD = re.compile(r"[^\W_][\w.+#'-]*")
_STOP = frozenset(
    "a an and are as at be by did do does for from has have how i in is it its of on or the to was were what "
    "when where which who whom why with about write wrote".split()
)


@dataclass(frozen=True)
class SeedEntity:
    id: int
    key: str
    name: str
    type: str


@dataclass(frozen=True)
class RankedDocument:
    document_id: int
    title: str
    external_id: str
    score: float
    text_score: float
    graph_score: float
    via: tuple[str, ...] = ()
    hit: Any = None  # content's SearchHit, when the document was a text hit


@dataclass(frozen=True)
class RankedFact:
    fact_id: int
    statement: str
    score: float
    entities: tuple[str, ...] = ()


@dataclass
class GraphAnswer:
    entities: list[SeedEntity] = field(default_factory=list)
    documents: list[RankedDocument] = field(default_factory=list)
    facts: list[RankedFact] = field(default_factory=list)


def ngrams(question: str) -> list[str]:
    """Normalized word n-grams (1..MAX_NGRAM) of the question, longest first (linear: at most
    MAX_WORDS words are read)."""
    words = [m.group().rstrip(".'-") for m, _ in zip(_WORD.finditer(question), range(MAX_WORDS), strict=False)]
    grams: dict[str, int] = {}
    for n in range(MAX_NGRAM, 0, -1):
        for start in range(0, len(words) - n + 1):
            gram = normalize_name(" ".join(words[start : start + n]))
            if gram and not (n == 1 and (gram in _STOP or len(gram) < 2)):
                grams.setdefault(gram, n)
    return list(grams)


def entities_in(*, workspace_id: int, question: str, limit: int = MAX_SEEDS) -> list[SeedEntity]:
    """The workspace's entities the question names (by name or alias), longest names first."""
    grams = ngrams(question)
    if not grams:
        return []
    # by name UNION by alias, each on its own index: one WHERE with "name OR alias" made the
    # planner walk the primary key (ORDER BY id LIMIT) and filter every entity of the graph
    # (29 ms per question at 60,000 entities; now 0.1 ms)
    fields = ("id", "key", "name", "type__name", "normalized", "normalized_aliases")
    entities = Entity.objects.filter(workspace_id=workspace_id, merged_into=None)
    rows = (
        entities.filter(normalized__in=grams)
        .values_list(*fields)
        .union(
            # "<> '{}'" is implied by the overlap, but it tells the planner how few entities have
            # aliases: with none at all its statistics cannot say so and it scanned the table
            entities.filter(normalized_aliases__overlap=grams).exclude(normalized_aliases=[]).values_list(*fields)
        )
        .order_by("id")[:200]
    )
    order = {g: i for i, g in enumerate(grams)}

    def rank(row: tuple) -> int:
        return min(order.get(n, len(order)) for n in (row[4], *row[5]))

    found = sorted(rows, key=lambda row: (rank(row), row[0]))[:limit]
    return [SeedEntity(pk, key, name, type_name) for pk, key, name, type_name, _, _ in found]


def _text_hits(workspace_id: int, question: str, pool: int, filters: Any) -> list[Any]:
    for mode in ("hybrid", "fulltext"):
        try:
            return content.search(workspace_id=workspace_id, query=question, mode=mode, limit=pool, filters=filters)
        except content.SearchModelMismatch:
            continue  # this process cannot embed for the workspace: full text only
        except content.SearchError:
            return []
    return []


def graph_retrieve(
    *, workspace_id: int, question: str, limit: int = 10, depth: int = 2, filters: Any = None
) -> GraphAnswer:
    """The question's entities, and the documents and facts ranked with the graph's help
    (``filters``: the metadata filter every document must match, as in content's search)."""
    depth = max(1, min(int(depth), 3))
    answer = GraphAnswer(entities=entities_in(workspace_id=workspace_id, question=question))
    hits = _text_hits(workspace_id, question, TEXT_POOL, filters)
    best = max((h.score for h in hits), default=0.0) or 1.0
    text_score: dict[int, float] = {}
    first_hit: dict[int, Any] = {}
    for hit in hits:
        if hit.document_id not in first_hit:
            first_hit[hit.document_id] = hit
            text_score[hit.document_id] = max(0.0, hit.score / best)
    graph_score: dict[int, float] = defaultdict(float)
    direct: set[int] = set()  # documents one edge from a question entity
    via: dict[int, list[str]] = defaultdict(list)
    near_entities: dict[str, float] = {s.key: 1.0 for s in answer.entities}  # by entity key
    for seed in answer.entities:
        try:  # keys and depths only (nothing here needs the nodes' names), and at the last depth
            # only documents: the entities there are not used and sort after the documents
            hood = queries.k_hop_keys(
                workspace_id=workspace_id,
                key=seed.key,
                k=depth,
                direction="both",
                limit=NEIGHBOURHOOD_LIMIT,
                last_kinds=("document",) if depth > 1 else None,  # entities 1 edge away are used
            )
        except (queries.NodeMissing, queries.GraphQueryError, StoreUnavailable):
            continue
        for key, kind, hops in hood:
            if kind == "document":
                document_id = stores.document_id(key)
                if document_id is not None:
                    graph_score[document_id] += 1.0 / hops
                    via[document_id].append(seed.name)
                    if hops == 1:
                        direct.add(document_id)
            elif hops == 1:
                near_entities.setdefault(key, 0.5)
    seeds = max(len(answer.entities), 1)
    weight = float(settings.STRATA_GRAPH_SEARCH_WEIGHT)
    if filters and graph_score:  # documents reached through the graph must match the filter too
        matching = set(content.document_ids_matching_metadata(workspace_id=workspace_id, metadata=filters))
        graph_score = defaultdict(float, {d: v for d, v in graph_score.items() if d in matching})
    ids = set(text_score) | set(graph_score)
    missing = [d for d in ids if d not in first_hit]
    labels = content.document_labels(workspace_id=workspace_id, document_ids=missing) if missing else {}
    seed_names = {normalize_name(seed.name) for seed in answer.entities}
    ranked = []
    for doc_id in ids:
        hit = first_hit.get(doc_id)
        if hit is None and doc_id not in labels:
            continue  # a document deleted meanwhile
        title, external = (hit.title, hit.external_id) if hit else (labels[doc_id][1], labels[doc_id][0])
        g = graph_score.get(doc_id, 0.0) / seeds
        named = _names_in(title, seed_names) if seed_names else 0
        if named:  # titled with the entity's name: as good as linked to it
            direct.add(doc_id)
            g = max(g, named / seeds)
        t = text_score.get(doc_id, 0.0)
        ranked.append(RankedDocument(doc_id, title, external, t + weight * g, t, g, tuple(via.get(doc_id, ())), hit))
    answer.documents = _ordered(ranked, direct)[:limit]
    answer.facts = _facts(workspace_id, question, near_entities, limit)
    return answer


def _names_in(title: str, names: set[str]) -> int:
    """How many of the (normalized) ``names`` the title holds as whole words: ``ngrams``'s
    matching, a tenth of its cost (up to 2,000 documents a question reach through the graph)."""
    words = (m.group().rstrip(".'-") for m, _ in zip(_WORD.finditer(title), range(MAX_WORDS), strict=False))
    padded = f" {normalize_name(' '.join(words))} "
    return sum(f" {name} " in padded for name in names)


def _ordered(ranked: list[RankedDocument], direct: set[int]) -> list[RankedDocument]:
    """By score, except that a document reached only through neighbours (graph score, no
    direct link or title) never ranks above one of the question entity's own documents: its
    place counts at most the weakest own document's score (ties: the own document first)."""
    own = [d.score for d in ranked if d.document_id in direct]
    cap = min(own) if own else float("inf")

    def key(d: RankedDocument) -> tuple[float, bool, float, int]:
        neighbour_only = d.graph_score > 0 and d.document_id not in direct
        return (-min(d.score, cap) if neighbour_only else -d.score, neighbour_only, -d.score, d.document_id)

    return sorted(ranked, key=key)


def _facts(workspace_id: int, question: str, near: dict[str, float], limit: int) -> list[RankedFact]:
    """``near``: entity key -> weight (the question's entities 1, their neighbours 0.5)."""
    if not Fact.objects.filter(workspace_id=workspace_id).exists():
        return []  # one indexed query instead of the links, the question's vector and a collection lookup
    scores: dict[int, float] = defaultdict(float)
    linked = Fact.entities.through.objects.filter(
        entity__key__in=list(near)[:100], entity__workspace_id=workspace_id, fact__workspace_id=workspace_id
    ).values_list("fact_id", "entity__key")[:500]
    for fact_id, entity_key in linked:
        scores[fact_id] += 0.5 * near[entity_key]
    try:
        embedded = content.embed_question(workspace_id=workspace_id, text=question)
    except Exception:  # noqa: BLE001 (the workspace's embedder is unavailable here: graph facts only)
        embedded = None
    if embedded is not None:
        model, vector = embedded
        try:
            hits = stores.vectors().search(
                stores.fact_collection(workspace_id=workspace_id, model=model), vector.tolist(), model=model, k=limit
            )
        except (UnknownCollection, StoreUnavailable):
            hits = []
        for hit in hits:
            scores[int(hit.key)] += max(0.0, hit.score)
    if not scores:
        return []
    facts = {
        f.pk: f
        for f in Fact.objects.filter(workspace_id=workspace_id, pk__in=list(scores)).prefetch_related("entities")
    }
    ranked = [
        RankedFact(pk, facts[pk].statement, score, tuple(e.name for e in facts[pk].entities.all()))
        for pk, score in scores.items()
        if pk in facts
    ]
    ranked.sort(key=lambda f: (-f.score, f.fact_id))
    return ranked[:limit]


def search_hits(*, workspace_id: int, query: str, filters: Any = None, limit: int = 10) -> list[Any]:
    """The search page's "graph" mode: the ranked documents as content's ``SearchHit`` (a
    document reached through the graph only shows which of the question's entities led to it)."""
    answer = graph_retrieve(workspace_id=workspace_id, question=query, limit=limit, filters=filters)
    hits = []
    for doc in answer.documents:
        reason = f"connected to {', '.join(dict.fromkeys(doc.via))}" if doc.via else ""
        if doc.hit is not None:
            hit = doc.hit
            hits.append(
                content.SearchHit(**{**hit.__dict__, "score": doc.score, "highlighted_html": hit.highlighted_html})
            )
        else:
            hits.append(
                content.SearchHit(
                    document_id=doc.document_id,
                    chunk_id=0,
                    title=doc.title,
                    passage=reason,
                    start_offset=0,
                    end_offset=0,
                    score=doc.score,
                    highlighted_html=mark_safe(escape(reason)),  # noqa: S308 (escaped)
                    external_id=doc.external_id,
                )
            )
    return hits
