"""Core tables: workspaces (tenancy), the audit log, the transactional outbox, and the
tables behind the Postgres storage adapters."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from core.storage.postgres.models import (  # noqa: F401  (registered with the core app)
    DocumentCollection,
    DocumentRecord,
    VectorCollectionRecord,
    VectorRecord,
)


class Workspace(models.Model):
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, through="Membership", related_name="workspaces")

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner"
        EDITOR = "editor", "Editor"
        VIEWER = "viewer", "Viewer"

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.EDITOR)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "workspace"], name="core_membership_uniq")]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"


class AuditEntry(models.Model):
    """Append-only: a database trigger refuses UPDATE and DELETE (see migration 0002).

    Workspace and actor are plain ids (no foreign key) so the record outlives them."""

    workspace_id = models.BigIntegerField(null=True, db_index=True)
    actor_id = models.BigIntegerField(null=True)
    actor_repr = models.CharField(max_length=255, blank=True)
    action = models.CharField(max_length=100)
    object_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=255)
    changes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "audit entries"

    def __str__(self) -> str:
        return f"{self.actor_repr or 'system'} {self.action} {self.object_type}:{self.object_id}"


class OutboxEvent(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        DELIVERED = "delivered", "Delivered"
        DEAD = "dead", "Dead letter"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace_id = models.BigIntegerField(null=True, db_index=True)
    event_type = models.CharField(max_length=100, db_index=True)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    available_at = models.DateTimeField()
    # claimed before due events of a higher number (STRATA_OUTBOX_PRIORITIES, set at publish)
    priority = models.SmallIntegerField(default=0, db_default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(  # the relay's claim of aged events: ORDER BY available_at
                fields=["available_at"],
                name="core_outbox_pending_idx",
                condition=models.Q(status="pending"),
            ),
            models.Index(fields=["status", "created_at"], name="core_outbox_status_idx"),
            models.Index(  # the relay's claim: ORDER BY priority, available_at
                fields=["priority", "available_at"],
                name="core_outbox_claim_idx",
                condition=models.Q(status="pending"),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.id} ({self.status})"


class OutboxDelivery(models.Model):
    """One row per (event, handler) that has run successfully: makes handlers idempotent."""

    event = models.ForeignKey(OutboxEvent, on_delete=models.CASCADE, related_name="deliveries")
    handler = models.CharField(max_length=200)
    delivered_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "outbox deliveries"
        constraints = [models.UniqueConstraint(fields=["event", "handler"], name="core_outbox_delivery_uniq")]

    def __str__(self) -> str:
        return f"{self.handler} <- {self.event_id}"


class StorageRoute(models.Model):
    """Which backend (an alias of ``STRATA_STORAGE[app][kind]``) serves an app's reads of one
    kind of store and which receive its writes (``core.storage.routing``). No row: the
    configured ``DEFAULT`` does both. Written by ``storage_move``."""

    app = models.CharField(max_length=50)
    kind = models.CharField(max_length=20)
    read_alias = models.CharField(max_length=50)
    write_aliases = models.JSONField(default=list)
    version = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["app", "kind"], name="core_storage_route_uniq")]

    def __str__(self) -> str:
        return f"{self.app}/{self.kind}: reads {self.read_alias}, writes {', '.join(self.write_aliases)}"


class StorageMove(models.Model):
    """One move of an app's store of one kind to another backend (``manage.py storage_move``):
    its step, the backfill's checkpoint, the last verification. At most one is active per
    (app, kind)."""

    class Step(models.TextChoices):
        DUAL_WRITES = "dual_writes", "1. Dual writes"
        BACKFILL = "backfill", "2. Backfill"
        VERIFY = "verify", "3. Verify"
        READS_SWITCHED = "reads_switched", "4. Reads switched"
        DONE = "done", "5. Old writes stopped (done)"
        ROLLED_BACK = "rolled_back", "Rolled back"

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused (a store was unavailable; run the command again)"
        FAILED = "failed", "Verification failed"
        DONE = "done", "Done"
        ROLLED_BACK = "rolled_back", "Rolled back"

    app = models.CharField(max_length=50)
    kind = models.CharField(max_length=20)
    source = models.CharField(max_length=50)
    target = models.CharField(max_length=50)
    step = models.CharField(max_length=20, choices=Step.choices, default=Step.DUAL_WRITES)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING)
    checkpoint = models.JSONField(default=dict, blank=True)
    copied = models.BigIntegerField(default=0)
    verification = models.JSONField(default=dict, blank=True)
    grace_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    started_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["app", "kind"],
                condition=models.Q(finished_at__isnull=True),
                name="core_storage_move_one_active",
            )
        ]

    def __str__(self) -> str:
        return f"{self.app}/{self.kind}: {self.source} -> {self.target} ({self.get_step_display()}, {self.status})"
