"""Admin building blocks that keep every admin view inside the user's workspaces and roles.

Model permissions (``add_document``, ...) say what kind of row a staff user may touch at all;
the workspace role says where: viewers read, editors write content, owners manage members
(``core.permissions``). Superusers are not limited by workspaces."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.db.models import QuerySet
from django.http import HttpRequest

from core import selectors
from core.permissions import WRITE_ROLES


def restrict_user_choices(db_field: Any, request: HttpRequest, kwargs: dict[str, Any]) -> None:
    """A user dropdown shows a non-superuser only the members of their own workspaces."""
    if request.user.is_superuser or not db_field.is_relation:
        return
    if db_field.related_model is get_user_model():
        kwargs["queryset"] = selectors.users_sharing_a_workspace(user=request.user)


def writable_workspace_ids(request: HttpRequest, roles: Collection[str]) -> list[int]:
    """The workspaces where the request's user has one of ``roles`` (memoised per request)."""
    memo = request.__dict__.setdefault("_strata_role_workspace_ids", {})
    key = frozenset(roles)
    if key not in memo:
        memo[key] = selectors.workspace_ids_for_user(user=request.user, roles=key)
    return memo[key]


class WorkspaceScopedAdmin(admin.ModelAdmin):
    """For models with a ``workspace`` foreign key, a plain ``workspace_id`` column, or a
    workspace reached through a relation (``workspace_field = "event__workspace_id"``).

    Non-superusers see rows only in workspaces they are members of, and add, change and delete
    them only where their role is one of ``write_roles`` (default: editors and owners); forms
    offer only those workspaces. ``workspace_field`` names the column.
    """

    workspace_field = "workspace"
    write_roles: Collection[str] = WRITE_ROLES

    def _writable_ids(self, request: HttpRequest) -> list[int]:
        return writable_workspace_ids(request, self.write_roles)

    def can_write(self, request: HttpRequest, obj: Any = None) -> bool:
        """May the user write ``obj`` (or, without one, rows of some workspace)?"""
        if request.user.is_superuser:
            return True
        writable = self._writable_ids(request)
        return bool(writable) if obj is None else self._workspace_id_of(obj) in writable

    def writable(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        """The rows of ``queryset`` the user may write."""
        if request.user.is_superuser:
            return queryset
        return queryset.filter(**{f"{self._workspace_column()}__in": self._writable_ids(request)})

    def _allowed_ids(self, request: HttpRequest) -> list[int]:
        cached = getattr(request, "_strata_workspace_ids", None)
        if cached is None:
            cached = selectors.workspace_ids_for_user(user=request.user)
            request._strata_workspace_ids = cached
        return cached

    def _workspace_column(self) -> str:
        field = self.workspace_field
        return field if field.endswith("_id") else f"{field}_id"

    def _workspace_id_of(self, obj: Any) -> int | None:
        value = obj
        for part in self._workspace_column().split("__"):
            value = getattr(value, part, None)
            if value is None:
                return None
        return value

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        return qs.filter(**{f"{self._workspace_column()}__in": self._allowed_ids(request)})

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == self.workspace_field and not request.user.is_superuser:
            kwargs["queryset"] = selectors.workspaces_for_user(user=request.user, roles=self.write_roles)
            # a nullable workspace (e.g. entity types: null is built in, seen by every workspace)
            # is still required: only superusers write rows of no workspace
            kwargs["required"] = True
        restrict_user_choices(db_field, request, kwargs)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        # A plain integer workspace column: offer the user's workspaces instead of a number box.
        if db_field.name == self.workspace_field and not db_field.is_relation and not request.user.is_superuser:
            writable = selectors.workspaces_for_user(user=request.user, roles=self.write_roles)
            choices = [(w.pk, str(w)) for w in writable]
            return forms.TypedChoiceField(
                choices=choices,
                coerce=int,
                empty_value=None,
                required=True,  # as above: no row of no workspace
                label=db_field.verbose_name.capitalize(),
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def _obj_allowed(self, request: HttpRequest, obj: Any) -> bool:
        return obj is None or request.user.is_superuser or self._workspace_id_of(obj) in self._allowed_ids(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) and self._obj_allowed(request, obj)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return super().has_add_permission(request) and self.can_write(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return (
            super().has_change_permission(request, obj)
            and self._obj_allowed(request, obj)
            and self.can_write(request, obj)
        )

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return (
            super().has_delete_permission(request, obj)
            and self._obj_allowed(request, obj)
            and self.can_write(request, obj)
        )
