"""The chat page in Chromium: a message is sent with fetch, the answer streams in with its
citations (linking to the cited documents), the conversation survives a reload, and a second
message continues it. Through the offline responder and through a local OpenAI-compatible
server that streams."""

from __future__ import annotations

import pytest
from django.test import override_settings

from agents import selectors, services
from tests.agents.helpers import ingest_corpus
from tests.e2e.helpers import horizontal_overflow, log_in
from tests.knowledge.fake_chat import serve_fake_chat

pytestmark = pytest.mark.django_db(transaction=True)


def ask(page, text: str) -> None:
    before = page.locator("li.message.assistant[data-done='1']").count()
    page.fill("#chat-text", text)
    page.click("#chat-form button[type=submit]")
    # a locator, not wait_for_function: Playwright polls those with eval(), which the page's
    # Content-Security-Policy refuses
    page.locator("li.message.assistant[data-done='1']").nth(before).wait_for()


def test_chat_page_streams_the_answer_with_citations(live_server, user, workspace, browser_page):
    docs = ingest_corpus(workspace.id)
    agent = services.agent_create(workspace_id=workspace.id, config=services.AgentConfig(name="Scout"))
    page = browser_page
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/agents/")
    page.click("text=Scout")
    ask(page, "Who discovered the first pulsar?")
    answer = page.locator("li.message.assistant").last
    assert "Jocelyn Bell Burnell discovered the first pulsar in 1967." in answer.locator(".text").inner_text()
    link = answer.locator(".citations a").first
    assert link.get_attribute("href").startswith(f"/content/documents/{docs['pulsars']}/")
    assert "?c=" in page.url  # the address names the conversation
    ask(page, "How is a sourdough starter fed?")
    page.reload()
    texts = page.locator("li.message .text").all_inner_texts()
    assert len(texts) == 4 and texts[0] == "Who discovered the first pulsar?"
    (conversation,) = selectors.conversation_list(workspace_id=workspace.id, agent_id=agent.pk, user_id=user.pk)
    assert conversation.messages_count == 4
    page.set_viewport_size({"width": 390, "height": 800})
    assert horizontal_overflow(page) <= 0


def test_chat_page_with_a_streaming_llm_and_its_failure(live_server, user, workspace, browser_page):
    ingest_corpus(workspace.id)
    with (
        serve_fake_chat() as api,
        override_settings(
            STRATA_AGENTS_LLM={"BACKEND": "agents.llm.openai_chat.OpenAIChat", "BASE_URL": api.url, "MAX_RETRIES": 0}
        ),
    ):
        api.reply = lambda payload: "A pulsar is a rotating neutron star [1]."
        api.pieces = 6
        agent = services.agent_create(workspace_id=workspace.id, config=services.AgentConfig(name="Remote"))
        page = browser_page
        log_in(page, live_server.url)
        page.goto(f"{live_server.url}/agents/{agent.pk}/chat/")
        ask(page, "What is a pulsar?")
        answer = page.locator("li.message.assistant").last
        assert answer.locator(".text").inner_text() == "A pulsar is a rotating neutron star [1]."
        assert answer.locator(".citations li").count() == 1
        api.script = [("status", 429)]
        ask(page, "And another?")
        alert = page.locator("li.message.assistant").last.locator("[role=alert]")
        assert "rate limited" in alert.inner_text()
        page.reload()
        assert page.locator("li.message").count() == 4  # the failed turn is kept, with its message
        assert "rate limited" in page.locator("li.message.assistant").last.inner_text()


def open_judge_chat(live_server, workspace, page):
    """A corpus, an agent "Judge" and its chat page open in ``page`` (logged in); the agent."""
    pytest.importorskip("agents.flywheel.services", reason="the flywheel (agents.flywheel) is not installed")
    ingest_corpus(workspace.id)
    agent = services.agent_create(workspace_id=workspace.id, config=services.AgentConfig(name="Judge"))
    log_in(page, live_server.url)
    page.goto(f"{live_server.url}/agents/{agent.pk}/chat/")
    return agent


def test_feedback_on_a_new_answer(live_server, user, workspace, browser_page):
    agent = open_judge_chat(live_server, workspace, browser_page)
    from agents.flywheel.models import Feedback, InteractionEvent

    page = browser_page
    ask(page, "Where do herons nest?")
    answer = page.locator("li.message.assistant").last
    answer.locator("button[data-thumbs=up]").click()
    answer.locator("text=Thanks for the feedback.").wait_for()
    (event,) = InteractionEvent.objects.filter(workspace_id=workspace.id, agent_id=agent.pk)
    (feedback,) = Feedback.objects.filter(event_id=event.id)
    assert (feedback.thumbs, feedback.user_id) == ("up", user.pk)


def test_feedback_on_an_answer_from_the_history(live_server, user, workspace, browser_page):
    """After a reload, the conversation's earlier answers carry their feedback buttons too (their
    message names the recorded event)."""
    agent = open_judge_chat(live_server, workspace, browser_page)
    from agents.flywheel.models import Feedback, InteractionEvent
    from agents.models import Message

    page = browser_page
    ask(page, "Where do herons nest?")
    ask(page, "Who discovered the first pulsar?")
    page.reload()
    first, second = page.locator("li.message.assistant").all()
    assert first.locator("button[data-thumbs=down]").is_visible()
    first.locator("button[data-thumbs=down]").click()
    first.locator("text=Thanks for the feedback.").wait_for()
    assert second.locator("button[data-thumbs=up]").is_visible()  # the other answer's bar is untouched
    heron = Message.objects.get(conversation__agent_id=agent.pk, role="assistant", seq=2)
    event = InteractionEvent.objects.get(id=heron.event_id)
    assert event.query == "Where do herons nest?"
    (feedback,) = Feedback.objects.filter(event_id=event.id)
    assert (feedback.thumbs, feedback.user_id) == ("down", user.pk)
