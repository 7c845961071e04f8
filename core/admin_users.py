"""The users and groups admin, kept inside the workspaces for staff users who are not superusers.

Django's own UserAdmin lets any staff user holding ``auth.change_user`` edit every account:
make himself a superuser, give himself every permission, set another person's password. Here a
staff user who is not a superuser, whatever auth permissions he holds, sees only the people who
share a workspace with him (``core.selectors.users_sharing_a_workspace``), changes only his own
account and never its privileges (active, staff, superuser, groups, permissions), sets no one
else's password and deletes no one (an account may belong to other workspaces too). Groups
hold permissions, so only superusers see them. Superusers are not limited."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin, UserAdmin
from django.contrib.auth.models import Group
from django.db.models import QuerySet
from django.http import HttpRequest

from core import selectors

User = get_user_model()
PRIVILEGES = ("is_active", "is_staff", "is_superuser", "groups", "user_permissions")


class WorkspaceUserAdmin(UserAdmin):
    def get_queryset(self, request: HttpRequest) -> QuerySet:
        if request.user.is_superuser:
            return super().get_queryset(request)
        return super().get_queryset(request).filter(pk__in=selectors.users_sharing_a_workspace(user=request.user))

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = super().get_readonly_fields(request, obj)
        if request.user.is_superuser or obj is None:
            return fields
        return (*fields, *PRIVILEGES, "last_login", "date_joined")

    def has_add_permission(self, request: HttpRequest) -> bool:
        # a new account's privileges are set on the add form's second step
        return request.user.is_superuser and super().has_add_permission(request)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if not super().has_change_permission(request, obj):
            return False
        return request.user.is_superuser or obj is None or obj.pk == request.user.pk

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_superuser and super().has_delete_permission(request, obj)


class SuperuserGroupAdmin(GroupAdmin):
    def has_module_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_add_permission(self, request: HttpRequest) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_superuser

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return request.user.is_active and request.user.is_superuser


for _model, _admin in ((User, WorkspaceUserAdmin), (Group, SuperuserGroupAdmin)):
    if admin.site.is_registered(_model):
        admin.site.unregister(_model)
    admin.site.register(_model, _admin)
