"""Extractors: what a document is about, as entities, relations and facts.

Pluggable by settings, like the storage ports: ``STRATA_KNOWLEDGE_EXTRACTORS`` is a list of
``{"BACKEND": "dotted.Class", **options}`` (see the README); each runs on every ingested
document, and what it found replaces what it found there before (knowledge/extract.py).

An extractor has a ``name`` (its provenance: ``extractor:<name>``), a ``config_hash`` (a change
of options re-extracts unchanged documents) and ``extract(document) -> Extracted``. It runs
outside any transaction (the LLM one makes network calls).
"""

from __future__ import annotations

import functools
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.utils.module_loading import import_string


@dataclass(frozen=True)
class SourceDocument:
    id: int
    workspace_id: int
    title: str
    text: str
    metadata: Mapping[str, Any]
    content_hash: str


@dataclass(frozen=True)
class FoundEntity:
    name: str
    type: str = "concept"
    aliases: tuple[str, ...] = ()
    mentions: int = 1


@dataclass(frozen=True)
class FoundRelation:
    """``source`` None: the document itself; else an entity name (of this extraction's entities)."""

    label: str
    source: str | None
    target: str
    weight: float = 1.0
    properties: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FoundFact:
    statement: str
    entities: tuple[str, ...] = ()


@dataclass
class Extracted:
    entities: list[FoundEntity] = field(default_factory=list)
    relations: list[FoundRelation] = field(default_factory=list)
    facts: list[FoundFact] = field(default_factory=list)


class ExtractionError(Exception):
    """The extractor could not run (a retryable failure, e.g. the LLM endpoint is down)."""


class Extractor(Protocol):
    name: str

    @property
    def config_hash(self) -> str: ...

    def extract(self, document: SourceDocument) -> Extracted: ...


class BaseExtractor:
    name = "base"

    def __init__(self, **options: Any) -> None:
        self.options = options

    @property
    def config_hash(self) -> str:
        text = json.dumps({"class": type(self).__qualname__, "options": self.options}, sort_keys=True, default=str)
        return hashlib.sha256(text.encode()).hexdigest()

    def extract(self, document: SourceDocument) -> Extracted:  # pragma: no cover - interface
        raise NotImplementedError


@functools.cache
def configured() -> tuple[Extractor, ...]:
    """The extractors of ``STRATA_KNOWLEDGE_EXTRACTORS``, built once per process."""
    entries: Sequence[Mapping[str, Any]] = settings.STRATA_KNOWLEDGE_EXTRACTORS
    built: list[Extractor] = []
    for entry in entries:
        if not isinstance(entry, Mapping) or "BACKEND" not in entry:
            raise ImproperlyConfigured('STRATA_KNOWLEDGE_EXTRACTORS: each entry is {"BACKEND": "dotted.Class", ...}')
        options = {k.lower(): v for k, v in entry.items() if k != "BACKEND"}
        try:
            cls = import_string(entry["BACKEND"])
        except ImportError as exc:
            raise ImproperlyConfigured(f"STRATA_KNOWLEDGE_EXTRACTORS: cannot import {entry['BACKEND']!r}") from exc
        built.append(cls(**options))
    names = [e.name for e in built]
    if len(set(names)) != len(names):
        raise ImproperlyConfigured(f"STRATA_KNOWLEDGE_EXTRACTORS: extractor names must be distinct, got {names}")
    return tuple(built)


def _reset(*, setting: str, **kwargs: Any) -> None:
    if setting.startswith("STRATA_KNOWLEDGE_"):
        configured.cache_clear()


setting_changed.connect(_reset)
