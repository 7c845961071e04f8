"""Entity resolution: merging duplicates, and undoing a merge from the audit log.

``entity_merge`` moves every relation of the merged entity to the kept one (provenance and
document stay on each row; a row that then repeats one of the kept entity's rows is folded into
it: weights added, properties merged; a relation between the two becomes a self-loop and is
removed), moves its facts, adds its name and aliases to the kept entity's aliases, and marks it
``merged_into`` (its graph node goes; the projection moves the edges). The audit entry records
everything needed to undo it; ``entity_merge_undo`` reverses it from that entry.

``entities_resolve`` merges every group of entities that share a normalized name or alias into
the oldest of the group."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.forms.models import model_to_dict

from core.models import AuditEntry
from core.services import audit_record
from knowledge import writes
from knowledge.entities import KnowledgeInputError, lock_workspace
from knowledge.models import Entity, Fact, Relation
from knowledge.normalize import normalize_name

ACTION_MERGE = "knowledge.entity.merge"
ACTION_UNDO = "knowledge.entity.merge_undo"
_ROW_FIELDS = (
    "label",
    "source_entity",
    "source_document_id",
    "target_entity",
    "target_document_id",
    "properties",
    "weight",
    "provenance",
    "document_id",
)


def _row(relation: Relation) -> dict[str, Any]:
    data = model_to_dict(relation, fields=_ROW_FIELDS)
    return {"id": relation.pk, **data}


def _identity(relation: Relation) -> tuple:
    return (
        relation.label,
        relation.source_entity_id,
        relation.source_document_id,
        relation.target_entity_id,
        relation.target_document_id,
        relation.provenance,
        relation.document_id,
    )


def entity_merge(*, workspace_id: int, keep_id: int, merge_id: int, actor: Any = None) -> AuditEntry:
    """Merge entity ``merge_id`` into ``keep_id`` (both of the workspace, neither merged)."""
    if int(keep_id) == int(merge_id):
        raise KnowledgeInputError("an entity cannot be merged into itself")
    with transaction.atomic():
        lock_workspace(workspace_id)
        found = {
            e.pk: e
            for e in Entity.objects.select_for_update().filter(
                workspace_id=workspace_id, pk__in=[keep_id, merge_id], merged_into=None
            )
        }
        if len(found) != 2:
            raise KnowledgeInputError("both entities must exist in this workspace and not be merged already")
        keep, gone = found[int(keep_id)], found[int(merge_id)]
        rows = list(
            Relation.objects.select_for_update()
            .filter(Q(source_entity=gone) | Q(target_entity=gone), workspace_id=workspace_id)
            .order_by("id")
        )
        triples = {writes.row_triple(r) for r in rows}
        moved, absorbed, loops = [], [], []
        existing = {
            _identity(r): r
            for r in Relation.objects.select_for_update().filter(
                Q(source_entity=keep) | Q(target_entity=keep), workspace_id=workspace_id
            )
        }
        for relation in rows:
            before = _row(relation)
            if relation.source_entity_id == gone.pk:
                relation.source_entity_id = keep.pk
            if relation.target_entity_id == gone.pk:
                relation.target_entity_id = keep.pk
            if relation.source_entity_id is not None and relation.source_entity_id == relation.target_entity_id:
                loops.append(before)
                relation.delete()
                continue
            triples.add(writes.row_triple(relation))
            twin = existing.get(_identity(relation))
            if twin is not None:
                absorbed.append(
                    {"row": before, "into": twin.pk, "into_weight": twin.weight, "into_properties": twin.properties}
                )
                twin.weight += relation.weight
                twin.properties = {**twin.properties, **relation.properties}
                twin.save(update_fields=["weight", "properties"])
                Relation.objects.filter(pk=relation.pk).delete()
                continue
            relation.save(update_fields=["source_entity", "target_entity"])
            existing[_identity(relation)] = relation
            moved.append(before)
        facts_linked = set(Fact.entities.through.objects.filter(entity_id=keep.pk).values_list("fact_id", flat=True))
        gone_facts = list(Fact.entities.through.objects.filter(entity_id=gone.pk).values_list("fact_id", flat=True))
        added_facts = sorted(set(gone_facts) - facts_linked)
        Fact.entities.through.objects.bulk_create(
            [Fact.entities.through(fact_id=f, entity_id=keep.pk) for f in added_facts], ignore_conflicts=True
        )
        aliases_before = list(keep.aliases)
        known = {keep.normalized, *keep.normalized_aliases}
        for name in [gone.name, *gone.aliases]:
            if normalize_name(name) not in known:
                known.add(normalize_name(name))
                keep.aliases.append(name)
        _settle(workspace_id, keep, gone, keep.aliases, merged_into=keep, triples=triples)
        return audit_record(
            actor=actor,
            action=ACTION_MERGE,
            object_type="knowledge.Entity",
            object_id=gone.pk,
            workspace_id=workspace_id,
            changes={
                "kept": keep.pk,
                "kept_key": keep.key,
                "merged": gone.pk,
                "merged_key": gone.key,
                "kept_aliases_before": aliases_before,
                "moved": moved,
                "absorbed": absorbed,
                "loops": loops,
                "facts_added": added_facts,
            },
        )


def _settle(
    workspace_id: int, keep: Entity, gone: Entity, aliases: list[str], *, merged_into: Entity | None, triples: Any
) -> None:
    """The last step of a merge and of its undo: the kept entity's aliases, the other's
    ``merged_into``, and the graph-changed event for both and the touched edges."""
    keep.aliases = list(aliases)
    keep.normalized_aliases = [normalize_name(a) for a in keep.aliases]
    keep.save(update_fields=["aliases", "normalized_aliases", "updated_at"])
    gone.merged_into = merged_into
    gone.save(update_fields=["merged_into", "updated_at"])
    writes.publish_graph_change(workspace_id=workspace_id, triples=triples, entities=[keep, gone])


def _plain(row: dict[str, Any]) -> dict[str, Any]:
    """A recorded relation row as model field values."""
    data = {k: v for k, v in row.items() if k != "id"}
    data["source_entity_id"] = data.pop("source_entity")
    data["target_entity_id"] = data.pop("target_entity")
    return data


def entity_merge_undo(*, workspace_id: int, audit_entry_id: int, actor: Any = None) -> AuditEntry:
    """Undo the merge an audit entry records: the merged entity comes back with its relations,
    facts and the kept entity's previous aliases. Refused when already undone, or when the
    merged entity was changed since (merged again elsewhere)."""
    with transaction.atomic():
        lock_workspace(workspace_id)
        entry = AuditEntry.objects.filter(pk=audit_entry_id, workspace_id=workspace_id, action=ACTION_MERGE).first()
        if entry is None:
            raise KnowledgeInputError("no merge of this workspace has that audit entry")
        if AuditEntry.objects.filter(workspace_id=workspace_id, action=ACTION_UNDO, object_id=str(entry.pk)).exists():
            raise KnowledgeInputError("this merge was already undone")
        data = entry.changes
        keep = Entity.objects.select_for_update().filter(pk=data["kept"], workspace_id=workspace_id).first()
        gone = Entity.objects.select_for_update().filter(pk=data["merged"], workspace_id=workspace_id).first()
        if keep is None or gone is None or gone.merged_into_id != keep.pk or keep.merged_into_id is not None:
            raise KnowledgeInputError("the entities changed since this merge; it cannot be undone")
        triples = set()
        for row in data["moved"]:
            relation = Relation.objects.filter(pk=row["id"], workspace_id=workspace_id).first()
            if relation is None:
                continue  # removed since (e.g. its document changed): nothing to move back
            triples.add(writes.row_triple(relation))
            for name, value in _plain(row).items():
                setattr(relation, name, value)
            relation.save()
            triples.add(writes.row_triple(relation))
        for item in data["absorbed"]:
            twin = Relation.objects.filter(pk=item["into"], workspace_id=workspace_id).first()
            if twin is not None:
                twin.weight, twin.properties = item["into_weight"], item["into_properties"]
                twin.save(update_fields=["weight", "properties"])
                triples.add(writes.row_triple(twin))
            restored = Relation.objects.create(id=item["row"]["id"], workspace_id=workspace_id, **_plain(item["row"]))
            triples.add(writes.row_triple(restored))
        for row in data["loops"]:
            restored = Relation.objects.create(id=row["id"], workspace_id=workspace_id, **_plain(row))
            triples.add(writes.row_triple(restored))
        Fact.entities.through.objects.filter(entity_id=keep.pk, fact_id__in=data["facts_added"]).delete()
        _settle(workspace_id, keep, gone, data["kept_aliases_before"], merged_into=None, triples=triples)
        return audit_record(
            actor=actor,
            action=ACTION_UNDO,
            object_type="knowledge.Entity",
            object_id=entry.pk,
            workspace_id=workspace_id,
            changes={"kept": keep.pk, "restored": gone.pk},
        )


def latest_merge_entry(*, workspace_id: int, entity_id: int) -> AuditEntry | None:
    """The audit entry of the entity's merge (the one to undo), if it is merged."""
    return (
        AuditEntry.objects.filter(workspace_id=workspace_id, action=ACTION_MERGE, object_id=str(entity_id))
        .order_by("-id")
        .first()
    )


