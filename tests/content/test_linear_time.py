"""Parsing and chunking of user input run in linear time: the 4 MiB worst cases of every
pattern applied to uploads finish in well under 2 s of CPU (issue 6, defect 1).

Each case runs in a forked child with a wall-clock deadline, so a quadratic regression fails
the test instead of hanging it (a regex holds the GIL: the test process could not time it out
itself)."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from content import parsers
from content.chunking import chunk_text
from tests import forked_cpu

MIB4 = 4 * 1024 * 1024
CPU_LIMIT = 2.0
WALL_DEADLINE = 30.0


def _fill(unit: str, prefix: str = "", suffix: str = "") -> str:
    """``prefix + unit * n + suffix`` of about 4 MiB (of UTF-8)."""
    room = MIB4 - len((prefix + suffix).encode())
    return prefix + unit * (room // len(unit.encode())) + suffix


def cpu_seconds(fn: Callable[[], object]) -> float:
    return forked_cpu.cpu_seconds(fn, deadline=WALL_DEADLINE)


def _chunk(text: str, strategy: str = "sentences") -> None:
    chunk_text(text, strategy=strategy, size=200, overlap=40)


def _upload(name: str, text: str) -> Callable[[], None]:
    """The upload path: parse the file, then chunk every item (what the ingest service does)."""

    def run() -> None:
        items, _errors = parsers.parse_uploads([SimpleUploadedFile(name, text.encode())])
        for item in items:
            _chunk(item.text)

    return run


TEXT_CASES = {
    "dots between words": _fill(".", "a", "b"),
    "mixed terminators": _fill("!?.", "a", "b"),
    "terminator then closers": _fill('"', "a.", "b"),
    "terminator closer pairs": _fill(".)", "a", "b"),
    "blank line of spaces": _fill(" ", "a\n", "x"),
    "many short sentences": _fill("a. "),
    "one long sentence of words": _fill("a "),
    "hyphenated word chain": _fill("a-"),
    "apostrophes": _fill("a'"),
    "newlines": _fill("\n", "a", "b"),
    "one huge word": _fill("a"),
    "punctuation run": _fill("-", "a", "b"),
}

MARKDOWN_CASES = {
    "ATX heading with trailing spaces": _fill(" ", "# a", "b"),
    "ATX heading of hashes": _fill("#", "# a", "b"),
    "ATX marker then spaces": _fill(" ", "#", "\n"),
    "setext text with spaces": _fill(" ", "a", "b\n="),
    "setext underline then text": _fill("=", "a\n", "x"),
    "unclosed front matter": _fill("a", "---\n"),
    "lines of hashes": _fill("#\n"),
    "lines of equals": _fill("=\n"),
}

HTML_CASES = {
    "comment openers": _fill("<!--"),
    "marked sections": _fill("<!["),
    "declarations": _fill("<!"),
    "processing instructions": _fill("<?"),
    "less-than signs": _fill("<"),
    "end-tag openers": _fill("</"),
    "attribute openers": _fill('x="', "<a "),
    "attributes": _fill("b=c ", "<a "),
    "entities": _fill("&#"),
    "nested divs": _fill("<div>", "", "text"),
    "script of end-tag openers": _fill("</", "<script>"),
}

JSON_CASES = {
    "deep JSON array": ("deep.json", _fill("[")),
    "deep JSON object": ("deep.json", _fill('{"a":')),
    "deep JSON line": ("deep.jsonl", _fill("[")),
    "huge JSON integer": ("int.json", _fill("9", '{"text": "x", "metadata": {"n": ', "}}")),
    "JSON whitespace": ("space.json", _fill(" ", "[", "]")),
}


@pytest.mark.parametrize("name", list(TEXT_CASES))
def test_text_worst_cases_chunk_in_linear_time(name):
    text = TEXT_CASES[name]
    assert cpu_seconds(lambda: _chunk(text, "tokens")) < CPU_LIMIT
    assert cpu_seconds(_upload("case.txt", text)) < CPU_LIMIT  # parse + sentence chunking


@pytest.mark.parametrize("name", list(MARKDOWN_CASES))
def test_markdown_worst_cases_parse_in_linear_time(name):
    assert cpu_seconds(_upload("case.md", MARKDOWN_CASES[name])) < CPU_LIMIT


@pytest.mark.parametrize("name", list(HTML_CASES))
def test_html_worst_cases_parse_in_linear_time(name):
    assert cpu_seconds(_upload("case.html", HTML_CASES[name])) < CPU_LIMIT


@pytest.mark.parametrize("name", list(JSON_CASES))
def test_json_worst_cases_parse_in_linear_time(name):
    filename, text = JSON_CASES[name]
    assert cpu_seconds(_upload(filename, text)) < CPU_LIMIT


MARKDOWN_PAGE_CASES = ["![", "[", "*_", "*a", "_a", "[a](", "&#", "# h\n", "`a", "<", "|x|y|\n"]


@pytest.mark.parametrize("unit", MARKDOWN_PAGE_CASES)
def test_the_document_page_renders_worst_case_markdown_in_bounded_time(unit):
    """The page renders Markdown documents up to MARKDOWN_MAX_CHARS (markdown-it-py): its worst
    cases at that size stay under the limit too (uncached: the rendered HTML is cached)."""
    from content.templatetags.content_extras import MARKDOWN_MAX_CHARS, _render_markdown

    text = (unit * MARKDOWN_MAX_CHARS)[:MARKDOWN_MAX_CHARS]
    assert cpu_seconds(lambda: _render_markdown(text, "")) < CPU_LIMIT
