"""Admin of the flywheel: interaction events (read-only, readable), feedback (read, delete) and
daily metrics (read-only), each with export actions (JSONL, CSV). Scoped to the user's
workspaces like every admin (core.admin_mixins.WorkspaceScopedAdmin)."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from agents.flywheel.models import AgentDailyMetric, Feedback, InteractionEvent
from core.admin import ReadOnlyAdminMixin, pretty_json
from core.admin_mixins import WorkspaceScopedAdmin

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """A CSV cell a spreadsheet will not run as a formula."""
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def jsonl_response(rows: Iterable[dict[str, Any]], filename: str) -> HttpResponse:
    body = "".join(json.dumps(row, ensure_ascii=False, default=str) + "\n" for row in rows)
    response = HttpResponse(body, content_type="application/x-ndjson; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def csv_response(rows: list[dict[str, Any]], filename: str) -> HttpResponse:
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
        writer.writeheader()
        for row in rows:
            writer.writerow({k: _cell(json.dumps(v) if isinstance(v, list | dict) else v) for k, v in row.items()})
    response = HttpResponse(buffer.getvalue(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _short(text: str, limit: int = 80) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


EVENT_FIELDS = [f.name for f in InteractionEvent._meta.fields]


@admin.register(InteractionEvent)
class InteractionEventAdmin(ReadOnlyAdminMixin, WorkspaceScopedAdmin):
    workspace_field = "workspace_id"
    list_display = ("id", "occurred_at", "agent_id", "agent_version", "model", "query_short", "total_ms")
    list_filter = ("model",)
    search_fields = ("=id", "query")
    date_hierarchy = "occurred_at"
    show_full_result_count = False
    actions = ["export_jsonl", "export_csv"]
    fields = (
        ("id", "occurred_at"),
        ("workspace_id", "agent_id", "agent_version"),
        ("conversation_id", "user_id", "model"),
        "query",
        "answer",
        "citations_pretty",
        "retrieved_ids_pretty",
        "latency_pretty",
    )
    readonly_fields = [f for group in fields for f in (group if isinstance(group, tuple) else (group,))]

    @admin.display(description="query")
    def query_short(self, obj: InteractionEvent) -> str:
        return _short(obj.query)

    @admin.display(description="total ms")
    def total_ms(self, obj: InteractionEvent) -> Any:
        return (obj.latency_ms or {}).get("total")

    @admin.display(description="citations")
    def citations_pretty(self, obj: InteractionEvent) -> str:
        return pretty_json(obj.citations)

    @admin.display(description="retrieved ids")
    def retrieved_ids_pretty(self, obj: InteractionEvent) -> str:
        return pretty_json(obj.retrieved_ids)

    @admin.display(description="latency (ms per stage)")
    def latency_pretty(self, obj: InteractionEvent) -> str:
        return pretty_json(obj.latency_ms)

    def _rows(self, queryset: QuerySet) -> list[dict[str, Any]]:
        return list(queryset.order_by("occurred_at", "id").values(*EVENT_FIELDS))

    @admin.action(description="Export selected events as JSONL")
    def export_jsonl(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        return jsonl_response(self._rows(queryset), "interaction-events.jsonl")

    @admin.action(description="Export selected events as CSV")
    def export_csv(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        return csv_response(self._rows(queryset), "interaction-events.csv")


@admin.register(Feedback)
class FeedbackAdmin(WorkspaceScopedAdmin):
    """Feedback is given on the pages; here it is read, exported, or deleted (editors)."""

    list_display = ("event_id", "user", "thumbs", "rating", "outcome", "correction_short", "agent_id", "updated_at")
    list_filter = ("thumbs", "outcome", "rating")
    list_select_related = ("user",)
    search_fields = ("=event_id", "correction")
    actions = ["export_jsonl", "export_csv", "delete_selected"]
    readonly_fields = [f.name for f in Feedback._meta.fields]

    @admin.display(description="correction")
    def correction_short(self, obj: Feedback) -> str:
        return _short(obj.correction)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def _rows(self, queryset: QuerySet) -> list[dict[str, Any]]:
        feedback = list(queryset.order_by("event_occurred_at", "event_id", "id"))
        ws_ids = {fb.workspace_id for fb in feedback}
        events = {
            e["id"]: e
            for e in InteractionEvent.objects.filter(
                id__in={fb.event_id for fb in feedback}, workspace_id__in=ws_ids
            ).values("id", "workspace_id", "query", "answer", "agent_version")
        }
        rows = []
        for fb in feedback:
            event = events.get(fb.event_id)
            same = event is not None and event["workspace_id"] == fb.workspace_id
            rows.append(
                {
                    "event_id": fb.event_id,
                    "workspace_id": fb.workspace_id,
                    "agent_id": fb.agent_id,
                    "agent_version": event["agent_version"] if same else None,
                    "user_id": fb.user_id,
                    "thumbs": fb.thumbs,
                    "rating": fb.rating,
                    "outcome": fb.outcome,
                    "correction": fb.correction,
                    "query": event["query"] if same else None,
                    "answer": event["answer"] if same else None,
                    "event_occurred_at": fb.event_occurred_at.isoformat(),
                    "updated_at": fb.updated_at.isoformat(),
                }
            )
        return rows

    @admin.action(description="Export selected feedback as JSONL (with the question and answer)")
    def export_jsonl(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        return jsonl_response(self._rows(queryset), "feedback.jsonl")

    @admin.action(description="Export selected feedback as CSV (with the question and answer)")
    def export_csv(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        return csv_response(self._rows(queryset), "feedback.csv")


@admin.register(AgentDailyMetric)
class AgentDailyMetricAdmin(ReadOnlyAdminMixin, WorkspaceScopedAdmin):
    list_display = (
        "day",
        "agent_id",
        "workspace",
        "interactions",
        "judged",
        "acceptance_rate",
        "rejection_rate",
        "retrieval_hit_rate",
        "latency_p50_ms",
        "latency_p95_ms",
    )
    list_filter = ("agent_id",)
    date_hierarchy = "day"
    actions = ["export_csv"]

    @admin.action(description="Export selected days as CSV")
    def export_csv(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse:
        rows = list(queryset.order_by("agent_id", "day").values())
        return csv_response(rows, "agent-daily-metrics.csv")
