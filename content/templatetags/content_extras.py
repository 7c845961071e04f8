"""Template filters of the content pages."""

from __future__ import annotations

import json
import math
from typing import Any

import nh3
from django import template
from django.utils.html import format_html
from django.utils.safestring import SafeString, mark_safe
from markdown_it import MarkdownIt

from content import stores

register = template.Library()

#: Larger Markdown documents are shown as plain text. markdown-it-py is linear but slow on
#: pathological input (500,000 characters of "![" took 7 s, "*_" 3 s): at this size the worst
#: case renders in about a second (tests/content/test_linear_time.py), and the HTML is cached by
#: workspace and the text's hash, so a page view renders a document at most once per cache lifetime.
MARKDOWN_MAX_CHARS = 64_000
MARKDOWN_CACHE_SECONDS = 24 * 3600

# CommonMark without raw HTML: HTML in a document is shown as text, never rendered.
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")


@register.filter
def pretty_json(value: Any) -> str:
    """Indented JSON as plain text (the template escapes it like any other string)."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


@register.simple_tag
def markdown(text: str, *, title: str = "", workspace_id: int) -> SafeString:
    """Markdown rendered to HTML (CommonMark + tables, raw HTML escaped) and then sanitised with
    nh3 (an allow-list of tags and attributes; links get rel="noopener noreferrer nofollow").
    A leading heading equal to ``title`` is left out (the page already shows it as its title).
    Text over MARKDOWN_MAX_CHARS is shown as escaped plain text instead.

    The HTML is cached by workspace and content: keyed by the content alone, one workspace's page
    loading fast would tell that another workspace holds the same text (a timing side channel)."""
    if len(text or "") > MARKDOWN_MAX_CHARS:
        return format_html('<pre class="plaintext">{}</pre>', text)
    # never stale (the content is in the key); an unreachable cache only means rendering again
    key = markdown_cache_key(text, title=title, workspace_id=workspace_id)
    return mark_safe(
        stores.cache().get_or_set(key, lambda: _render_markdown(text, title), timeout=MARKDOWN_CACHE_SECONDS)
    )  # noqa: S308 -- sanitised by nh3


def markdown_cache_key(text: str, *, title: str, workspace_id: int) -> str:
    """The cache key of a rendered Markdown text in one workspace."""
    return stores.cache_key("markdown", int(workspace_id), text or "", str(title or ""))


def _render_markdown(text: str, title: str) -> str:
    env: dict[str, Any] = {}
    tokens = _markdown.parse(text or "", env)
    if (
        title
        and len(tokens) >= 3
        and tokens[0].type == "heading_open"
        and tokens[1].content.strip() == str(title).strip()
    ):
        tokens = tokens[3:]
    html = _markdown.renderer.render(tokens, _markdown.options, env)
    return nh3.clean(html, link_rel="noopener noreferrer nofollow")


@register.filter
def share_of(score: float | None, best: float | None) -> int:
    """A score as a whole percentage of the best score (the search page's relevance meter), 0-100."""
    try:
        ratio = float(score) / float(best)
    except (TypeError, ValueError, ZeroDivisionError):
        return 0
    if not math.isfinite(ratio):
        return 0
    return max(0, min(100, round(ratio * 100)))


@register.filter
def percent(value: float | None) -> str:
    """A similarity in [0, 1] as a whole percentage ("83%")."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return ""
    if not math.isfinite(number):
        return ""
    return f"{max(0, min(100, round(number * 100)))}%"
