"""Entities and entity types: resolving names to entities (by normalized name and aliases),
creating the ones that do not exist yet, and user-added types. Called inside the writing
service's transaction, under the workspace's knowledge lock (``lock_workspace``)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.db.models import Q, QuerySet

from core.locks import advisory_xact_lock
from core.services import audit_record
from core.storage import routing
from knowledge.models import BUILTIN_TYPES, Entity, EntityType
from knowledge.normalize import MAX_KEY, key_for, normalize_name
from knowledge.stores import APP

DEFAULT_TYPE = "concept"
_TYPE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,49}$")


class KnowledgeInputError(ValueError):
    """Bad input for a knowledge service (a clear message; nothing was written)."""


@dataclass(frozen=True)
class EntitySpec:
    """An entity to find or create: by ``key`` when given, else by name or alias."""

    name: str
    type: str = DEFAULT_TYPE
    aliases: tuple[str, ...] = ()
    key: str | None = None
    properties: Mapping[str, Any] = field(default_factory=dict)


def lock_workspace(workspace_id: int) -> None:
    """Writers of one workspace's knowledge take turns (entity resolution reads then creates).
    The graph route is read under its shared lock first, before any row lock, as content's
    services do: a writer that took it later, after locking rows, could deadlock with
    ``storage_move`` changing the route."""
    routing.write_route(APP, "graph")
    advisory_xact_lock(f"knowledge.workspace:{int(workspace_id)}")


def type_name(value: Any) -> str:
    """A type name: lowercase letters, digits, - or _ (a label like ``Package`` becomes ``package``)."""
    name = str(value or "").strip().lower().replace(" ", "_")
    if not _TYPE_NAME.fullmatch(name):
        raise KnowledgeInputError(f"invalid entity type {value!r}: use a letter then letters, digits, - or _")
    return name


def check_key(value: Any) -> str:
    valid = isinstance(value, str) and 1 <= len(value) <= MAX_KEY and value.isprintable()
    if not valid or value.startswith("doc:"):
        raise KnowledgeInputError(
            f"invalid entity key {str(value)[:80]!r}: 1-{MAX_KEY} printable characters, not starting with 'doc:'"
        )
    return value


def types_by_name(workspace_id: int, names: Iterable[str], *, create: bool = True) -> dict[str, EntityType]:
    """The types of these names visible in the workspace (its own, then the built-in ones);
    missing ones are created for the workspace when ``create``."""
    wanted = set(names)
    found: dict[str, EntityType] = {}
    for entity_type in EntityType.objects.filter(
        Q(workspace_id=workspace_id) | Q(workspace__isnull=True), name__in=wanted
    ).order_by("workspace_id"):
        found.setdefault(entity_type.name, entity_type)
    missing = sorted(wanted - set(found))
    if missing and create:
        EntityType.objects.bulk_create(
            [EntityType(workspace_id=workspace_id, name=name) for name in missing], ignore_conflicts=True
        )
        for entity_type in EntityType.objects.filter(workspace_id=workspace_id, name__in=missing):
            found[entity_type.name] = entity_type
    return found


def entity_type_create(*, workspace_id: int, name: str, description: str = "", actor: Any = None) -> EntityType:
    """Add a user-defined entity type to the workspace (idempotent)."""
    name = type_name(name)
    with transaction.atomic():
        entity_type, created = EntityType.objects.get_or_create(
            workspace_id=workspace_id, name=name, defaults={"description": description[:255]}
        )
        if created:
            audit_record(
                actor=actor,
                action="knowledge.entity_type.create",
                object_type="knowledge.EntityType",
                object_id=entity_type.pk,
                workspace_id=workspace_id,
                changes={"name": name},
            )
    return entity_type


def builtin_type_names() -> tuple[str, ...]:
    return BUILTIN_TYPES


def _aliases(spec: EntitySpec) -> list[str]:
    seen, result = {normalize_name(spec.name)}, []
    for alias in spec.aliases:
        alias = str(alias).strip()[:255]
        norm = normalize_name(alias)
        if norm and norm not in seen:
            seen.add(norm)
            result.append(alias)
    return result


def _free_key(workspace_id: int, base: str, taken: set[str]) -> str:
    key, number = base, 1
    while key in taken or Entity.objects.filter(workspace_id=workspace_id, key=key).exists():
        number += 1
        key = f"{base[: MAX_KEY - 8]}-{number}"
    taken.add(key)
    return key


def resolve(workspace_id: int, specs: list[EntitySpec], *, origin: str) -> tuple[list[Entity], set[int]]:
    """The entity of each spec (same order), found or created; and the ids of entities created
    or changed (new aliases, type or properties), whose graph nodes must be written.

    A spec with a key is found by key. Without one, by its normalized name among the
    workspace's (unmerged) entities' names and aliases, then its aliases likewise; else a new
    entity with ``key_for(name)`` (made unique). Specs of one call that name the same thing get
    the same entity."""
    types = types_by_name(workspace_id, {spec.type for spec in specs})
    by_key = _by_keys(workspace_id, [spec.key for spec in specs if spec.key])
    by_name = _by_names(workspace_id, specs)
    result: list[Entity] = []
    changed: set[int] = set()
    taken: set[str] = set()
    for spec in specs:
        entity = by_key.get(spec.key) if spec.key else _match(spec, by_name)
        aliases = _aliases(spec)
        if entity is None:
            key = spec.key or _free_key(workspace_id, key_for(spec.name), taken)
            entity = Entity.objects.create(
                workspace_id=workspace_id,
                key=key,
                name=spec.name[:255],
                normalized=normalize_name(spec.name),
                type=types[spec.type],
                aliases=aliases,
                normalized_aliases=[normalize_name(a) for a in aliases],
                properties=dict(spec.properties),
                origin=origin[:200],
            )
            by_key[key] = entity
            changed.add(entity.pk)
        elif _update(entity, spec, aliases, types[spec.type] if spec.key else None):
            changed.add(entity.pk)
        for norm in [entity.normalized, *entity.normalized_aliases]:
            by_name.setdefault(norm, entity)
        result.append(entity)
    return result, changed


def _update(entity: Entity, spec: EntitySpec, aliases: list[str], entity_type: EntityType | None) -> bool:
    """Add new aliases; a keyed spec (an import) also sets the name, type and properties."""
    fields = []
    known = {entity.normalized, *entity.normalized_aliases}
    new = [a for a in aliases if normalize_name(a) not in known]
    if new:
        entity.aliases = [*entity.aliases, *new]
        entity.normalized_aliases = [*entity.normalized_aliases, *(normalize_name(a) for a in new)]
        fields += ["aliases", "normalized_aliases"]
    if entity_type is not None:
        if spec.name and spec.name != entity.name:
            entity.name, entity.normalized = spec.name[:255], normalize_name(spec.name)
            entity.aliases = [a for a in entity.aliases if normalize_name(a) != entity.normalized]
            entity.normalized_aliases = [normalize_name(a) for a in entity.aliases]
            fields += ["name", "normalized", "aliases", "normalized_aliases"]
        if entity.type_id != entity_type.pk:
            entity.type = entity_type
            fields.append("type")
        merged = {**entity.properties, **dict(spec.properties)}
        if merged != entity.properties:
            entity.properties = merged
            fields.append("properties")
    if fields:
        entity.save(update_fields=[*dict.fromkeys(fields), "updated_at"])
    return bool(fields)


def _by_keys(workspace_id: int, keys: list[str]) -> dict[str, Entity]:
    if not keys:
        return {}
    found = {}
    for start in range(0, len(keys), 5000):
        found.update(
            (e.key, e)
            for e in Entity.objects.filter(
                workspace_id=workspace_id, key__in=keys[start : start + 5000]
            ).select_related("type")
        )
    return found


def _by_names(workspace_id: int, specs: list[EntitySpec]) -> dict[str, Entity]:
    """Normalized name or alias -> the oldest unmerged entity holding it."""
    names = sorted({normalize_name(n) for spec in specs if not spec.key for n in (spec.name, *spec.aliases)} - {""})
    if not names:
        return {}
    found: dict[str, Entity] = {}
    for entity in holders(workspace_id, names):
        for norm in [entity.normalized, *entity.normalized_aliases]:
            found.setdefault(norm, entity)
    return found


def holders(workspace_id: int, names: list[str]) -> QuerySet[Entity]:
    """The workspace's unmerged entities whose normalized name or an alias is one of ``names``,
    oldest first (an entity holding both ways comes twice)."""
    # by name UNION ALL by alias, each on its own index (as retrieval.entities_in): one WHERE with
    # "name OR alias" made the planner scan every entity of the workspace; "<> '{}'" (implied by
    # the overlap) lets it use the partial GIN index of the entities with aliases
    entities = Entity.objects.filter(workspace_id=workspace_id, merged_into=None)
    return (
        entities.filter(normalized__in=names)
        .order_by()
        .union(entities.filter(normalized_aliases__overlap=names).exclude(normalized_aliases=[]).order_by(), all=True)
        .order_by("id")
    )


def _match(spec: EntitySpec, by_name: dict[str, Entity]) -> Entity | None:
    for name in (spec.name, *spec.aliases):
        entity = by_name.get(normalize_name(name))
        if entity is not None:
            return entity
    return None
