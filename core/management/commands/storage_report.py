"""Report, per app and kind of store, size, rows, write rate, port latencies, HNSW index size
against shared_buffers and RAM, cache hit ratio and AGE dead rows, with a verdict (stay or move).

manage.py storage_report
manage.py storage_report --hours 1 --json
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from core.storage import report as advisor


def _size(value: int | None) -> str:
    return "n/a" if value is None else f"{value / advisor.MIB:,.1f} MiB"


def _ratio(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


class Command(BaseCommand):
    help = "The measured evolution advisor: how each app's stores are used, and whether one should move."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--hours", type=int, default=None, help="hours of port timings to read (default 24)")
        parser.add_argument("--json", action="store_true", help="print the report as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        reports = advisor.storage_report(hours=options["hours"])
        if options["json"]:
            self.stdout.write(json.dumps([dataclasses.asdict(r) for r in reports], indent=2, default=str))
            return
        for r in reports:
            self.stdout.write(
                f"{r.app} {r.kind}: {r.vendor} ({r.read}; writes {', '.join(r.writes)}) -> {r.verdict.upper()}"
            )
            for unit, count in r.rows.items():
                self.stdout.write(f"  {unit}: {count:,} items")
            self.stdout.write(
                f"  size {_size(r.size_bytes)}; buffer cache hit ratio {_ratio(r.hit_ratio)}; "
                f"writes {r.writes_per_second:.2f}/s (peak hour {r.peak_writes_per_second:.2f}/s)"
            )
            if r.index_bytes is not None:
                self.stdout.write(
                    f"  HNSW indexes {_size(r.index_bytes)} vs shared_buffers {_size(r.shared_buffers_bytes)} "
                    f"and RAM {_size(r.ram_bytes)}; index hit ratio {_ratio(r.index_hit_ratio)}"
                )
            for op in r.operations[:8]:
                p50 = "n/a" if op.p50_ms is None else f"{op.p50_ms:.2f}"
                p95 = "n/a" if op.p95_ms is None else f"{op.p95_ms:.2f}"
                self.stdout.write(f"  {op.name}: {op.calls:,} calls, p50 {p50} ms, p95 {p95} ms")
            if r.dead_rows:
                self.stdout.write("  AGE label tables (pg_stat_user_tables): dead / live rows")
                for row in r.dead_rows:
                    self.stdout.write(
                        f"    {row['table']}: {row['dead']:,} / {row['live']:,} ({row['dead_ratio']:.0%})"
                    )
            for note in r.notes:
                self.stdout.write(f"  note: {note}")
            for reason in r.reasons:
                self.stdout.write(f"  why: {reason}")
