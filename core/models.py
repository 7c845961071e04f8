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
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(
                fields=["available_at"],
                name="core_outbox_pending_idx",
                condition=models.Q(status="pending"),
            ),
            models.Index(fields=["status", "created_at"], name="core_outbox_status_idx"),
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
