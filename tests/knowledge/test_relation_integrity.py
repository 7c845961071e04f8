"""knowledge_relation's references without foreign keys (knowledge/integrity.py): a relation's
workspace and entity ends are checked by statement-level triggers (immediately, set-based, the
entity in the relation's workspace), and deleting what a relation still references fails at
commit, as the foreign keys' NO ACTION did. Real PostgreSQL, real commits where the timing matters."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
from django.db import IntegrityError, connection, connections, transaction

from core import services as core_services
from knowledge import integrity
from knowledge.models import Entity, EntityType, Relation

MISSING = 10**12
# a statement of this many rows takes the set-based path, of fewer the per-reference probes
BIG = integrity.SMALL_STATEMENT + 8


def entities(workspace, *keys: str) -> list[Entity]:
    kind = EntityType.objects.get_or_create(workspace=workspace, name="thing")[0]
    return [
        Entity.objects.create(workspace=workspace, key=k, name=k, normalized=k, type=kind, origin="manual")
        for k in keys
    ]


def relation(workspace_id: int, source_id: int | None, target_id: int | None, label: str = "REL", **extra) -> Relation:
    return Relation(
        workspace_id=workspace_id,
        label=label,
        source_entity_id=source_id,
        source_document_id=None if source_id is not None else 1,
        target_entity_id=target_id,
        target_document_id=None if target_id is not None else 2,
        provenance="manual",
        **extra,
    )


def violation(action: Callable[[], object]) -> IntegrityError:
    """The IntegrityError ``action`` raises at its statement (inside a savepoint: not at commit)."""
    with pytest.raises(IntegrityError) as caught, transaction.atomic():
        action()
    assert caught.value.__cause__.sqlstate == "23503"  # foreign_key_violation
    return caught.value


def constraint(error: IntegrityError) -> str:
    return error.__cause__.diag.constraint_name


@pytest.mark.django_db
@pytest.mark.parametrize("rows", [1, BIG], ids=["one-row", "set-based"])
def test_an_insert_to_a_missing_entity_of_another_workspace_or_workspace_fails_at_the_statement(
    workspace, other_workspace, rows
):
    a, b = entities(workspace, "a", "b")
    (theirs,) = entities(other_workspace, "theirs")
    fine = [relation(workspace.pk, a.pk, b.pk, label=f"L{i}") for i in range(rows - 1)]

    def insert(*bad: Relation) -> Callable[[], object]:
        return lambda: Relation.objects.bulk_create([*fine, *bad])

    error = violation(insert(relation(workspace.pk, a.pk, MISSING)))
    assert constraint(error) == integrity.TARGET_CONSTRAINT
    assert f"Key (target_entity_id)=({MISSING}) is not present" in str(error)
    error = violation(insert(relation(workspace.pk, MISSING, b.pk)))
    assert constraint(error) == integrity.SOURCE_CONSTRAINT
    # stronger than the foreign keys: the entity must be of the relation's workspace
    error = violation(insert(relation(workspace.pk, theirs.pk, b.pk)))
    assert constraint(error) == integrity.SOURCE_CONSTRAINT
    assert f"is an entity of workspace {other_workspace.pk}, not of the relation's workspace {workspace.pk}" in str(
        error
    )
    error = violation(insert(relation(MISSING, None, None)))
    assert constraint(error) == integrity.WORKSPACE_CONSTRAINT
    assert Relation.objects.count() == 0  # each statement failed whole

    Relation.objects.bulk_create([*fine, relation(workspace.pk, a.pk, None), relation(workspace.pk, None, b.pk)])
    assert Relation.objects.count() == rows + 1


@pytest.mark.django_db
def test_an_insert_select_with_one_bad_row_fails_whole(workspace, other_workspace):
    ends = entities(workspace, *[f"e{i}" for i in range(20)])
    (theirs,) = entities(other_workspace, "theirs")
    ids = [e.pk for e in ends]
    statement = """
        INSERT INTO knowledge_relation (workspace_id, label, source_entity_id, target_entity_id, properties, weight,
          provenance, created_at)
        SELECT %s, 'L' || g, s, t, '{}', 1, 'import', now()
        FROM unnest(%s::bigint[], %s::bigint[]) WITH ORDINALITY AS x (s, t, g)"""
    sources = [ids[i % 20] for i in range(500)]
    targets = [ids[(i + 1) % 20] for i in range(500)]
    for bad in (MISSING, theirs.pk):
        with_bad = [*targets[:321], bad, *targets[322:]]

        def insert(targets=with_bad):
            with connection.cursor() as cursor:
                cursor.execute(statement, [workspace.pk, sources, targets])

        assert constraint(violation(insert)) == integrity.TARGET_CONSTRAINT
        assert not Relation.objects.exists()
    with connection.cursor() as cursor:
        cursor.execute(statement, [workspace.pk, sources, targets])
    assert Relation.objects.count() == 500


@pytest.mark.django_db
@pytest.mark.parametrize("rows", [1, BIG], ids=["one-row", "set-based"])
def test_an_update_of_the_ends_is_checked_and_other_updates_pass(workspace, other_workspace, rows):
    a, b, c = entities(workspace, "a", "b", "c")
    (theirs,) = entities(other_workspace, "theirs")
    Relation.objects.bulk_create([relation(workspace.pk, a.pk, b.pk, label=f"L{i}") for i in range(rows)])
    mine = Relation.objects.filter(workspace=workspace)

    assert constraint(violation(lambda: mine.update(target_entity_id=MISSING))) == integrity.TARGET_CONSTRAINT
    assert constraint(violation(lambda: mine.update(source_entity_id=theirs.pk))) == integrity.SOURCE_CONSTRAINT
    assert constraint(violation(lambda: mine.update(workspace_id=MISSING))) == integrity.WORKSPACE_CONSTRAINT
    # moving every row to another workspace leaves its ends in the first one
    assert constraint(violation(lambda: mine.update(workspace_id=other_workspace.pk))) in {
        integrity.SOURCE_CONSTRAINT,
        integrity.TARGET_CONSTRAINT,
    }
    assert set(mine.values_list("source_entity_id", "target_entity_id")) == {(a.pk, b.pk)}

    assert mine.update(weight=3.0, properties={"x": 1}) == rows  # the ends unchanged: nothing to check
    assert mine.update(target_entity_id=c.pk) == rows
    assert set(mine.values_list("source_entity_id", "target_entity_id", "weight")) == {(a.pk, c.pk, 3.0)}


@pytest.mark.django_db
def test_an_upsert_that_only_updates_weights_passes(workspace):
    a, b = entities(workspace, "a", "b")
    rows = [relation(workspace.pk, a.pk, b.pk, label=f"L{i}") for i in range(BIG)]
    fields = ["workspace", "label", "source_entity", "source_document_id", "target_entity", "target_document_id"]
    fields += ["provenance", "document_id"]
    Relation.objects.bulk_create(rows)
    for row in rows:
        row.pk, row.weight = None, 5.0
    Relation.objects.bulk_create(rows, update_conflicts=True, unique_fields=fields, update_fields=["weight"])
    assert set(Relation.objects.values_list("weight", flat=True)) == {5.0}


@pytest.mark.django_db
def test_the_orm_deletes_of_a_referenced_entity_and_workspace_cascade(user, workspace, other_workspace):
    a, b, c = entities(workspace, "a", "b", "c")
    Relation.objects.bulk_create([relation(workspace.pk, a.pk, b.pk), relation(workspace.pk, b.pk, c.pk)])
    with transaction.atomic():
        b.delete()  # its relations first, then the entity: the deferred check finds nothing
        connection.check_constraints()  # what a commit runs: SET CONSTRAINTS ALL IMMEDIATE
    assert not Relation.objects.exists()

    Relation.objects.bulk_create([relation(workspace.pk, a.pk, c.pk)])
    with transaction.atomic():
        core_services.workspace_delete(workspace=workspace, actor=user)
        connection.check_constraints()
    assert not Relation.objects.exists() and not Entity.objects.filter(workspace_id=workspace.pk).exists()


@pytest.mark.django_db
def test_deleting_a_referenced_workspace_fails(workspace):
    # relations between documents only: no entity row stands in the way of the workspace's delete
    Relation.objects.bulk_create([relation(workspace.pk, None, None)])
    with pytest.raises(IntegrityError) as caught, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("DELETE FROM core_workspace WHERE id = %s", [workspace.pk])  # deferred: passes here
        cursor.execute("SET CONSTRAINTS knowledge_relation_workspace_deleted IMMEDIATE")
    assert constraint(caught.value) == integrity.WORKSPACE_CONSTRAINT
    assert f"Key (id)=({workspace.pk}) is still referenced" in str(caught.value)


@pytest.mark.django_db
def test_a_truncate_that_would_orphan_relations_fails(workspace):
    a, b = entities(workspace, "a", "b")
    Relation.objects.bulk_create([relation(workspace.pk, a.pk, b.pk)])
    connection.check_constraints()  # no pending deferred checks left (TRUNCATE refuses to run with them)
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("TRUNCATE knowledge_entity CASCADE")  # cascades along foreign keys: not to relations
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("TRUNCATE knowledge_entity, knowledge_relation CASCADE")
        transaction.set_rollback(True)


# -- at commit, and across sessions: real transactions -------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_raw_delete_of_a_referenced_entity_fails_at_commit(workspace):
    a, b = entities(workspace, "a", "b")
    Relation.objects.bulk_create([relation(workspace.pk, a.pk, b.pk)])
    for entity in (a, b):  # the source end, the target end
        with pytest.raises(IntegrityError) as caught:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("DELETE FROM knowledge_entity WHERE id = %s", [entity.pk])
                assert cursor.rowcount == 1  # the statement passed: the check is at commit
        assert f"Key (id)=({entity.pk}) is still referenced" in str(caught.value)
    assert Entity.objects.filter(pk__in=[a.pk, b.pk]).count() == 2
    with transaction.atomic():  # the ORM deletes the relations first: commits
        a.delete()
    assert not Relation.objects.exists()


def _waiting_for_a_lock(pid: int) -> None:
    """Until backend ``pid`` waits for a lock (on a connection of its own)."""
    watcher = connections.create_connection("default")
    try:
        for _ in range(400):
            with watcher.cursor() as cursor:
                cursor.execute("SELECT wait_event_type FROM pg_stat_activity WHERE pid = %s", [pid])
                row = cursor.fetchone()
            if row and row[0] == "Lock":
                return
            time.sleep(0.025)
    finally:
        watcher.close()
    raise AssertionError(f"backend {pid} never waited for a lock")


def _in_thread(work: Callable[[], object]) -> tuple[threading.Thread, dict]:
    """Run ``work`` on a thread (its own connection); the outcome lands in the returned dict."""
    outcome: dict = {}

    def run():
        try:
            outcome["result"] = work()
        except Exception as exc:  # noqa: BLE001 (the test asserts on it)
            outcome["error"] = exc
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread, outcome


def _backend_pid() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        return cursor.fetchone()[0]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("rows", [1, BIG], ids=["one-row", "set-based"])
def test_a_delete_waits_for_an_insert_that_references_the_entity_then_fails(workspace, rows):
    a, b = entities(workspace, "a", "b")
    started, deleting = threading.Event(), {}

    def delete():
        with transaction.atomic(), connection.cursor() as cursor:
            deleting["pid"] = _backend_pid()
            started.set()
            cursor.execute("DELETE FROM knowledge_entity WHERE id = %s", [b.pk])  # waits for the insert's lock
        return "committed"

    with transaction.atomic():
        Relation.objects.bulk_create([relation(workspace.pk, a.pk, b.pk, label=f"L{i}") for i in range(rows)])
        thread, outcome = _in_thread(delete)
        assert started.wait(30)
        _waiting_for_a_lock(deleting["pid"])
    thread.join(30)  # our commit released the lock: the delete went on, then its commit failed
    assert isinstance(outcome.get("error"), IntegrityError), outcome
    assert f"Key (id)=({b.pk}) is still referenced" in str(outcome["error"])
    assert Entity.objects.filter(pk=b.pk).exists() and Relation.objects.filter(target_entity_id=b.pk).count() == rows


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("rows", [1, BIG], ids=["one-row", "set-based"])
def test_an_insert_waits_for_a_delete_of_its_entity_then_fails(workspace, rows):
    a, b = entities(workspace, "a", "b")
    deleted, inserting = threading.Event(), {}

    def delete():
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute("DELETE FROM knowledge_entity WHERE id = %s", [b.pk])
            deleted.set()
            _waiting_for_a_lock(inserting["pid"])  # the insert waits for this transaction
        return "committed"

    inserting["pid"] = _backend_pid()
    thread, outcome = _in_thread(delete)
    assert deleted.wait(30)
    # the insert passed over the deleted row in its snapshot, then found it gone when locking it
    error = violation(
        lambda: Relation.objects.bulk_create([relation(workspace.pk, a.pk, b.pk, label=f"L{i}") for i in range(rows)])
    )
    thread.join(30)
    assert outcome == {"result": "committed"}
    assert constraint(error) == integrity.TARGET_CONSTRAINT
    assert not Entity.objects.filter(pk=b.pk).exists() and not Relation.objects.exists()  # no orphan
