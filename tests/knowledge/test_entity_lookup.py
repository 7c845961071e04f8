"""Entity resolution's name-or-alias lookup (knowledge.entities.resolve): a name finds the
oldest unmerged entity holding it as its name or as an alias, whichever query (by name, by
alias) finds it; merged entities and other workspaces' are never found."""

from __future__ import annotations

import random

import pytest
from django.db import transaction

from knowledge.entities import DEFAULT_TYPE, EntitySpec, _by_names, lock_workspace, resolve, types_by_name
from knowledge.models import Entity
from knowledge.normalize import normalize_name

pytestmark = pytest.mark.django_db


def resolved(workspace_id: int, *specs: EntitySpec) -> list[Entity]:
    with transaction.atomic():
        lock_workspace(workspace_id)
        return resolve(workspace_id, list(specs), origin="test")[0]


def make(workspace_id: int, name: str, *aliases: str, merged_into: Entity | None = None) -> Entity:
    return Entity.objects.create(
        workspace_id=workspace_id,
        key=f"k{Entity.objects.count()}",
        name=name,
        normalized=normalize_name(name),
        type=types_by_name(workspace_id, {DEFAULT_TYPE})[DEFAULT_TYPE],
        aliases=list(aliases),
        normalized_aliases=[normalize_name(a) for a in aliases],
        merged_into=merged_into,
    )


def test_names_and_aliases_find_the_same_entity(workspace, other_workspace):
    [ada] = resolved(workspace.id, EntitySpec("Ada Lovelace", "person", aliases=("Countess of Lovelace",)))
    assert ada.aliases == ["Countess of Lovelace"]
    # by alias, by name (normalized), by an unknown name with a known alias; new ones are created
    found = resolved(
        workspace.id,
        EntitySpec("countess of LOVELACE."),
        EntitySpec("  ADA  lovelace "),
        EntitySpec("A. Lovelace", aliases=("Ada Lovelace",)),
        EntitySpec("Charles Babbage"),
        EntitySpec("Ada Lovelace", aliases=("Enchantress of Numbers",)),
    )
    assert [e.pk for e in found] == [ada.pk, ada.pk, ada.pk, found[3].pk, ada.pk]
    assert found[3].pk != ada.pk and found[3].name == "Charles Babbage"
    assert Entity.objects.get(pk=ada.pk).aliases == ["Countess of Lovelace", "Enchantress of Numbers"]
    [again] = resolved(workspace.id, EntitySpec("enchantress of numbers"))
    assert again.pk == ada.pk
    # another workspace's entity is not found: its own is created
    [theirs] = resolved(other_workspace.id, EntitySpec("Ada Lovelace"))
    assert theirs.pk != ada.pk and theirs.workspace_id == other_workspace.id


def test_the_oldest_unmerged_holder_wins(workspace):
    by_alias = make(workspace.id, "Older", "shared name")  # holds it as an alias, created first
    make(workspace.id, "Shared Name")  # holds it as its name, created later
    [found] = resolved(workspace.id, EntitySpec("Shared name"))
    assert found.pk == by_alias.pk
    merged_away = make(workspace.id, "Gone", "ghost")
    survivor = make(workspace.id, "Ghost")
    Entity.objects.filter(pk=merged_away.pk).update(merged_into=survivor)
    [found] = resolved(workspace.id, EntitySpec("ghost"))
    assert found.pk == survivor.pk


def test_the_lookup_matches_a_scan_of_every_entity(workspace):
    """Random names and aliases, some entities merged: each name maps to the oldest unmerged
    entity holding it, as a plain scan of every entity says."""
    rng = random.Random(7)
    words = [f"w{i}" for i in range(40)]
    entities = []
    for i in range(120):
        aliases = rng.sample(words, rng.choice([0, 0, 1, 2]))
        merged = entities[0] if entities and rng.random() < 0.15 else None
        entities.append(
            make(
                workspace.id, rng.choice(words) + (f" {i}" if rng.random() < 0.5 else ""), *aliases, merged_into=merged
            )
        )
    asked = rng.sample(words, 25) + ["nobody"]
    expected: dict[str, int] = {}
    for entity in sorted(Entity.objects.filter(workspace=workspace, merged_into=None), key=lambda e: e.pk):
        for norm in [entity.normalized, *entity.normalized_aliases]:
            expected.setdefault(norm, entity.pk)
    found = {norm: e.pk for norm, e in _by_names(workspace.id, [EntitySpec(name) for name in asked]).items()}
    for name in asked:
        assert found.get(name) == expected.get(name), name
    assert any(name in found for name in asked) and "nobody" not in found


def test_the_alias_index_has_no_pending_list():
    """Every lookup by alias would read GIN's pending list (knowledge.0006)."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT reloptions FROM pg_class WHERE relname = 'knowledge_entity_aliased'")
        assert cursor.fetchone()[0] == ["fastupdate=off"]
