"""The LLMs an agent answers with, chosen in settings like Django's cache backends:

    STRATA_AGENTS_LLM = {"BACKEND": "agents.llm.openai_chat.OpenAIChat", "MODEL": "gpt-4o-mini", ...}
    STRATA_AGENTS_LLM = {"default": {...}, "fast": {...}}   # several, by name (an agent picks one)

Unset (or ``{}``), and always under the name "offline": ``agents.llm.offline.ExtractiveResponder``,
which answers only with the best cited passages and never invents text. A backend streams the
answer's text (``stream(prompt)`` yields pieces) and raises ``LLMError`` with a message a person
can read when the model fails (connection, timeout, rate limit, bad answer)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.utils.module_loading import import_string

OFFLINE = {"BACKEND": "agents.llm.offline.ExtractiveResponder"}
_MARKER = re.compile(r"\[(\d{1,3})\]")


class LLMError(Exception):
    """The model could not answer; the message is shown to the user."""


@dataclass(frozen=True)
class Source:
    """One numbered source the answer may cite as ``[n]``."""

    n: int
    ref: str  # "chunk:34", "fact:9", "memory:4"
    kind: str  # "passage", "fact", "memory"
    text: str
    title: str = ""
    document_id: int | None = None
    chunk_id: int | None = None


@dataclass(frozen=True)
class Prompt:
    instructions: str
    question: str
    sources: list[Source]
    history: list[dict[str, str]] = field(default_factory=list)


class BaseLLM:
    #: the backend/model name recorded with each interaction
    name = "base"

    def __init__(self, **options: Any) -> None:
        self.options = options

    def stream(self, prompt: Prompt) -> Iterator[str]:
        raise NotImplementedError

    def quotes(self) -> dict[int, str]:
        """The verbatim quote of each source the last answer cited (extractive backends)."""
        return {}


def cited_numbers(answer: str, sources: list[Source]) -> list[int]:
    """The source numbers ``[n]`` the answer cites, in order of first citation (unknown ones dropped)."""
    known = {s.n for s in sources}
    return list(dict.fromkeys(int(m) for m in _MARKER.findall(answer) if int(m) in known))


def _options(conf: dict[str, Any]) -> dict[str, Any]:
    return {k.lower(): v for k, v in conf.items() if k != "BACKEND"}


def backend_conf(name: str = "default") -> dict[str, Any]:
    conf = getattr(settings, "STRATA_AGENTS_LLM", None) or {}
    if name == "offline" or not conf:
        return OFFLINE
    if "BACKEND" in conf:
        return conf
    return conf.get(name) or conf.get("default") or OFFLINE


def get_llm(name: str = "default") -> BaseLLM:
    """A new backend instance for the agent's LLM name (one per turn: it keeps the turn's quotes)."""
    conf = backend_conf(name)
    return import_string(conf["BACKEND"])(**_options(conf))
