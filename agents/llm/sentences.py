"""Sentence boundaries for the offline responder's quotes, found in one left-to-right pass.

A sentence ends at a run of ``.``, ``!`` or ``?`` (and the closing quotes or brackets right after
it) that is followed by whitespace and then an uppercase letter, a digit, an opening quote or
bracket, or the end of the text. So the dots inside "2.36-9", "version 2.7.1 of", "setup.py",
"https://example.org/a.b" or "e.g. foo" never end one (no whitespace, or a lowercase word, after
them), and neither does a single ``.`` after a known abbreviation ("Dr. Smith", "e.g. Foo",
"U.S. Army") or an initial ("J. Smith"). A paragraph break (a blank line) and the start of a
list item or a Markdown heading (a new line starting with ``-``, ``*``, ``+``, ``#`` or a bullet,
then a space), a field line ("Copyright: ...", "License: ...": a capitalised name and a colon at
the start of a line, as in Debian copyright files) and a rule line (``===``, ``---``: a
heading's underline, or a lone ``.``: a Debian file's blank line) end one too; a single line
break is just a space (text wrapped at 72 columns stays one sentence). A "sentence" without a
letter or digit (a rule, a lone ``.``) is dropped.

Each character is looked at a bounded number of times (the look-back for an abbreviation reads
at most ``_ABBREVIATION_LOOKBACK`` characters), so the split is linear in the text's length
whatever the input (no regular expression, hence no backtracking). ``sentence_spans`` returns
``(start, end)`` offsets into the text, so a quote is a verbatim slice of it.
"""

from __future__ import annotations

_ENDS = frozenset(".!?")
_CLOSERS = frozenset("\"')]}\u201d\u2019\u00bb")
_OPENERS = frozenset("\"'([{\u201c\u2018\u00ab")
_BULLETS = frozenset("-*+#\u2022")
_RULES = frozenset("=-*_~#")
_ABBREVIATIONS = frozenset(
    "mr mrs ms dr prof sr jr st vs cf fig figs no nos vol vols pp approx ca al gen gov sen rep "
    "lt col capt sgt mt ft dept univ ed eds jan feb mar apr jun jul aug sep sept oct nov dec".split()
)
#: the longest field name of a "Name: value" line ("Upstream-Contact", "Files-Excluded")
_FIELD_NAME_MAX = 40
#: the longest token looked back at for an abbreviation ("approx", "u.s.a", "(e.g")
_ABBREVIATION_LOOKBACK = 8


def _is_abbreviation(text: str, dot: int) -> bool:
    """Whether the single ``.`` at ``dot`` closes an abbreviation or an initial."""
    start = dot
    while start > 0 and dot - start < _ABBREVIATION_LOOKBACK and not text[start - 1].isspace():
        start -= 1
    if start > 0 and not text[start - 1].isspace():
        return False  # a longer token (a word, a path, a URL): not an abbreviation
    token = text[start:dot].lstrip("\"'([{\u201c\u2018").casefold()
    if token in _ABBREVIATIONS:
        return True
    # an initial ("J.") or letters with dots ("e.g", "i.e", "U.S")
    parts = token.split(".")
    return bool(token) and all(len(part) == 1 and part.isalpha() for part in parts)


def _has_word(text: str, start: int, end: int) -> bool:
    return any(text[k].isalnum() for k in range(start, end))


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """The ``(start, end)`` of each sentence of ``text``, surrounding whitespace excluded."""
    spans: list[tuple[int, int]] = []
    n = len(text)
    start = 0
    i = 0

    def close(end: int, next_start: int) -> None:
        nonlocal start
        left, right = start, end
        while left < right and text[left].isspace():
            left += 1
        while right > left and text[right - 1].isspace():
            right -= 1
        if left < right and _has_word(text, left, right):
            spans.append((left, right))
        start = next_start

    def rule_end(j: int) -> int:
        """The end of the rule line starting at ``j`` (3+ of one of ``=-*_~#``), else -1."""
        end = j
        while end < n and text[end] == text[j] and text[j] in _RULES:
            end += 1
        return end if end - j >= 3 and (end == n or text[end] in "\r\n") else -1

    def field_line(j: int) -> bool:
        """Whether a ``Name:`` field starts at ``j`` (Debian copyright and control files, headers)."""
        end = j
        while end < n and end - j <= _FIELD_NAME_MAX and (text[end].isalnum() or text[end] == "-"):
            end += 1
        return (
            end > j
            and text[j].isupper()
            and end < n
            and text[end] == ":"
            and (end + 1 == n or text[end + 1] in " \t\r\n")
        )

    first = 0
    while first < n and text[first] in " \t":
        first += 1
    if rule_end(first) > 0:
        start = i = rule_end(first)  # a rule on the first line
    while i < n:
        char = text[i]
        if char == "\n":
            j = i + 1
            while j < n and text[j] in " \t\r\f\v":
                j += 1
            rule = rule_end(j)
            if rule < 0 and j < n and text[j] == "." and (j + 1 == n or text[j + 1] in "\r\n"):
                rule = j + 1  # a line of a lone "." (a Debian copyright or control file's blank line)
            if rule > 0:
                close(i, rule)  # a rule or heading underline ("===", "---", "***"): its own line
                i = rule
            elif j < n and (
                text[j] == "\n"
                or (text[j] in _BULLETS and j + 1 < n and text[j + 1] in " \t#")
                or (j == i + 1 and field_line(j))
            ):
                close(i, j)  # a blank line, a list item, a heading or a field: the next sentence starts at j
                i = j
            else:
                i = j
        elif char in _ENDS:
            dot = i
            j = i
            while j < n and text[j] in _ENDS:
                j += 1
            single_dot = j == dot + 1 and char == "."
            while j < n and text[j] in _CLOSERS:
                j += 1
            if j == n:
                close(n, n)
                i = n
                continue
            if not text[j].isspace():
                i = j  # "2.36", "setup.py", "a.b/c", "?!x": inside a token
                continue
            after = j
            while after < n and text[after].isspace():
                after += 1
            ends = after == n or text[after].isupper() or text[after].isdigit() or text[after] in _OPENERS
            if ends and not (single_dot and _is_abbreviation(text, dot)):
                close(j, after)
                i = after
            else:
                i = j  # the whitespace (a blank line in it too) is read by the loop
        else:
            i += 1
    close(n, n)
    return spans


def sentences(text: str) -> list[str]:
    return [text[a:b] for a, b in sentence_spans(text)]
