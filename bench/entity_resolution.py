"""The knowledge benchmark's entity-resolution step (``./strata bench knowledge --resolution``):
the extraction path's name-or-alias lookup (``knowledge.entities._by_names``) on the imported
workspace, beside the single-WHERE ``name OR alias`` query it replaced, in the same run.

One in twenty imported entities gets two aliases first (extraction adds them; an import has
none). Each call resolves what one extracted document names: 20 names, half existing entities'
names, a quarter their aliases, a quarter new. Prints p50, CPU per call (this process + the
PostgreSQL backend), each query's EXPLAIN ANALYZE execution time and whether both find the same
entities."""

from __future__ import annotations

import random
import statistics
import time

from django.db import connection
from django.db.models import Q, QuerySet

from bench.common import backend_cpu, ms, time_calls
from knowledge.entities import EntitySpec, _by_names, holders
from knowledge.models import Entity
from knowledge.normalize import normalize_name

NAMES_PER_CALL = 20
ALIASED_EVERY = 20


def _or_holders(workspace_id: int, names: list[str]) -> QuerySet[Entity]:
    """The previous shape of ``holders``: one WHERE with name OR alias (the reference)."""
    return Entity.objects.filter(
        Q(normalized__in=names) | Q(normalized_aliases__overlap=names), workspace_id=workspace_id, merged_into=None
    ).order_by("id")


def _or_query(workspace_id: int, specs: list[EntitySpec]) -> dict[str, int]:
    names = sorted({normalize_name(n) for spec in specs for n in (spec.name, *spec.aliases)} - {""})
    found: dict[str, int] = {}
    for entity in _or_holders(workspace_id, names):
        for norm in [entity.normalized, *entity.normalized_aliases]:
            found.setdefault(norm, entity.pk)
    return found


def _new_query(workspace_id: int, specs: list[EntitySpec]) -> dict[str, int]:
    return {norm: entity.pk for norm, entity in _by_names(workspace_id, specs).items()}


def _explain_ms(workspace_id: int, specs: list[EntitySpec], old: bool) -> float:
    names = sorted({normalize_name(spec.name) for spec in specs})
    query = (_or_holders if old else holders)(workspace_id, names)
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(f"EXPLAIN (ANALYZE, FORMAT JSON) {sql}", params)
        return float(cursor.fetchone()[0][0]["Execution Time"])


def bench_resolution(workspace_id: int, n_nodes: int, samples: int, seed: int, results: list) -> None:
    rng = random.Random(seed + 3)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE knowledge_entity SET aliases = ARRAY['alias a ' || id, 'alias b ' || id], "
            "normalized_aliases = ARRAY['alias a ' || id, 'alias b ' || id] "
            "WHERE workspace_id = %s AND id %% %s = 0",
            [workspace_id, ALIASED_EVERY],
        )
        cursor.execute("ANALYZE knowledge_entity")
    aliased = list(
        Entity.objects.filter(workspace_id=workspace_id)
        .exclude(normalized_aliases=[])
        .values_list("aliases", flat=True)
    )
    total = Entity.objects.filter(workspace_id=workspace_id).count()
    calls = []
    for call in range(samples):
        names = [f"package {rng.randrange(n_nodes)}" for _ in range(NAMES_PER_CALL // 2)]
        names += [rng.choice(aliased)[0] for _ in range(NAMES_PER_CALL // 4)]
        names += [f"new thing {call} {i}" for i in range(NAMES_PER_CALL - len(names))]
        calls.append([EntitySpec(name=name) for name in names])
    print(
        f"\nentity resolution (the extraction path's name-or-alias lookup), {total:,} entities, "
        f"{len(aliased):,} with aliases, {samples} calls of {NAMES_PER_CALL} names:"
    )
    answers = {}
    for label, function in (("OR (before)", _or_query), ("UNION (now)", _new_query)):
        py, pg = time.process_time(), backend_cpu(missing_ok=True)
        times, answers[label] = time_calls(lambda specs, f=function: f(workspace_id, specs), calls)
        n = len(calls) + 3
        py, pg = (time.process_time() - py) / n, (backend_cpu(missing_ok=True) - pg) / n
        explain = statistics.median(_explain_ms(workspace_id, specs, label.startswith("OR")) for specs in calls[:20])
        print(
            f"  {label:12s} p50 {ms(statistics.median(times))}  CPU Python {py * 1000:.2f} + PostgreSQL "
            f"{pg * 1000:.2f} ms per call   EXPLAIN ANALYZE execution {explain:.2f} ms (median of 20)"
        )
    same = answers["OR (before)"] == answers["UNION (now)"]
    print(f"  same entities found: {same}")
    results.append(("entity resolution: UNION finds the same entities as OR", same))
