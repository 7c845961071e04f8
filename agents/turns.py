"""One chat turn: the user's message is kept, sources retrieved, the agent's LLM streams the
answer, the answer is kept with its citations and timings; after the commit the interaction
event is recorded (the flywheel) and the memory job is enqueued.

``chat_turn`` is a generator of events for the chat page's stream (one JSON object per line):

    {"type": "start", "conversation_id", "seq"}        the user's message is saved
    {"type": "sources", "sources": [{n, ref, title}]}
    {"type": "delta", "text"}                           a piece of the answer
    {"type": "error", "message"}                        the LLM failed: the conversation is kept
    {"type": "done", "seq", "citations", "timing", "model", "agent_version", "error", "event_id"}

An LLM failure (timeout, rate limit, connection, error answer) is saved as the assistant
message's ``error`` and reaches the user as a clear message; nothing already saved is lost."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from typing import Any

from django.db import transaction

from agents import configs, llm, responder
from agents.conversations import (
    ConversationError,
    NewMessage,
    conversation_messages,
    conversation_start,
    message_event_set,
    messages_append,
)
from agents.models import Conversation
from agents.remember import statements_to_remember

logger = logging.getLogger(__name__)
MAX_QUESTION_CHARS = 4000


class TurnError(ValueError):
    """A bad turn request (no such agent/conversation here, empty or too long message)."""


def _record(interaction: Any, workspace_id: int, conversation_id: int, seq: int) -> int | None:
    """Record the event, then name it on the answer's message (for feedback from the history)."""
    event_id = record_event(interaction)
    if event_id is not None:
        message_event_set(workspace_id=workspace_id, conversation_id=conversation_id, seq=seq, event_id=event_id)
    return event_id


def record_event(interaction: Any) -> int | None:
    """Record the turn's interaction event (the flywheel's ``record_interaction``) and return its
    id. A failure is logged, never shown to the user: the conversation is already saved."""
    try:
        from agents.flywheel.services import record_interaction
    except ImportError:  # the flywheel is not installed in this checkout
        return None
    try:
        return record_interaction(interaction)
    except Exception:  # noqa: BLE001
        logger.exception("agents: recording the interaction event failed")
        return None


def _interaction(**fields: Any) -> Any:
    try:
        from agents.flywheel.services import Interaction
    except ImportError:
        return fields
    return Interaction(**fields)


def _enqueue_memory(workspace_id: int, conversation_id: int, seq: int) -> None:
    from agents.tasks import remember

    try:
        remember.delay(workspace_id, conversation_id, seq)
    except Exception:  # noqa: BLE001 (the broker is down: no memory from this turn, the answer stands)
        logger.exception("agents: enqueueing the memory job failed")


def chat_turn(
    *, workspace_id: int, agent_id: int, conversation_id: int | None, user_id: int | None, text: str
) -> Iterator[dict[str, Any]]:
    total_start = time.perf_counter()
    question = " ".join(str(text).split()) if len(text) <= MAX_QUESTION_CHARS else ""
    if not question:
        raise TurnError(f"a message needs 1-{MAX_QUESTION_CHARS:,} characters")
    agent = configs.agent_get(workspace_id=workspace_id, agent_id=agent_id)
    if agent is None:
        raise TurnError("no such agent in this workspace")
    config = configs.config_of(agent)
    version = agent.version
    if conversation_id is None:
        conversation_id = conversation_start(workspace_id=workspace_id, agent_id=agent_id, user_id=user_id).pk
    elif not Conversation.objects.filter(
        pk=conversation_id, workspace_id=workspace_id, agent_id=agent_id, user_id=user_id
    ).exists():
        raise TurnError("no such conversation of yours with this agent")
    history = [
        {"role": m["role"], "content": m["content"]}
        for m in conversation_messages(workspace_id=workspace_id, conversation_id=conversation_id, limit=10)
    ]
    try:
        (user_seq,) = messages_append(
            workspace_id=workspace_id, conversation_id=conversation_id, messages=[NewMessage("user", question)]
        )
    except ConversationError as exc:
        raise TurnError(str(exc)) from None
    yield {"type": "start", "conversation_id": conversation_id, "seq": user_seq}

    found = responder.retrieve(
        workspace_id=workspace_id, config=config, user_id=user_id, agent_id=agent_id, question=question
    )
    yield {"type": "sources", "sources": [{"n": s.n, "ref": s.ref, "title": s.title} for s in found.sources]}

    backend = llm.get_llm(config.llm_backend)
    prompt = llm.Prompt(instructions=config.instructions, question=question, sources=found.sources, history=history)
    pieces: list[str] = []
    error = ""
    start = time.perf_counter()
    try:
        for piece in backend.stream(prompt):
            pieces.append(piece)
            yield {"type": "delta", "text": piece}
    except llm.LLMError as exc:
        error = str(exc)
        yield {"type": "error", "message": error}
    timing = {**found.timing, "llm": round((time.perf_counter() - start) * 1000, 3)}
    answer = "".join(pieces)
    cited = responder.citations(found.sources, llm.cited_numbers(answer, found.sources), backend.quotes())
    timing["total"] = round((time.perf_counter() - total_start) * 1000, 3)
    with transaction.atomic():
        (seq,) = messages_append(
            workspace_id=workspace_id,
            conversation_id=conversation_id,
            messages=[
                NewMessage("assistant", answer, citations=cited, timing=timing, error=error, agent_version=version)
            ],
        )
        event = _interaction(
            workspace_id=workspace_id,
            agent_id=agent_id,
            agent_version=version,
            conversation_id=conversation_id,
            user_id=user_id,
            query=question,
            retrieved_ids=found.retrieved_ids,
            answer=answer,
            citations=cited,
            latency_ms=timing,
            model=backend.name,
        )
        recorded: dict[str, int | None] = {}
        transaction.on_commit(lambda: recorded.update(event_id=_record(event, workspace_id, conversation_id, seq)))
        if config.use_memory and statements_to_remember(question):  # (no job for a message with nothing to keep)
            transaction.on_commit(lambda: _enqueue_memory(workspace_id, conversation_id, user_seq))
    yield {
        "type": "done",
        "conversation_id": conversation_id,
        "seq": seq,
        "citations": cited,
        "timing": timing,
        "model": backend.name,
        "agent_version": version,
        "error": error,
        "event_id": recorded.get("event_id"),  # for feedback on this answer (set once the turn committed)
    }