def duplicate_groups(*, workspace_id: int) -> list[list[int]]:
    """Groups of unmerged entities sharing a normalized name or alias (ids, oldest first)."""
    owners: dict[str, list[int]] = defaultdict(list)
    for pk, norm, aliases in (
        Entity.objects.filter(workspace_id=workspace_id, merged_into=None)
        .order_by("id")
        .values_list("id", "normalized", "normalized_aliases")
    ):
        for name in {norm, *aliases}:
            owners[name].append(pk)
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while parent.get(x, x) != x:
            x = parent[x]
        return x

    for ids in owners.values():
        for other in ids[1:]:
            a, b = find(ids[0]), find(other)
            if a != b:
                parent[max(a, b)] = min(a, b)
    groups: dict[int, list[int]] = defaultdict(list)
    for ids in owners.values():
        for pk in ids:
            if pk not in groups[find(pk)]:
                groups[find(pk)].append(pk)
    return [sorted(g) for g in groups.values() if len(g) > 1]


def entities_merge_into(
    *, workspace_id: int, keep_id: int, merge_ids: Sequence[int], actor: Any = None
) -> list[AuditEntry]:
    return [
        entity_merge(workspace_id=workspace_id, keep_id=keep_id, merge_id=pk, actor=actor)
        for pk in merge_ids
        if int(pk) != int(keep_id)
    ]


def entities_resolve(*, workspace_id: int, actor: Any = None) -> int:
    """Merge every group of duplicates into its oldest entity; the number of merges."""
    merged = 0
    for group in duplicate_groups(workspace_id=workspace_id):
        merged += len(
            entities_merge_into(workspace_id=workspace_id, keep_id=group[0], merge_ids=group[1:], actor=actor)
        )
    return merged
