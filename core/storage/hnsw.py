"""HNSW search effort (``ef_search``) chosen by the collection's size, shared by the vector adapters.

An HNSW graph of more vectors needs a wider search for the same recall. On this machine
(``./strata bench vector_scale``, low-rank synthetic vectors, m 16, ef_construction 64, halfvec):

- 100,000 vectors: recall@10 0.998 at ef_search 60 (1.40 ms CPU per query);
- 1,000,000 vectors: 0.946 at 60, 0.970 at 100 (3.50 ms CPU per query).

So ``ef_search_for`` gives ``BASE`` (60) up to ``BASE_ROWS`` (100,000) vectors and then grows by
``PER_DECADE`` (40) per tenfold of the collection: 100 at 1M (the measured point), 80 at about
316,000, 140 at 10M (an extrapolation, not measured). Small collections keep 60, so they pay
nothing. ``STRATA_HNSW_EF_SEARCH`` set to a number overrides the rule for every collection; a
search always uses at least ``k``.
"""

from __future__ import annotations

import math

from django.conf import settings

BASE = 60
BASE_ROWS = 100_000
PER_DECADE = 40
MAX_EF_SEARCH = 1000  # pgvector's upper bound for hnsw.ef_search


def ef_search_for(rows: float | None, k: int = 1) -> int:
    """The ef_search of a search for ``k`` hits in a collection of about ``rows`` vectors
    (``None`` or negative: unknown, the base). ``STRATA_HNSW_EF_SEARCH`` (if set) wins."""
    configured = getattr(settings, "STRATA_HNSW_EF_SEARCH", None)
    if configured not in (None, ""):
        chosen = int(configured)
    elif rows is None or rows <= BASE_ROWS:
        chosen = BASE
    else:
        chosen = round(BASE + PER_DECADE * math.log10(rows / BASE_ROWS))
    return min(MAX_EF_SEARCH, max(chosen, int(k)))
