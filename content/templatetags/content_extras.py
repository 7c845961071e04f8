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

register = template.Library()

#: Larger Markdown documents are shown as plain text (rendering is linear, but a page is not a book).
MARKDOWN_MAX_CHARS = 500_000

# CommonMark without raw HTML: HTML in a document is shown as text, never rendered.
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table")


@register.filter
def pretty_json(value: Any) -> str:
    """Indented JSON as plain text (the template escapes it like any other string)."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True, default=str)


@register.filter
def markdown(text: str, title: str = "") -> SafeString:
    """Markdown rendered to HTML (CommonMark + tables, raw HTML escaped) and then sanitised with
    nh3 (an allow-list of tags and attributes; links get rel="noopener noreferrer nofollow").
    A leading heading equal to ``title`` is left out (the page already shows it as its title).
    Text over MARKDOWN_MAX_CHARS is shown as escaped plain text instead."""
    if len(text or "") > MARKDOWN_MAX_CHARS:
        return format_html('<pre class="plaintext">{}</pre>', text)
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
    return mark_safe(nh3.clean(html, link_rel="noopener noreferrer nofollow"))  # noqa: S308 -- sanitised by nh3


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
