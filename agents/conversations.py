"""Conversations and their messages.

A message is a row (the record) and a JSON document in the agents app's DocumentStore (role,
content, citations, tool calls, timing), projected from the row in the same transaction (or from
the outbox for a dedicated store): the chat page and the admin read the documents."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import F

from agents import stores
from agents.models import Agent, Conversation, Message
from core import outbox
from core.storage.ports import UnknownCollection

EVENT_MESSAGES_CHANGED = "agents.messages.changed"
ROLES = ("user", "assistant", "system", "tool")
MAX_MESSAGE_CHARS = 20_000
MAX_HISTORY = 200


class ConversationError(ValueError):
    """No such conversation or agent in the workspace, or a bad message."""


@dataclass(frozen=True)
class NewMessage:
    role: str
    content: str
    citations: list[dict[str, Any]] = field(default_factory=list)
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    timing: dict[str, float] = field(default_factory=dict)
    error: str = ""
    agent_version: int | None = None


@transaction.atomic
def conversation_start(*, workspace_id: int, agent_id: int, user_id: int | None, title: str = "") -> Conversation:
    if not Agent.objects.filter(pk=agent_id, workspace_id=workspace_id).exists():
        raise ConversationError("no such agent in this workspace")
    return Conversation.objects.create(
        workspace_id=workspace_id, agent_id=agent_id, user_id=user_id, title=" ".join(title.split())[:200]
    )


@transaction.atomic
def messages_append(*, workspace_id: int, conversation_id: int, messages: list[NewMessage]) -> list[int]:
    """Append messages to the conversation (their ``seq`` numbers are returned), with their
    documents."""
    for message in messages:
        if message.role not in ROLES:
            raise ConversationError(f"a message's role is one of {', '.join(ROLES)}")
        if len(message.content) > MAX_MESSAGE_CHARS:
            raise ConversationError(f"a message is limited to {MAX_MESSAGE_CHARS:,} characters")
    conversation = (
        Conversation.objects.select_for_update().filter(pk=conversation_id, workspace_id=workspace_id).first()
    )
    if conversation is None:
        raise ConversationError("no such conversation in this workspace")
    first = conversation.messages_count + 1
    rows = [
        Message(
            conversation_id=conversation_id,
            seq=first + i,
            role=m.role,
            content=m.content,
            citations=m.citations,
            tool_calls=m.tool_calls,
            timing=m.timing,
            error=m.error,
            agent_version=m.agent_version,
        )
        for i, m in enumerate(messages)
    ]
    Message.objects.bulk_create(rows)
    updates: dict[str, Any] = {"messages_count": F("messages_count") + len(rows)}
    if not conversation.title:
        first_user = next((m.content for m in messages if m.role == "user"), "")
        updates["title"] = " ".join(first_user.split())[:80]
    Conversation.objects.filter(pk=conversation_id).update(**updates)
    seqs = [r.seq for r in rows]
    outbox.publish(
        event_type=EVENT_MESSAGES_CHANGED,
        payload={"workspace_id": workspace_id, "conversation_id": conversation_id, "seqs": seqs},
        workspace_id=workspace_id,
    )
    return seqs


@transaction.atomic
def message_event_set(*, workspace_id: int, conversation_id: int, seq: int, event_id: int) -> bool:
    """Name the flywheel event recorded for the answer ``seq`` (so its feedback buttons show in
    the conversation's history too); False when there is no such message in the workspace."""
    updated = Message.objects.filter(
        conversation_id=conversation_id, conversation__workspace_id=workspace_id, seq=seq
    ).update(event_id=event_id)
    if updated:
        outbox.publish(
            event_type=EVENT_MESSAGES_CHANGED,
            payload={"workspace_id": workspace_id, "conversation_id": conversation_id, "seqs": [seq]},
            workspace_id=workspace_id,
        )
    return bool(updated)


def message_document(message: Message, *, workspace_id: int, agent_id: int) -> dict[str, Any]:
    return {
        "workspace_id": workspace_id,
        "conversation_id": message.conversation_id,
        "agent_id": agent_id,
        "seq": message.seq,
        "role": message.role,
        "content": message.content,
        "citations": message.citations,
        "tool_calls": message.tool_calls,
        "timing": message.timing,
        "error": message.error,
        "agent_version": message.agent_version,
        "event_id": message.event_id,
        "created_at": message.created_at.isoformat(),
    }


def conversation_get(*, workspace_id: int, conversation_id: int, user_id: int | None = None) -> Conversation | None:
    """The conversation of the workspace (and of ``user_id`` when given)."""
    rows = Conversation.objects.filter(pk=conversation_id, workspace_id=workspace_id)
    if user_id is not None:
        rows = rows.filter(user_id=user_id)
    return rows.select_related("agent").first()


def conversation_list(*, workspace_id: int, agent_id: int, user_id: int | None, limit: int = 50) -> list[Conversation]:
    rows = Conversation.objects.filter(workspace_id=workspace_id, agent_id=agent_id)
    if user_id is not None:
        rows = rows.filter(user_id=user_id)
    return list(rows.order_by("-updated_at", "-id")[:limit])


def conversation_messages(*, workspace_id: int, conversation_id: int, limit: int = MAX_HISTORY) -> list[dict[str, Any]]:
    """The conversation's message documents, oldest first (the last ``limit``): one lookup by
    id in the DocumentStore (a conversation's message ids follow from its message count)."""
    count = (
        Conversation.objects.filter(pk=conversation_id, workspace_id=workspace_id)
        .values_list("messages_count", flat=True)
        .first()
    )
    if not count:
        return []
    ids = [stores.message_id(conversation_id, seq) for seq in range(max(1, count - limit + 1), count + 1)]
    try:
        found = stores.documents().get_many(stores.MESSAGES, ids)
    except UnknownCollection:
        return []
    bodies = [found[i] for i in ids if i in found]
    return [b for b in bodies if b.get("workspace_id") == workspace_id]
