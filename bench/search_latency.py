"""Search latency at scale (``./strata bench search latency``; used by ``search_bench.py``).

Corpus: ``--docs`` documents (50,000 by default) made of the standard library's docstring
sentences: ``--unique`` texts (12,500 by default) of 3-8 sentences drawn at random (seeded) from all
docstrings; document n has text ``n mod unique`` and the title of docstring ``n mod 3,561``. The
vocabulary is real English, BM25 postings repeat each text 4 times, and since a chunk's vector
embeds title + text, the 50,000 vectors are all distinct.

Loading: through ``document_ingest(embed=True)`` (rows, tsvector, BM25, JSON bodies, graph nodes and
vectors in one transaction per 500 documents; vectors by binary COPY into the vector store). MiniLM
document vectors are cached on disk (``.strata/bench/<model>-vectors.npz``, float16, keyed by a hash
of the embedding input, re-normalised on load), so a rerun skips encoding; queries are never cached.

Measured per mode, uncached, each query new to the query-embedding cache (semantic and hybrid
encode every query with MiniLM on one thread): wall p50/p95, this process's CPU per query and
the PostgreSQL backend's CPU per query (from /proc/<backend pid>/stat). With MiniLM, semantic and
hybrid run once per query runtime (``--query-runtimes onnx,torch``: ONNX Runtime and torch side by
side in the same run; ``onnx-int8`` adds the opt-in int8 graph), after the encoding alone of the same queries on each.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import time
from pathlib import Path
from typing import Any

import numpy as np
from django.db import connection

from bench.common import percentile, verdict
from content import bm25_workspaces, embeddings, fulltext, selectors, semantic, stores
from content.query import parse_query
from core import embedded

TARGETS_MS = {"semantic": 15.0, "fulltext": 10.0, "hybrid": 25.0}
_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def synthetic_documents(documents: list[dict], count: int, seed: int, unique: int) -> list[dict]:
    sentences = [s for d in documents for s in d["text"].split(". ") if len(s.split()) >= 4]
    rng = random.Random(seed)
    texts = [". ".join(rng.choice(sentences) for _ in range(rng.randint(3, 8))) + "." for _ in range(unique)]
    out = []
    for n in range(count):
        source = documents[n % len(documents)]
        out.append({"external_id": f"{source['external_id']}#{n}", "title": source["title"], "text": texts[n % unique]})
    return out


def _key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


class CachingEmbedder:
    """Wraps an embedder: batch vectors come from (and go to) a float16 disk cache by text hash;
    single-query encoding (``embed_query``) always runs the model."""

    def __init__(self, inner: Any, path: Path) -> None:
        self.inner, self.path = inner, path
        self.model, self.dimension = inner.model, inner.dimension
        self.relevance_floor = getattr(inner, "relevance_floor", 0.0)
        self.fusion_weights = getattr(inner, "fusion_weights", None)
        self.cache: dict[bytes, np.ndarray] = {}
        self.width = 0
        self.hits = self.misses = self._unsaved = 0
        self.query_encoder: Any = None  # what encodes single queries (``measure`` switches runtimes)
        if path.exists():
            data = np.load(path)
            self.width = int(data["vectors"].shape[1])
            self.cache = dict(zip((bytes(k) for k in data["keys"]), data["vectors"], strict=True))

    def embed(self, texts: list[str]) -> np.ndarray:
        keys = [_key(t) for t in texts]
        missing = [i for i, k in enumerate(keys) if k not in self.cache]
        self.hits += len(texts) - len(missing)
        self.misses += len(missing)
        if missing:
            fresh = np.asarray(self.inner.embed([texts[i] for i in missing]), dtype=np.float32)
            used = np.flatnonzero(np.abs(fresh).sum(axis=0) > 0)
            self.width = max(self.width, int(used[-1]) + 1 if len(used) else 1)
            for i, row in zip(missing, fresh, strict=True):
                self.cache[keys[i]] = row[: self.width].astype(np.float16)
            self._unsaved += len(missing)
            if self._unsaved >= 2000:  # a long first run keeps what it encoded if it is stopped
                self.save()
        out = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for i, k in enumerate(keys):
            row = self.cache[k].astype(np.float32)
            out[i, : len(row)] = row
        out /= np.linalg.norm(out, axis=1, keepdims=True)
        return out

    def embed_query(self, text: str) -> np.ndarray:
        return embeddings.embed_query(self.query_encoder or self.inner, text)

    @property
    def query_cache_tag(self) -> str:
        return getattr(self.query_encoder or self.inner, "query_cache_tag", "")

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        keys = np.array(list(self.cache), dtype="S16")
        vectors = np.stack([np.pad(v, (0, self.width - len(v))) for v in self.cache.values()]).astype(np.float16)
        tmp = self.path.with_suffix(".tmp.npz")
        np.savez(tmp, keys=keys, vectors=vectors)
        tmp.replace(self.path)
        self._unsaved = 0


def install_vector_cache(provider: str) -> CachingEmbedder:
    """Make this process's ``provider`` embedder the disk-cached one (before anything builds it)."""
    inner = embeddings.get_embedder(provider)
    name = inner.model.replace("/", "-")
    cached = CachingEmbedder(inner, embedded.data_dir() / "bench" / f"{name}-vectors.npz")
    embeddings.PROVIDERS[provider] = lambda model=None: cached
    embeddings._get.cache_clear()
    return cached


