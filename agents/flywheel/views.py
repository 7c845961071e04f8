"""The flywheel's pages: feedback on an answer (POST, JSON) and the analytics page. Thin:
parse, call one service or selector, render. Workspace-scoped; CSRF is on (the chat page sends
Django's CSRF token with its fetch)."""

from __future__ import annotations

import datetime as dt

from csp.constants import SELF, UNSAFE_INLINE
from csp.decorators import csp_update
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_POST

from agents.flywheel import feedback as service
from agents.flywheel import partitions, selectors
from agents.flywheel.charts import chart_series
from agents.flywheel.forms import AnalyticsForm, FeedbackForm
from core.permissions import WRITE_ROLES, has_role, workspace_required

DEFAULT_DAYS = 30

#: What plotly.js needs beyond the site's Content-Security-Policy (core/settings/security.py): it
#: adds its stylesheet as <style> elements and probes WebP support with a data: image. Style
#: attributes and every script stay 'self' only.
PLOTLY_CSP = {"style-src-elem": [SELF, UNSAFE_INLINE], "img-src": ["data:"]}

agents_page = workspace_required(
    section="Agents", explanation="Agents live in a workspace, and you are not a member of any."
)


@require_POST
@agents_page
def event_feedback(request: HttpRequest, event_id: int) -> HttpResponse:
    """Feedback on one answer: the user who got it, or an editor/owner of the workspace.
    200 with the stored feedback; 400 bad input, 403 not allowed, 404 no such event here."""
    ws = request.workspace.id
    found, owner = service.event_owner(workspace_id=ws, event_id=event_id)
    if not found:
        return JsonResponse({"error": "no such event in this workspace"}, status=404)
    if owner != request.user.pk and not has_role(user=request.user, workspace_id=ws, roles=WRITE_ROLES):
        return JsonResponse({"error": "only the user who asked, or an editor, may judge this answer"}, status=403)
    form = FeedbackForm(request.POST)
    if not form.is_valid():
        return JsonResponse({"error": form.errors.get_json_data()}, status=400)
    try:
        fb = service.feedback_give(workspace_id=ws, event_id=event_id, user_id=request.user.pk, **form.cleaned_data)
    except service.FeedbackError as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    except service.EventMissing:
        return JsonResponse({"error": "no such event in this workspace"}, status=404)
    return JsonResponse(
        {
            "id": fb.pk,
            "event_id": fb.event_id,
            "thumbs": fb.thumbs,
            "rating": fb.rating,
            "correction": fb.correction,
            "outcome": fb.outcome,
        }
    )


@csp_update(PLOTLY_CSP)
@agents_page
def analytics(request: HttpRequest) -> HttpResponse:
    """Per-agent charts of the daily metrics (any member of the workspace may read them)."""
    form = AnalyticsForm(request.GET)
    if not form.is_valid():
        context = {"form": form, "charts": {}, "days": DEFAULT_DAYS, "since": None, "until": None}
        return render(request, "agents/analytics.html", context, status=400)
    days = form.cleaned_data["days"] or DEFAULT_DAYS
    until = partitions.today()
    since = until - dt.timedelta(days=days - 1)
    series = selectors.daily_metrics(
        workspace_id=request.workspace.id, since=since, until=until, agent_id=form.cleaned_data["agent"]
    )
    charts = {str(agent): chart_series(rows) for agent, rows in series.items()}
    context = {"form": form, "charts": charts, "days": days, "since": since, "until": until}
    return render(request, "agents/analytics.html", context)
