"""Titles and text of marked-up documents: a Markdown file's first heading, and an HTML page's
``<title>`` and visible text (without tags, scripts and styles)."""

from __future__ import annotations

import re

# Every pattern here runs on user input and scans in linear time (issue 6): each attempt is
# anchored at a line start and never rescans text that an earlier attempt consumed. The
# heading text is cut out in Python, not by a lazy ``(.+?)`` followed by a trailing class,
# which retried the whole rest of the line at every character (22 s for one 40 kB line).

# An ATX heading line with some text: the lookahead scans the line once for a character that is
# neither space nor ``#`` (lines of only ``#`` are empty headings and are skipped in C).
_ATX_HEADING = re.compile(r"^ {0,3}#{1,6}[ \t](?=[^\n]*?[^\s#])([^\n]*+)$", re.MULTILINE)
_SETEXT_UNDERLINE = re.compile(r"^ {0,3}=++[ \t]*+$", re.MULTILINE)
_CLOSING_HASHES = re.compile(r"[ \t]#++$")
_FRONT_MATTER_START = "---\n"
_FRONT_MATTER_END = "\n---\n"


def _front_matter_end(text: str) -> int:
    """Where the body starts after a leading ``---`` front-matter block (0 if there is none)."""
    if not text.startswith(_FRONT_MATTER_START):
        return 0
    end = text.find(_FRONT_MATTER_END, len(_FRONT_MATTER_START))
    return 0 if end < 0 else end + len(_FRONT_MATTER_END)


def _atx_title(content: str) -> str:
    """The text of an ATX heading line after its ``#`` marker (closing ``#``s removed)."""
    content = content.strip(" \t")
    closing = _CLOSING_HASHES.search(content)  # anchored at the end: one attempt per " #" run
    if closing is not None:
        content = content[: closing.start()]
    return content.strip(" \t")


def _setext_title(body: str, underline: re.Match[str]) -> tuple[int, str] | None:
    """``(start, title)`` of the line above a ``===`` underline, if it can be a heading."""
    end = underline.start() - 1  # the newline ending the line above
    if end < 0:
        return None
    start = body.rfind("\n", 0, end) + 1
    line = body[start:end]
    indent = len(line) - len(line.lstrip(" "))
    if indent > 3 or not line[indent : indent + 1].strip():
        return None
    return start, line.strip(" \t")


def markdown_title(text: str) -> str:
    """The first heading (ATX ``# Title`` or setext ``Title\\n===``) or ``""``."""
    body = text.replace("\r\n", "\n")
    body = body[_front_matter_end(body) :]
    candidates: list[tuple[int, str]] = []
    atx = _ATX_HEADING.search(body)
    if atx is not None:
        candidates.append((atx.start(), _atx_title(atx.group(1))))
    for underline in _SETEXT_UNDERLINE.finditer(body):
        found = _setext_title(body, underline)
        if found is not None:
            candidates.append(found)
            break
    return min(candidates, key=lambda candidate: candidate[0])[1] if candidates else ""


class HTMLTooDeep(ValueError):
    """The HTML nests elements deeper than the parser follows."""


_HTML_SKIP = frozenset({"script", "style", "noscript", "template", "svg", "iframe", "object", "title"})
_HTML_BLOCK = frozenset(
    {
        "address", "article", "aside", "blockquote", "br", "dd", "div", "dl", "dt", "fieldset",
        "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header",
        "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "td", "th", "tr", "ul",
    }
)  # fmt: skip
_HTML_VOID = frozenset({"br", "hr"})  # one line break, not one per start and end


def _collapse(text: str) -> str:
    return " ".join(text.split())


def html_to_text(html: str) -> tuple[str, str]:
    """``(title, text)`` of an HTML page: the ``<title>`` (else the first ``<h1>``) and the
    visible text, one line per block, without scripts and styles.

    Parsed by libxml2's HTML parser (lxml) in linear time and without holding the GIL; the
    standard library's ``html.parser`` takes quadratic time on unclosed comments and raises on
    some marked sections. Raises ``HTMLTooDeep`` for elements nested past libxml2's limit."""
    from lxml import etree

    if not html.strip():
        return "", ""
    parser = etree.HTMLParser(
        encoding="utf-8",  # the text is already decoded: ignore <meta charset>
        remove_comments=True,
        remove_pis=True,
        no_network=True,
        recover=True,
        huge_tree=True,  # nesting up to 2048 levels instead of 256
    )
    root = etree.fromstring(html.encode("utf-8"), parser)
    if any(error.type_name == "ERR_RESOURCE_LIMIT" for error in parser.error_log):
        raise HTMLTooDeep("HTML nested too deeply to read (more than 2048 levels of elements)")
    if root is None:  # nothing but comments, declarations or bogus markup
        return "", ""
    parts: list[str] = []
    skip = 0
    for event, element in etree.iterwalk(root, events=("start", "end")):
        tag = element.tag if isinstance(element.tag, str) else ""
        if event == "start":
            if tag in _HTML_SKIP:
                skip += 1
            if tag in _HTML_BLOCK:
                parts.append("\n")
            if not skip and element.text:
                parts.append(element.text)
        else:
            if tag in _HTML_SKIP:
                skip -= 1
            if tag in _HTML_BLOCK and tag not in _HTML_VOID:
                parts.append("\n")
            if not skip and element.tail:
                parts.append(element.tail)
    lines = (_collapse(line) for line in "".join(parts).splitlines())
    text = re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()
    title = root.find(".//title")
    heading = root.find(".//h1")
    title_text = _collapse("".join(title.itertext()) if title is not None else "")
    if not title_text and heading is not None:
        title_text = _collapse("".join(heading.itertext()))
    return title_text, text
