"""How hybrid search's defaults were chosen: fusion methods, weights and the hashing embedder's
variants, compared offline on the standard-library corpus (used by ``search_bench.py study``).

For every known item it reads, once, through the same code the search uses:
- the full-text candidates (``content.fulltext.ranked_chunks``, BM25 scores, best 100),
- the semantic candidates through the HNSW index (the vector port, best 100),
- the exact semantic ranking (a numpy scan of every chunk vector of the workspace),
- which candidates share a word with the query (the relevance floor's rescue rule),
then fuses the lists offline with each method and parameter, picks the best parameters on the
tuning split and reports them on the held-out split (document-level MRR@10, as search_eval).
Hashing variants are embedded offline (exact scan) from the same chunk texts and titles.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from django.db import connection

from content import fulltext, semantic, stores
from content.embedding import embedding_input
from content.embeddings import relevance_floor
from content.evaluation import CUTOFF, KnownItem, document_rank
from content.models import Chunk
from content.query import parse_query

POOL = 100
Ranked = list[tuple[int, float]]


@dataclass
class Candidates:
    item: KnownItem
    fulltext: Ranked
    hnsw: Ranked
    exact: Ranked
    shares_word: set[int] = field(default_factory=set)


@dataclass
class Corpus:
    chunk_ids: np.ndarray  # int64, one per chunk vector
    chunk_doc: dict[int, str]  # chunk id -> external id of its document
    matrix: np.ndarray  # the stored vectors, rows aligned with chunk_ids
    texts: list[str]  # embedding inputs (title + text), aligned with chunk_ids


def load_corpus(workspace_id: int, model: str) -> Corpus:
    collection = stores.chunk_collection(workspace_id=workspace_id, model=model)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT v.key, v.embedding::text FROM strata_vector v JOIN strata_vector_collection c "
            "ON c.id = v.collection_id WHERE c.name = %s ORDER BY v.key::bigint",
            [collection],
        )
        rows = cursor.fetchall()
    ids = np.array([int(key) for key, _ in rows], dtype=np.int64)
    matrix = np.array([np.fromstring(text[1:-1], sep=",", dtype=np.float32) for _, text in rows])
    meta = {
        cid: (external_id, title, text)
        for cid, external_id, title, text in Chunk.objects.filter(workspace_id=workspace_id).values_list(
            "id", "document__external_id", "document__title", "text"
        )
    }
    return Corpus(
        chunk_ids=ids,
        chunk_doc={cid: meta[cid][0] for cid in meta},
        matrix=matrix,
        texts=[embedding_input(meta[int(cid)][1], meta[int(cid)][2]) for cid in ids],
    )


def exact_ranked(matrix: np.ndarray, chunk_ids: np.ndarray, vector: np.ndarray, k: int = POOL) -> Ranked:
    scores = matrix @ vector
    top = np.argpartition(-scores, min(k, len(scores) - 1))[:k]
    top = top[np.argsort(-scores[top], kind="stable")]
    return [(int(chunk_ids[i]), float(scores[i])) for i in top]


def _sharing_a_word(workspace_id: int, query: str, chunk_ids: list[int]) -> set[int]:
    parsed = parse_query(query)
    if parsed.is_empty or not chunk_ids:
        return set()
    return semantic.chunks_sharing_a_word(workspace_id=workspace_id, parsed=parsed, chunk_ids=chunk_ids)


def collect(workspace_id: int, items: Sequence[KnownItem], corpus: Corpus) -> list[Candidates]:
    embedder, model = semantic.query_embedder(workspace_id=workspace_id)
    collection = stores.chunk_collection(workspace_id=workspace_id, model=model)
    out = []
    for item in items:
        parsed = parse_query(item.query)
        vector = np.asarray(embedder.embed([parsed.text]), dtype=np.float32)[0]
        hits = stores.vectors().search(
            collection, vector.tolist(), model=model, k=POOL, filter={"workspace_id": workspace_id}
        )
        hnsw = [(int(h.key), float(h.score)) for h in hits]
        exact = exact_ranked(corpus.matrix, corpus.chunk_ids, vector)
        lexical = fulltext.ranked_chunks(workspace_id=workspace_id, parsed=parsed, limit=POOL)
        candidates = {c for c, _ in hnsw} | {c for c, _ in exact}
        out.append(
            Candidates(item, lexical, hnsw, exact, _sharing_a_word(workspace_id, item.query, sorted(candidates)))
        )
    return out


# ---------------------------------------------------------------- fusion methods


def rrf(lists: Sequence[tuple[float, Ranked]], k: float) -> Ranked:
    scores: dict[int, float] = {}
    for weight, ranked in lists:
        for rank, (chunk_id, _) in enumerate(ranked, start=1):
            scores[chunk_id] = scores.get(chunk_id, 0.0) + weight / (k + rank)
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


def _minmax(ranked: Ranked) -> dict[int, float]:
    if not ranked:
        return {}
    values = [s for _, s in ranked]
    low, high = min(values), max(values)
    span = high - low
    return {c: ((s - low) / span if span > 0 else 1.0) for c, s in ranked}


def _zscore(ranked: Ranked) -> dict[int, float]:
    """Distribution-based score fusion: (s - (mean - 3 sd)) / 6 sd, clipped to [0, 1]."""
    if not ranked:
        return {}
    values = np.array([s for _, s in ranked])
    mean, sd = float(values.mean()), float(values.std())
    if sd == 0:
        return {c: 1.0 for c, _ in ranked}
    return {c: min(1.0, max(0.0, (s - (mean - 3 * sd)) / (6 * sd))) for c, s in ranked}


def _maxnorm(ranked: Ranked) -> dict[int, float]:
    if not ranked:
        return {}
    top = max(s for _, s in ranked)
    return {c: (s / top if top > 0 else 0.0) for c, s in ranked}


NORMALISERS: dict[str, Callable[[Ranked], dict[int, float]]] = {"minmax": _minmax, "zscore": _zscore, "max": _maxnorm}


def convex(lists: Sequence[tuple[float, Ranked]], normaliser: str) -> Ranked:
    """sum of weight x normalised score (a list that misses a chunk gives it 0)."""
    norm = NORMALISERS[normaliser]
    scores: dict[int, float] = {}
    for weight, ranked in lists:
        for chunk_id, value in norm(ranked).items():
            scores[chunk_id] = scores.get(chunk_id, 0.0) + weight * value
    return sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))


# ---------------------------------------------------------------- scoring


def mrr(rankings: Sequence[Ranked], items: Sequence[KnownItem], chunk_doc: dict[int, str]) -> dict[str, float]:
    rr = r1 = r10 = 0.0
    for ranked, item in zip(rankings, items, strict=True):
        rank = document_rank((chunk_doc.get(c, "") for c, _ in ranked[: POOL * 2]), item.external_id)
        if rank is not None and rank <= CUTOFF:
            rr += 1.0 / rank
            r1 += rank == 1
            r10 += 1
    n = max(len(items), 1)
    return {"mrr": rr / n, "r1": r1 / n, "r10": r10 / n}


def apply_floor(ranked: Ranked, floor: float, shares_word: set[int]) -> Ranked:
    return [(c, s) for c, s in ranked if s >= floor or c in shares_word]


def floor_of(workspace_id: int) -> float:
    resolved = semantic.query_embedder(workspace_id=workspace_id)
    return relevance_floor(resolved[0]) if resolved else 0.0


def best_on(
    tune: Sequence[Candidates],
    test: Sequence[Candidates],
    chunk_doc: dict[int, str],
    semantic_of: Callable[[Candidates], Ranked],
    grid: dict[str, list[dict]],
) -> list[tuple[str, dict, dict[str, float], dict[str, float]]]:
    """Per fusion method: the best parameters on ``tune`` and their scores on tune and ``test``."""
    rows = []
    for method, settings_list in grid.items():
        scored = []
        for params in settings_list:
            fuse = _fuser(method, params)
            tune_score = mrr([fuse(c.fulltext, semantic_of(c)) for c in tune], [c.item for c in tune], chunk_doc)
            scored.append((tune_score["mrr"], params, tune_score))
        _, params, tune_score = max(scored, key=lambda s: s[0])
        fuse = _fuser(method, params)
        test_score = mrr([fuse(c.fulltext, semantic_of(c)) for c in test], [c.item for c in test], chunk_doc)
        rows.append((method, params, tune_score, test_score))
    return rows


def _fuser(method: str, params: dict) -> Callable[[Ranked, Ranked], Ranked]:
    if method == "rrf":
        return lambda lex, sem: rrf([(1.0, lex), (params["w"], sem)], params["k"])
    return lambda lex, sem: convex([(1.0 - params["alpha"], lex), (params["alpha"], sem)], method)


def default_grid() -> dict[str, list[dict]]:
    return {
        "rrf": [{"k": k, "w": w} for k in (1, 3, 5, 10, 20, 60) for w in (0.2, 0.3, 0.5, 0.7, 1.0, 1.5, 2.0, 3.0, 4.0)],
        "minmax": [{"alpha": a / 20} for a in range(0, 21)],
        "zscore": [{"alpha": a / 20} for a in range(0, 21)],
        "max": [{"alpha": a / 20} for a in range(0, 21)],
    }


def report(workspace_id: int, tune: Sequence[KnownItem], test: Sequence[KnownItem]) -> None:
    """Print single modes, HNSW vs exact recall, and each fusion method tuned on ``tune``."""
    embedder, model = semantic.query_embedder(workspace_id=workspace_id)
    corpus = load_corpus(workspace_id, model)
    ct, cs = collect(workspace_id, tune, corpus), collect(workspace_id, test, corpus)
    floor = relevance_floor(embedder)
    cd = corpus.chunk_doc
    print(f"  study: {len(corpus.chunk_ids)} chunk vectors of {model}; relevance floor {floor:.2f}")
    for label, split in (("tune", ct), ("held-out", cs)):
        items = [c.item for c in split]
        recall = sum(len({a for a, _ in c.hnsw[:10]} & {a for a, _ in c.exact[:10]}) for c in split) / (
            10 * max(len(split), 1)
        )
        rows = {
            "full-text": _fmt(mrr([c.fulltext for c in split], items, cd)),
            "semantic HNSW": _fmt(mrr([c.hnsw[:10] for c in split], items, cd)),
            "semantic HNSW, floor": _fmt(
                mrr([apply_floor(c.hnsw, floor, c.shares_word)[:10] for c in split], items, cd)
            ),
            "semantic exact": _fmt(mrr([c.exact[:10] for c in split], items, cd)),
        }
        print(f"    {label}: HNSW recall@10 of exact {recall:.3f}")
        for name, value in rows.items():
            print(f"      {name:<22} {value}")
    for source, semantic_of in (
        ("HNSW+floor", lambda c: apply_floor(c.hnsw, floor, c.shares_word)),
        ("exact+floor", lambda c: apply_floor(c.exact, floor, c.shares_word)),
    ):
        for method, params, tune_score, test_score in best_on(ct, cs, cd, semantic_of, default_grid()):
            print(
                f"    fusion {method:<7} {source:<11} best on tune {params}: tune MRR@10 {tune_score['mrr']:.3f}, "
                f"held-out {_fmt(test_score)}"
            )


# ---------------------------------------------------------------- hashing embedder variants

VARIANTS: dict[str, dict] = {
    "v1: \\w+ words, unigrams + bigrams": {},
    "+ stop words dropped": {"stop": True},
    "+ Snowball stems": {"stop": True, "stem": True},
    "+ identifiers split": {"stop": True, "stem": True, "split": True},
    "+ bigrams at half weight (v2)": {"stop": True, "stem": True, "split": True, "bigram_weight": 0.5},
    "v2 unsigned": {"stop": True, "stem": True, "split": True, "bigram_weight": 0.5, "signed": False},
    "v2 linear term frequency": {"stop": True, "stem": True, "split": True, "bigram_weight": 0.5, "sublinear": False},
}


def _variant_tokens(text: str, options: dict) -> list[str]:
    from content.embeddings import hashing

    out = []
    for word in hashing._WORD.findall(text if options.get("split") else text.lower()):
        for part in hashing.split_identifier(word) if options.get("split") else [word]:
            part = part.lower()
            if options.get("stop") and part in hashing.STOP_WORDS:
                continue
            out.append(hashing._STEMMER.stemWord(part) if options.get("stem") else part)
    return out


def variant_embed(texts: Sequence[str], options: dict) -> np.ndarray:
    """Feature hashing with the options of ``VARIANTS`` (an offline copy of the embedder's recipe)."""
    from content.embeddings import DIMENSION, hashing

    matrix = np.zeros((len(texts), DIMENSION))
    bigram_weight = options.get("bigram_weight", 1.0)
    for row, text in enumerate(texts):
        tokens = _variant_tokens(text, options) or [text.strip().lower() or "\x00"]
        features = [(t, 1.0) for t in tokens] + [
            (f"{a} {b}", bigram_weight) for a, b in zip(tokens, tokens[1:], strict=False)
        ]
        for feature, weight in features:
            h = hashing._token_hash(feature)
            sign = 1.0 if not options.get("signed", True) or h >> 63 == 0 else -1.0
            matrix[row, h % DIMENSION] += sign * weight
    if options.get("sublinear", True):
        matrix = np.sign(matrix) * np.log1p(np.abs(matrix))
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return (matrix / np.where(norms == 0, 1.0, norms)).astype(np.float32)


def hashing_variants(workspace_id: int, tune: Sequence[KnownItem], test: Sequence[KnownItem]) -> None:
    """Exact-scan semantic MRR@10 of each hashing variant, and its best relative-score fusion with the
    workspace's full-text ranking (weight chosen on the tuning split)."""
    _, model = semantic.query_embedder(workspace_id=workspace_id)
    corpus = load_corpus(workspace_id, model)
    ct, cs = collect(workspace_id, tune, corpus), collect(workspace_id, test, corpus)
    print("  hashing variants (exact scan; tuning / held-out MRR@10; hybrid: relative score, weight tuned):")
    for name, options in VARIANTS.items():
        matrix = variant_embed(corpus.texts, options)
        for split in (ct, cs):
            queries = variant_embed([parse_query(c.item.query).text for c in split], options)
            for candidates, vector in zip(split, queries, strict=True):
                candidates.exact = exact_ranked(matrix, corpus.chunk_ids, vector)
        semantic_scores = [
            mrr([c.exact[:10] for c in split], [c.item for c in split], corpus.chunk_doc) for split in (ct, cs)
        ]
        _, params, tuned, held_out = best_on(
            ct, cs, corpus.chunk_doc, lambda c: c.exact, {"minmax": default_grid()["minmax"]}
        )[0]
        print(
            f"    {name:<34} semantic {semantic_scores[0]['mrr']:.3f} / {semantic_scores[1]['mrr']:.3f}   "
            f"hybrid (alpha {params['alpha']}) {tuned['mrr']:.3f} / {held_out['mrr']:.3f}"
        )


def _fmt(score: dict[str, float]) -> str:
    return f"MRR@10 {score['mrr']:.3f} R@1 {score['r1']:.3f} R@10 {score['r10']:.3f}"
