"""The structured extractor: entities and relations from the JSONB metadata fields a user names.

    {"BACKEND": "knowledge.extraction.structured.StructuredExtractor",
     "FIELDS": {"authors": {"type": "person", "label": "AUTHORED_BY"},
                "tags": {"type": "concept", "label": "TAGGED"},
                "depends": {"type": "package", "label": "DEPENDS_ON"}},
     "SUBJECT": {"field": "name", "type": "package"}}

Each named field holds a string or a list of strings (other values are ignored); each value is
an entity of the field's type, and the document ``MENTIONS`` it. With ``SUBJECT``, the document is
about the entity named by that field (e.g. the package ``name``): the relation goes from that
entity (``requests DEPENDS_ON urllib3``); without it, from the document."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.core.exceptions import ImproperlyConfigured

from knowledge.extraction import BaseExtractor, Extracted, FoundEntity, FoundRelation, SourceDocument

DEFAULT_FIELDS = {
    "authors": {"type": "person", "label": "AUTHORED_BY"},
    "tags": {"type": "concept", "label": "TAGGED"},
    "depends": {"type": "package", "label": "DEPENDS_ON"},
}
MAX_VALUES = 1000


def _values(value: Any) -> list[str]:
    items = value if isinstance(value, list) else [value]
    return [" ".join(item.split())[:255] for item in items[:MAX_VALUES] if isinstance(item, str) and item.strip()]


class StructuredExtractor(BaseExtractor):
    name = "structured"

    def __init__(self, *, fields: Mapping[str, Any] | None = None, subject: Mapping[str, Any] | None = None, **kw: Any):
        fields = dict(DEFAULT_FIELDS if fields is None else fields)
        for name, spec in fields.items():
            if not isinstance(spec, Mapping) or not str(spec.get("label", "")).replace("_", "").isalnum():
                raise ImproperlyConfigured(f"structured extractor: FIELDS[{name!r}] needs a 'label' (and a 'type')")
        super().__init__(fields=fields, subject=subject, **kw)
        self.fields, self.subject = fields, subject

    def extract(self, document: SourceDocument) -> Extracted:
        metadata = document.metadata if isinstance(document.metadata, Mapping) else {}
        result = Extracted()
        seen: set[tuple[str, str]] = set()
        subject = None
        if self.subject:
            names = _values(metadata.get(self.subject.get("field", "name")))
            if names:
                subject = names[0]
                result.entities.append(FoundEntity(subject, str(self.subject.get("type", "concept"))))
                result.relations.append(FoundRelation("MENTIONS", None, subject))
                seen.add(("MENTIONS", subject.casefold()))
        for field_name, spec in self.fields.items():
            entity_type = str(spec.get("type", "concept"))
            for value in _values(metadata.get(field_name)):
                if value.casefold() == (subject or "").casefold():
                    continue
                result.entities.append(FoundEntity(value, entity_type))
                if ("MENTIONS", value.casefold()) not in seen:
                    seen.add(("MENTIONS", value.casefold()))
                    result.relations.append(FoundRelation("MENTIONS", None, value))
                result.relations.append(FoundRelation(str(spec["label"]), subject, value))
        return result
