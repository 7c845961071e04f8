"""What a chat turn leaves in long-term memory (run by the Celery task ``agents.remember_turn``
after the turn commits).

Offline, without a model: the sentences of the user's message that say something about the user
or ask to be remembered ("remember that ...", "I prefer ...", "my ... is ...", "I am ...",
"I work ...", "I like ..."), each at most ``MAX_STATEMENT_CHARS``. Each becomes a memory of the
agent for that user (near-duplicates merged)."""

from __future__ import annotations

import re

from agents.conversations import conversation_messages
from agents.memory_writes import MAX_STATEMENT_CHARS, MemoryWrite, memory_add
from agents.models import Conversation

_SENTENCE = re.compile(r"[^.!?\n]+[.!?]?")
_ABOUT_ME = re.compile(
    r"^(?:please\s+)?(?:remember(?:\s+that)?\s+|note\s+that\s+)"
    r"|^(?:i\s+(?:am|prefer|like|love|hate|dislike|work|live|use|need|want)\b|i'm\b|my\s+\w+)",
    re.IGNORECASE,
)
_REMEMBER = re.compile(r"^(?:please\s+)?(?:remember(?:\s+that)?|note\s+that)\s+", re.IGNORECASE)
MAX_SENTENCES = 20


def statements_to_remember(text: str) -> list[str]:
    found = []
    for match in _SENTENCE.finditer(text[:20_000]):
        sentence = " ".join(match.group().split())
        if sentence and _ABOUT_ME.match(sentence):
            sentence = _REMEMBER.sub("", sentence)
            if sentence:
                found.append(sentence[0].upper() + sentence[1:MAX_STATEMENT_CHARS])
        if len(found) == MAX_SENTENCES:
            break
    return found


def remember_turn(*, workspace_id: int, conversation_id: int, seq: int) -> list[MemoryWrite]:
    """Remember what the user said in message ``seq`` of the conversation (idempotent: the same
    statement again merges into its memory)."""
    conversation = Conversation.objects.filter(pk=conversation_id, workspace_id=workspace_id).first()
    if conversation is None:
        return []
    message = next(
        (
            m
            for m in conversation_messages(workspace_id=workspace_id, conversation_id=conversation_id)
            if m["seq"] == seq and m["role"] == "user"
        ),
        None,
    )
    if message is None:
        return []
    return [
        memory_add(
            workspace_id=workspace_id,
            agent_id=conversation.agent_id,
            user_id=conversation.user_id,
            statement=statement,
            source_conversation_id=conversation_id,
            source_message_seq=seq,
        )
        for statement in statements_to_remember(message["content"])
    ]
