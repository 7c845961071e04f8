from __future__ import annotations

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.db import connection
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from core import login_throttle, selectors
from core.permissions import SESSION_KEY


@login_required
def home(request: HttpRequest) -> HttpResponse:
    workspace = request.workspace
    context = {"workspace": workspace or None}
    if workspace:
        context["sections"] = selectors.workspace_summary(workspace_id=workspace.id)
        context["audit"] = selectors.audit_entries(workspace_id=workspace.id, limit=10)
    return render(request, "core/home.html", context)


@login_required
@require_POST
def workspace_switch(request: HttpRequest) -> HttpResponse:
    chosen = selectors.workspace_for_user(user=request.user, workspace_id=request.POST.get("workspace"))
    if chosen is not None and str(chosen.id) == request.POST.get("workspace"):
        request.session[SESSION_KEY] = chosen.id
    return redirect("home")


def healthz(request: HttpRequest) -> JsonResponse:
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


@staff_member_required
def storage_report(request: HttpRequest) -> HttpResponse:
    """The storage advisor for superusers: figures per app and kind of store. It is not scoped to a
    workspace (its AGE tables are named after every workspace's edge labels), so staff who are
    not superusers get a 403, as for the storage adapters' tables in the admin."""
    if not request.user.is_superuser:
        raise PermissionDenied("The storage report covers every workspace: superusers only.")
    from core.storage.report import storage_report as measure

    return render(
        request,
        "core/storage_report.html",
        {"reports": measure(), "hours": settings.STRATA_ADVISOR_WINDOW_HOURS},
    )


def admin_login(request: HttpRequest) -> HttpResponse:
    """The admin's login (``admin.site.login``, whose form is throttled: core/login_throttle.py),
    answering 429 with ``Retry-After`` when the login was refused by the throttle."""
    from django.contrib import admin

    response = admin.site.login(request)
    form = (getattr(response, "context_data", None) or {}).get("form")
    return login_throttle.mark_throttled(response, form)
