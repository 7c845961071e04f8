"""Known-item evaluation of search: each line of a JSONL file is ``{"query", "external_id"}`` (the one
document the query looks for). For every search mode: MRR@10, R@1 and R@10 over the documents
the hits belong to, and the latency per query (wall p50/p95, and this process's CPU time; the
database's own CPU is not included). Used by ``manage.py search_eval`` and ``bench/``.
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from content import selectors

CUTOFF = 10


class EvaluationError(ValueError):
    """The evaluation file is unreadable or malformed (the message names the line)."""


@dataclass(frozen=True)
class KnownItem:
    query: str
    external_id: str


@dataclass
class ModeResult:
    mode: str
    ranks: list[int | None] = field(default_factory=list)  # 1-based document rank, None if not in the top 10
    wall_ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    empty: int = 0  # queries with no hit at all

    def _share(self, cutoff: int) -> float:
        return sum(1 for r in self.ranks if r is not None and r <= cutoff) / max(len(self.ranks), 1)

    @property
    def mrr(self) -> float:
        return sum(1.0 / r for r in self.ranks if r is not None and r <= CUTOFF) / max(len(self.ranks), 1)

    @property
    def recall_at_1(self) -> float:
        return self._share(1)

    @property
    def recall_at_10(self) -> float:
        return self._share(CUTOFF)

    def percentile(self, values: Sequence[float], q: float) -> float:
        if not values:
            return 0.0
        ordered = sorted(values)
        return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]

    def as_dict(self) -> dict[str, float | int | str]:
        return {
            "mode": self.mode,
            "queries": len(self.ranks),
            "mrr@10": round(self.mrr, 4),
            "r@1": round(self.recall_at_1, 4),
            "r@10": round(self.recall_at_10, 4),
            "no_hits": self.empty,
            "p50_ms": round(self.percentile(self.wall_ms, 0.5), 2),
            "p95_ms": round(self.percentile(self.wall_ms, 0.95), 2),
            "cpu_ms_per_query": round(statistics.fmean(self.cpu_ms), 2) if self.cpu_ms else 0.0,
        }


def read_known_items(path: str | Path, *, limit: int | None = None) -> list[KnownItem]:
    """The ``{"query", "external_id"}`` lines of a JSONL file; EvaluationError names a bad line."""
    items: list[KnownItem] = []
    try:
        handle = Path(path).open("rb")  # decoded line by line: a bad byte is named by its line
    except OSError as exc:
        raise EvaluationError(f"cannot read {path}: {exc}") from None
    with handle:
        for number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
            except UnicodeDecodeError as exc:
                raise EvaluationError(f"{path}:{number}: not valid UTF-8 (byte {exc.start} of the line)") from None
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except ValueError as exc:
                raise EvaluationError(f"{path}:{number}: not JSON ({exc})") from None
            if not isinstance(row, dict) or not all(isinstance(row.get(k), str) for k in ("query", "external_id")):
                raise EvaluationError(f'{path}:{number}: expected {{"query": "...", "external_id": "..."}}')
            items.append(KnownItem(row["query"], row["external_id"]))
            if limit is not None and len(items) >= limit:
                break
    if not items:
        raise EvaluationError(f"{path}: no known items")
    return items


def document_rank(external_ids: Iterable[str], wanted: str) -> int | None:
    """1-based rank of ``wanted`` among the distinct documents of the hits, in hit order."""
    seen: list[str] = []
    for external_id in external_ids:
        if external_id not in seen:
            seen.append(external_id)
            if external_id == wanted:
                return len(seen)
    return None


def evaluate(
    *,
    workspace_id: int,
    items: Sequence[KnownItem],
    modes: Sequence[str] = selectors.SEARCH_MODES,
    progress: Callable[[int], None] | None = None,
) -> list[ModeResult]:
    """Run every query in every mode (uncached) and score where its document lands."""
    results = [ModeResult(mode) for mode in modes]
    for result in results:
        for item in items:
            wall, cpu = time.perf_counter(), time.process_time()
            hits = selectors.search(
                workspace_id=workspace_id, query=item.query, mode=result.mode, limit=CUTOFF, use_cache=False
            )
            result.wall_ms.append((time.perf_counter() - wall) * 1000)
            result.cpu_ms.append((time.process_time() - cpu) * 1000)
            result.empty += not hits
            result.ranks.append(document_rank((hit.external_id for hit in hits), item.external_id))
            if progress is not None:
                progress(1)
    return results


def format_table(results: Sequence[ModeResult]) -> str:
    lines = [
        f"{'mode':<10} {'queries':>7} {'MRR@10':>7} {'R@1':>6} {'R@10':>6} {'no hits':>7} "
        f"{'p50 ms':>7} {'p95 ms':>7} {'CPU ms/q':>8}"
    ]
    for result in results:
        row = result.as_dict()
        lines.append(
            f"{row['mode']:<10} {row['queries']:>7} {row['mrr@10']:>7.3f} {row['r@1']:>6.3f} {row['r@10']:>6.3f} "
            f"{row['no_hits']:>7} {row['p50_ms']:>7.1f} {row['p95_ms']:>7.1f} {row['cpu_ms_per_query']:>8.1f}"
        )
    return "\n".join(lines)
