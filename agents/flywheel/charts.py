"""The analytics page's chart data: one agent's daily metric rows as the columns plotly.js draws
(dates on x; rates as percentages; gaps where a day had nothing to measure)."""

from __future__ import annotations

from typing import Any


def _percent(value: float | None) -> float | None:
    return None if value is None else round(100 * value, 2)


def chart_series(rows: list[dict[str, Any]]) -> dict[str, list[Any]]:
    return {
        "day": [row["day"].isoformat() for row in rows],
        "interactions": [row["interactions"] for row in rows],
        "judged": [row["judged"] for row in rows],
        "acceptance": [_percent(row["acceptance_rate"]) for row in rows],
        "rejection": [_percent(row["rejection_rate"]) for row in rows],
        "hit_rate": [_percent(row["retrieval_hit_rate"]) for row in rows],
        "p50": [row["latency_p50_ms"] for row in rows],
        "p95": [row["latency_p95_ms"] for row in rows],
    }
