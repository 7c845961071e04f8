"""The LLM extractor: any OpenAI-compatible chat endpoint, through the ``openai`` SDK.

    {"BACKEND": "knowledge.extraction.llm.LLMExtractor", "MODEL": "gpt-4o-mini",
     "BASE_URL": "http://localhost:8080/v1", "API_KEY_ENV": "STRATA_LLM_API_KEY",
     "TIMEOUT": 60, "MAX_RETRIES": 3, "MAX_CHARS": 12000}

The document (title and the first ``MAX_CHARS`` characters) is sent with instructions to answer
with one JSON object ``{"entities": [{"name", "type", "aliases"}], "relations": [{"source",
"target", "label"}], "facts": [{"statement", "entities"}]}`` (``response_format`` JSON). The
answer is checked item by item: malformed items are dropped, labels must be identifiers, at most
``MAX_ITEMS`` of each kind are kept. The API key comes from the environment variable named by
``API_KEY_ENV`` (never from the settings file). Connection errors, timeouts and 5xx/429 answers
are retried by the SDK and then raise ``ExtractionError`` (the outbox retries the event)."""

from __future__ import annotations

import json
import os
import re
from typing import Any

import openai

from knowledge.extraction import (
    BaseExtractor,
    Extracted,
    ExtractionError,
    FoundEntity,
    FoundFact,
    FoundRelation,
    SourceDocument,
)

MAX_ITEMS = 200
_LABEL = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,62}$")
_TYPE = re.compile(r"^[a-z][a-z0-9_-]{0,49}$")
PROMPT = (
    "Extract the knowledge graph of the document below. Answer with ONE JSON object: "
    '{"entities": [{"name": str, "type": one of person|organisation|product|concept|package|place|event, '
    '"aliases": [str]}], "relations": [{"source": entity name, "target": entity name, "label": UPPER_SNAKE_CASE}], '
    '"facts": [{"statement": one self-contained sentence, "entities": [entity names]}]}. '
    "Use only what the document says."
)


def _text(value: Any, limit: int = 255) -> str | None:
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())[:limit]
    return value or None


class LLMExtractor(BaseExtractor):
    name = "llm"

    def __init__(
        self,
        *,
        model: str = "gpt-4o-mini",
        base_url: str | None = None,
        api_key_env: str = "STRATA_LLM_API_KEY",
        timeout: float = 60.0,
        max_retries: int = 3,
        max_chars: int = 12000,
        **options: Any,
    ) -> None:
        super().__init__(model=model, base_url=base_url, max_chars=max_chars, **options)
        self.model, self.max_chars = model, int(max_chars)
        self.client = openai.OpenAI(
            base_url=base_url or os.environ.get("STRATA_LLM_BASE_URL") or None,
            api_key=os.environ.get(api_key_env) or "not-needed",
            timeout=float(timeout),
            max_retries=int(max_retries),
        )

    def extract(self, document: SourceDocument) -> Extracted:
        content = f"Title: {document.title}\n\n{document.text[: self.max_chars]}"
        try:
            answer = self.client.chat.completions.create(
                model=self.model,
                messages=[{"role": "system", "content": PROMPT}, {"role": "user", "content": content}],
                response_format={"type": "json_object"},
                temperature=0,
            )
        except openai.APIError as exc:
            raise ExtractionError(f"LLM extraction failed ({self.model}): {exc}") from exc
        try:
            text = answer.choices[0].message.content or ""
            data = json.loads(text)
        except (IndexError, AttributeError, ValueError) as exc:
            raise ExtractionError(f"the LLM did not answer with a JSON object: {exc}") from exc
        return parse_answer(data)


def parse_answer(data: Any) -> Extracted:
    """The answer's valid items (each checked; the rest dropped)."""
    result = Extracted()
    if not isinstance(data, dict):
        return result
    names: dict[str, str] = {}
    for item in (data.get("entities") or [])[:MAX_ITEMS] if isinstance(data.get("entities"), list) else []:
        if not isinstance(item, dict):
            continue
        name = _text(item.get("name"))
        if not name:
            continue
        kind = str(item.get("type") or "concept").lower()
        aliases = (
            tuple(a for a in (_text(x) for x in (item.get("aliases") or [])[:20]) if a)
            if isinstance(item.get("aliases"), list)
            else ()
        )
        names.setdefault(name.casefold(), name)
        result.entities.append(FoundEntity(name, kind if _TYPE.fullmatch(kind) else "concept", aliases))
        result.relations.append(FoundRelation("MENTIONS", None, name))
    relations = data.get("relations") if isinstance(data.get("relations"), list) else []
    for item in relations[:MAX_ITEMS]:
        if not isinstance(item, dict):
            continue
        source, target, label = _text(item.get("source")), _text(item.get("target")), item.get("label")
        if not (source and target and isinstance(label, str) and _LABEL.fullmatch(label)):
            continue
        for name in (source, target):
            if name.casefold() not in names:
                names[name.casefold()] = name
                result.entities.append(FoundEntity(name))
                result.relations.append(FoundRelation("MENTIONS", None, name))
        result.relations.append(FoundRelation(label.upper(), names[source.casefold()], names[target.casefold()]))
    facts = data.get("facts") if isinstance(data.get("facts"), list) else []
    for item in facts[:MAX_ITEMS]:
        statement = _text(item.get("statement"), 2000) if isinstance(item, dict) else _text(item, 2000)
        if not statement:
            continue
        mentioned = item.get("entities") if isinstance(item, dict) and isinstance(item.get("entities"), list) else []
        known = tuple(names[n.casefold()] for n in mentioned[:50] if isinstance(n, str) and n.casefold() in names)
        result.facts.append(FoundFact(statement, known))
    return result
