"""Admin for the agents rows, scoped to the user's workspaces and roles. Agents are added and
changed through the services (each change writes a new version; versions are read-only);
conversations are read-only with their messages readable (from the DocumentStore); memories are
read-only with a "forget" action (gone from every store). Conversations and memories export as
JSON lines."""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html, format_html_join

from agents import configs, conversations, memory_writes
from agents.models import Agent, AgentVersion, Conversation, Memory
from core.admin import ReadOnlyAdminMixin
from core.admin_mixins import WorkspaceScopedAdmin


def _jsonl(name: str, rows: list[dict[str, Any]]) -> HttpResponse:
    body = "".join(json.dumps(row, default=str, ensure_ascii=False) + "\n" for row in rows)
    response = HttpResponse(body, content_type="application/x-ndjson")
    response["Content-Disposition"] = f'attachment; filename="{name}.jsonl"'
    return response


class AgentAdminForm(forms.ModelForm):
    class Meta:
        model = Agent
        fields = ("workspace", "name", "instructions", "search_mode", "use_graph", "use_memory", "llm_backend", "tools")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        fields = ("name", "instructions", "search_mode", "use_graph", "use_memory", "llm_backend", "tools")
        if all(name in data for name in fields):
            try:
                configs.check(configs.AgentConfig(**{n: data[n] for n in fields}))
            except configs.AgentError as exc:
                raise forms.ValidationError(str(exc)) from None
        return data


class AgentVersionInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = AgentVersion
    fields = ("number", "config", "created_by_id", "created_at")
    readonly_fields = fields
    extra = 0


@admin.register(Agent)
class AgentAdmin(WorkspaceScopedAdmin):
    list_display = ("name", "workspace", "version", "search_mode", "use_graph", "use_memory", "llm_backend")
    list_filter = (("workspace", admin.RelatedOnlyFieldListFilter),)
    search_fields = ("name",)
    fields = ("workspace", "name", "instructions", "search_mode", "use_graph", "use_memory", "llm_backend", "tools")
    inlines = [AgentVersionInline]
    form = AgentAdminForm

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        return ("workspace",) if obj is not None else ()

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # its conversations' documents and memories' vectors would outlive the rows

    def save_model(self, request: HttpRequest, obj: Agent, form: Any, change: bool) -> None:
        config = configs.config_of(obj)
        try:
            if change:
                saved = configs.agent_update(
                    workspace_id=obj.workspace_id, agent_id=obj.pk, config=config, user_id=request.user.pk
                )
            else:
                saved = configs.agent_create(workspace_id=obj.workspace_id, config=config, user_id=request.user.pk)
        except configs.AgentError as exc:
            self.message_user(request, str(exc), messages.ERROR)
            return
        obj.pk, obj.version = saved.pk, saved.version


@admin.register(Conversation)
class ConversationAdmin(ReadOnlyAdminMixin, WorkspaceScopedAdmin):
    list_display = ("__str__", "agent", "user", "messages_count", "updated_at", "workspace")
    list_filter = (("workspace", admin.RelatedOnlyFieldListFilter), ("agent", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("agent", "user", "workspace")
    search_fields = ("title",)
    fields = ("workspace", "agent", "user", "title", "messages_count", "created_at", "updated_at", "messages")
    readonly_fields = fields
    actions = ["export_jsonl"]

    @admin.display(description="messages")
    def messages(self, obj: Conversation) -> str:
        docs = conversations.conversation_messages(workspace_id=obj.workspace_id, conversation_id=obj.pk)
        return format_html(
            "<ol class='messages'>{}</ol>",
            format_html_join(
                "",
                "<li><strong>{}</strong>: {} <small>{}</small></li>",
                (
                    (d["role"], d["content"] or d.get("error", ""), ", ".join(c.get("ref", "") for c in d["citations"]))
                    for d in docs
                ),
            ),
        )

    @admin.action(description="Export selected conversations (JSON lines)")
    def export_jsonl(self, request: HttpRequest, queryset: QuerySet[Conversation]) -> HttpResponse:
        rows = []
        for conversation in queryset.order_by("id")[:1000]:
            rows.append(
                {
                    "conversation_id": conversation.pk,
                    "agent_id": conversation.agent_id,
                    "workspace_id": conversation.workspace_id,
                    "title": conversation.title,
                    "messages": conversations.conversation_messages(
                        workspace_id=conversation.workspace_id, conversation_id=conversation.pk
                    ),
                }
            )
        return _jsonl("conversations", rows)


@admin.register(Memory)
class MemoryAdmin(ReadOnlyAdminMixin, WorkspaceScopedAdmin):
    list_display = ("statement", "agent", "user_id", "merged_count", "updated_at", "workspace")
    list_filter = (("workspace", admin.RelatedOnlyFieldListFilter), ("agent", admin.RelatedOnlyFieldListFilter))
    list_select_related = ("agent", "workspace")
    search_fields = ("statement",)
    fields = (
        "workspace",
        "agent",
        "user_id",
        "statement",
        "entity_ids",
        "merged_count",
        "source_conversation_id",
        "source_message_seq",
        "created_at",
        "updated_at",
    )
    readonly_fields = fields
    actions = ["forget", "export_jsonl"]

    def has_write_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("agents.view_memory") and self.can_write(request)

    @admin.action(description="Forget selected memories (from every store)", permissions=["write"])
    def forget(self, request: HttpRequest, queryset: QuerySet[Memory]) -> None:
        rows = self.writable(request, queryset).values_list("workspace_id", "pk")
        done = sum(memory_writes.memory_forget(workspace_id=ws, memory_id=pk) for ws, pk in rows)
        self.message_user(request, f"Forgot {done} memory(ies).", messages.SUCCESS)

    @admin.action(description="Export selected memories (JSON lines)")
    def export_jsonl(self, request: HttpRequest, queryset: QuerySet[Memory]) -> HttpResponse:
        fields = ("id", "workspace_id", "agent_id", "user_id", "statement", "entity_ids", "merged_count", "updated_at")
        return _jsonl("memories", list(queryset.order_by("id").values(*fields)[:100_000]))


from agents.flywheel import admin as flywheel_admin  # noqa: E402,F401  (registers the flywheel's model admins)
