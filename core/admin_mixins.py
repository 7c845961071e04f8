"""Admin building blocks that keep every admin view inside the user's workspaces."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from core import selectors


class WorkspaceScopedAdmin(admin.ModelAdmin):
    """For models with a ``workspace`` foreign key (or ``workspace_id`` column).

    Non-superusers see, change and create rows only in workspaces they are members of, and
    can pick only those workspaces in forms. ``workspace_field`` names the column.
    """

    workspace_field = "workspace"

    def _allowed_ids(self, request: HttpRequest) -> list[int]:
        cached = getattr(request, "_strata_workspace_ids", None)
        if cached is None:
            cached = selectors.workspace_ids_for_user(user=request.user)
            request._strata_workspace_ids = cached
        return cached

    def _workspace_id_of(self, obj: Any) -> int | None:
        value = getattr(obj, f"{self.workspace_field}_id", None)
        if value is None:
            value = getattr(obj, self.workspace_field, None)
        return getattr(value, "pk", value)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        qs = super().get_queryset(request)
        if request.user.is_superuser:
            return qs
        column = self.workspace_field if self.workspace_field.endswith("_id") else f"{self.workspace_field}_id"
        return qs.filter(**{f"{column}__in": self._allowed_ids(request)})

    def formfield_for_foreignkey(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        if db_field.name == self.workspace_field and not request.user.is_superuser:
            kwargs["queryset"] = selectors.workspaces_for_user(user=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def _obj_allowed(self, request: HttpRequest, obj: Any) -> bool:
        return obj is None or request.user.is_superuser or self._workspace_id_of(obj) in self._allowed_ids(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) and self._obj_allowed(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and self._obj_allowed(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and self._obj_allowed(request, obj)
