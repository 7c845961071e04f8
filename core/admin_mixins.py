"""Admin building blocks that keep every admin view inside the user's workspaces."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from core import selectors


class WorkspaceScopedAdmin(admin.ModelAdmin):
    """For models with a ``workspace`` foreign key, a plain ``workspace_id`` column, or a
    workspace reached through a relation (``workspace_field = "event__workspace_id"``).

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
            kwargs["queryset"] = selectors.workspaces_for_user(user=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest, **kwargs: Any) -> Any:
        # A plain integer workspace column: offer the user's workspaces instead of a number box.
        if db_field.name == self.workspace_field and not db_field.is_relation and not request.user.is_superuser:
            choices = [(w.pk, str(w)) for w in selectors.workspaces_for_user(user=request.user)]
            return forms.TypedChoiceField(
                choices=[("", "---------"), *choices] if db_field.null else choices,
                coerce=int,
                empty_value=None,
                required=not db_field.blank,
                label=db_field.verbose_name.capitalize(),
            )
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    def _obj_allowed(self, request: HttpRequest, obj: Any) -> bool:
        return obj is None or request.user.is_superuser or self._workspace_id_of(obj) in self._allowed_ids(request)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_view_permission(request, obj) and self._obj_allowed(request, obj)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_change_permission(request, obj) and self._obj_allowed(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return super().has_delete_permission(request, obj) and self._obj_allowed(request, obj)