def _backend_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS  # utime + stime


def query_encoders(provider: str, runtimes: list[str]) -> dict[str, Any]:
    """The provider's embedder once per query runtime (MiniLM: ``onnx``, ``torch``); else just itself."""
    if provider != "sentence-transformers":
        return {"": embeddings.get_embedder(provider)}
    from django.test import override_settings

    from content.embeddings.sentence_transformers import SentenceTransformerEmbedder

    encoders = {}
    for runtime in runtimes:
        with override_settings(STRATA_SENTENCE_TRANSFORMERS_QUERY_RUNTIME=runtime):
            encoders[runtime] = SentenceTransformerEmbedder.from_settings()
    return encoders


def measure(workspace_id: int, queries: list[str], provider: str, runtimes: list[str]) -> bool:
    embedder = embeddings.get_embedder(provider)
    encoders = query_encoders(provider, runtimes)
    for runtime, encoder in encoders.items():  # load (and export) once, as a web process does before serving
        embeddings.embed_query(encoder, "warm up")
        in_use = getattr(encoder, "query_runtime_in_use", runtime)
        if in_use != runtime:
            raise SystemExit(f"the {runtime} query runtime is not available here (got {in_use})")
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    local = Path(f"/proc/{backend}/stat").exists()
    own = bm25_workspaces.indexes_for(workspace_id)
    index, which = (own.chunk_index, "the workspace's own") if own else (fulltext.TEXT_INDEX, "table-wide")
    with connection.cursor() as cursor:
        cursor.execute("SELECT bm25_summarize_index(%s)", [index])
        summary = cursor.fetchone()[0] or ""
    memtable = re.search(r"Memtable:\s*terms: \d+\s*documents: (\d+)", summary)
    segments = re.search(r"Total: (\d+) segments.*?(\d+) docs", summary)
    print(
        f"  BM25 chunk index ({which}, {index}): "
        f"{memtable.group(1) if memtable else '?'} chunks in the shared-memory memtable, "
        f"{segments.group(2) if segments else 0} in {segments.group(1) if segments else 0} on-disk segments"
    )
    print(
        f"  {len(queries)} queries per mode; full-text {fulltext.active_ranking()}; every query's cached "
        f"embedding dropped first; backend CPU {'measured' if local else 'not measurable (remote server)'}"
    )
    texts = [parse_query(query).text for query in queries]
    for runtime, encoder in encoders.items():
        if runtime:
            started, cpu_started = time.perf_counter(), time.process_time()
            for text in texts:
                embeddings.embed_query(encoder, text)
            print(
                f"  encoding alone, {runtime:<5}: {(time.perf_counter() - started) * 1000 / len(texts):5.1f} ms wall, "
                f"{(time.process_time() - cpu_started) * 1000 / len(texts):5.1f} ms CPU per query"
            )
    ok = True
    for mode in ("semantic", "fulltext", "hybrid"):
        for runtime, encoder in encoders.items() if mode != "fulltext" else [("", None)]:
            if isinstance(embedder, CachingEmbedder) and encoder is not None:
                # (another provider's only "encoder" is this wrapper itself: it must not wrap itself)
                embedder.query_encoder = encoder if encoder is not embedder else None
            ok &= _measure_mode(workspace_id, queries, texts, mode, runtime, embedder, backend if local else None)
    return ok


def _measure_mode(
    workspace_id: int, queries: list[str], texts: list[str], mode: str, runtime: str, embedder: Any, backend: int | None
) -> bool:
    wall, cpu, db_cpu = [], [], []
    # every query is encoded afresh: its cached embedding (the workspace's, by model and text) is dropped first
    for text in texts:
        stores.cache().delete(semantic.query_cache_key(embedder, embedder.model, text, workspace_id=workspace_id))
    for query in queries:
        backend_before = _backend_cpu_seconds(backend) if backend else 0.0
        started, cpu_started = time.perf_counter(), time.process_time()
        selectors.search(workspace_id=workspace_id, query=query, mode=mode, limit=10, use_cache=False)
        wall.append((time.perf_counter() - started) * 1000)
        cpu.append((time.process_time() - cpu_started) * 1000)
        if backend:
            db_cpu.append((_backend_cpu_seconds(backend) - backend_before) * 1000)
    p50 = percentile(wall, 0.5)
    passed = p50 <= TARGETS_MS[mode]
    backend_text = f"  backend CPU {sum(db_cpu) / len(db_cpu):5.1f} ms/query" if db_cpu else ""
    label = f"{mode} ({runtime})" if runtime else mode
    print(
        f"  {label:<17} p50 {p50:6.1f} ms  p95 {percentile(wall, 0.95):6.1f} ms  "
        f"CPU: this process {sum(cpu) / len(cpu):5.1f} ms/query{backend_text}   "
        f"{verdict(passed)} (p50 <= {TARGETS_MS[mode]:.0f} ms)"
    )
    return passed
