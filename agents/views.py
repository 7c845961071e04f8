"""Agents pages: the workspace's agents (editors add them) and the chat page, which streams the
answer (one JSON object per line, read by agents/static/agents/chat.js with fetch; without
JavaScript the form posts and the page reloads with the answer). Every page needs a signed-in
member of the workspace and shows only that workspace; conversations are the user's own."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from agents import configs, conversations
from agents.forms import AgentForm, MessageForm
from agents.turns import TurnError, chat_turn
from core.permissions import can_write, workspace_required

agents_page = workspace_required(
    section="Agents", explanation="Agents live in a workspace, and you are not a member of any."
)
STREAM_TYPE = "application/x-ndjson"


@agents_page
def agent_list(request: HttpRequest) -> HttpResponse:
    ws = request.workspace.id
    form = AgentForm(request.POST or None, backends=configs.llm_backend_names())
    if request.method == "POST":
        if not can_write(request):
            raise PermissionDenied("Viewers cannot add agents.")
        if form.is_valid():
            try:
                agent = configs.agent_create(
                    workspace_id=ws, config=configs.AgentConfig(**form.cleaned_data), user_id=request.user.pk
                )
            except configs.AgentError as exc:
                form.add_error(None, str(exc))
            else:
                messages.success(request, f"Agent {agent.name} added.")
                return redirect("agents:chat", agent_id=agent.pk)
    context = {"agents": configs.agent_list(workspace_id=ws), "form": form, "can_write": can_write(request)}
    return render(request, "agents/agent_list.html", context, status=400 if form.errors else 200)


def _agent_or_404(request: HttpRequest, agent_id: int) -> Any:
    agent = configs.agent_get(workspace_id=request.workspace.id, agent_id=agent_id)
    if agent is None:
        raise Http404("No such agent in this workspace.")
    return agent


@agents_page
def chat(request: HttpRequest, agent_id: int) -> HttpResponse:
    agent = _agent_or_404(request, agent_id)
    ws, conversation, history = request.workspace.id, None, []
    raw = request.GET.get("c", "")
    if raw:
        if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:
            return HttpResponse("Bad conversation id.", status=400)
        conversation = conversations.conversation_get(
            workspace_id=ws, conversation_id=int(raw), user_id=request.user.pk
        )
        if conversation is None or conversation.agent_id != agent.pk:
            raise Http404("No such conversation of yours with this agent.")
        history = conversations.conversation_messages(workspace_id=ws, conversation_id=conversation.pk)
    context = {
        "agent": agent,
        "conversation": conversation,
        "history": history,
        "conversations": conversations.conversation_list(workspace_id=ws, agent_id=agent.pk, user_id=request.user.pk),
        "form": MessageForm(),
    }
    return render(request, "agents/chat.html", context)


def _lines(events: Iterator[dict[str, Any]]) -> Iterator[bytes]:
    for event in events:
        yield (json.dumps(event, ensure_ascii=False) + "\n").encode()


@require_POST
@agents_page
def chat_send(request: HttpRequest, agent_id: int) -> HttpResponse:
    """POST text (and the conversation id): the turn's events, streamed (``Accept:
    application/x-ndjson``), or a redirect to the conversation."""
    agent = _agent_or_404(request, agent_id)
    form = MessageForm(request.POST)
    streaming = STREAM_TYPE in request.headers.get("Accept", "")
    if not form.is_valid():
        if streaming:
            return JsonResponse({"error": form.errors.get_json_data()}, status=400)
        return HttpResponse("Write a message of 1-4,000 characters.", status=400)
    events = chat_turn(
        workspace_id=request.workspace.id,
        agent_id=agent.pk,
        conversation_id=form.cleaned_data["conversation"],
        user_id=request.user.pk,
        text=form.cleaned_data["text"],
    )
    try:
        first = next(events)  # the checks run here: a bad request writes nothing
    except TurnError as exc:
        if streaming:
            return JsonResponse({"error": str(exc)}, status=400)
        return HttpResponse(str(exc), status=400)
    if streaming:
        response = StreamingHttpResponse(_lines(itertools.chain([first], events)), content_type=STREAM_TYPE)
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"
        return response
    for _ in events:
        pass
    return redirect(f"{reverse('agents:chat', args=[agent.pk])}?c={first['conversation_id']}")
