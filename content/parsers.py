"""Turn files into ``IngestItem``s, or into ``ParseError``s that name the file and line.

Supported: ``.txt``, ``.md``/``.markdown`` (title: first heading), ``.html``/``.htm`` (text
without tags, scripts and styles; title: ``<title>``), ``.json`` (an object
``{"external_id"?, "title", "text", "metadata"?, "content_type"?}`` or a list of them) and
``.jsonl`` (one such object per line). A file with no extension or an unknown one (``README``,
``NEWS``, ``copyright``, ``README.Debian``) is one plain-text document when it decodes as text
(``content.decoding.binary_reason``); a binary one is refused per file. Directories are walked
recursively in sorted order, skipping hidden entries. A plain file's ``external_id`` is its path
relative to the root it was found under (the directory given, or the file's own directory).

Files are size-checked before they are read: single documents against
``STRATA_MAX_DOCUMENT_BYTES``, ``.json`` files against ``STRATA_INGEST_MAX_FILE_BYTES``;
``.jsonl`` files are streamed line by line with a per-line limit.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import stat
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings

from content.decoding import binary_reason, bom_encoding, decode
from content.items import locate
from content.services import IngestItem

TEXT_TYPES = {".txt": "text/plain", ".md": "text/markdown", ".markdown": "text/markdown"}
HTML_TYPES = {".html", ".htm"}
SUPPORTED_EXTENSIONS = (*TEXT_TYPES, *sorted(HTML_TYPES), ".json", ".jsonl")
_SNIFF_BYTES = 8192


@dataclass(frozen=True)
class ParseError:
    source: str
    message: str
    line: int | None = None
    item: int | None = None  # the element's number (from 1) in a ``.json`` array

    @property
    def error(self) -> str:  # the same name as ``ItemResult.error``
        return self.message

    def __str__(self) -> str:
        return f"{locate(self.source, line=self.line, item=self.item)}: {self.message}"


Parsed = IngestItem | ParseError


# ---------------------------------------------------------------- walking


def _not_regular(path: Path) -> str | None:
    """Why ``path`` cannot be read as a document (a named pipe would block the reader forever)."""
    try:
        mode = path.stat().st_mode
    except OSError as exc:
        return f"cannot read: {exc.strerror or exc}"
    if stat.S_ISREG(mode):
        return None
    kind = "a named pipe" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode) else "a device"
    return f"not a regular file ({kind}); skipped"


def iter_files(paths: Iterable[str | os.PathLike[str]]) -> Iterator[tuple[Path, Path] | ParseError]:
    """``(file, root)`` for every regular file under ``paths`` (sorted, hidden entries skipped);
    named pipes, sockets and devices are reported and skipped."""
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            for directory, dirnames, filenames in os.walk(path):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                for name in sorted(filenames):
                    if not name.startswith("."):
                        file = Path(directory) / name
                        refusal = _not_regular(file)
                        yield (file, path) if refusal is None else ParseError(str(file), refusal)
        elif path.exists():
            refusal = _not_regular(path)
            yield (path, path.parent) if refusal is None else ParseError(str(path), refusal)
        else:
            yield ParseError(str(path), "no such file or directory")


def iter_items(paths: Iterable[str | os.PathLike[str]]) -> Iterator[Parsed]:
    """Every item (or error) of every file under ``paths``."""
    for entry in iter_files(paths):
        if isinstance(entry, ParseError):
            yield entry
        else:
            yield from parse_file(*entry)


def count_items(paths: Iterable[str | os.PathLike[str]]) -> int:
    """How many entries ``iter_items`` will yield, to give a progress bar its total: a line per
    non-blank ``.jsonl`` line, the elements of a ``.json`` array, one for any other file or
    error. A cheap pass (``.json`` files are parsed; the rest is only read or stat'ed)."""
    total = 0
    for entry in iter_files(paths):
        extension = "" if isinstance(entry, ParseError) else entry[0].suffix.lower()
        try:
            if extension == ".jsonl":
                with entry[0].open("rb") as handle:
                    total += sum(1 for line in handle if line.strip())
                continue
            if extension == ".json" and entry[0].stat().st_size <= _limit(extension)[0]:
                text = decode(entry[0].read_bytes())
                value = json.loads(text) if isinstance(text, str) else None
                total += len(value) if isinstance(value, list) else 1
                continue
        except (OSError, ValueError, RecursionError):  # iter_items reports the file's error
            pass
        total += 1
    return total


def _limit(extension: str) -> tuple[int, str]:
    if extension == ".json":
        return settings.STRATA_INGEST_MAX_FILE_BYTES, "STRATA_INGEST_MAX_FILE_BYTES"
    return settings.STRATA_MAX_DOCUMENT_BYTES, "STRATA_MAX_DOCUMENT_BYTES"


def _not_text(extension: str, reason: str) -> str:
    """The refusal of a file of no or an unknown extension that is not text."""
    kind = f"unsupported file type {extension}" if extension else "no file extension"
    reason = reason.split(";")[0]  # "binary file (contains NUL bytes)", "not valid UTF-8 (byte 3)"
    return f"{kind} and not text ({reason}); supported: {', '.join(SUPPORTED_EXTENSIONS)} or any UTF-8 text"


def parse_file(path: Path, root: Path) -> Iterator[Parsed]:
    """The items of one file; ``root`` makes plain files' external ids (relative paths)."""
    source = str(path)
    relative = path.relative_to(root).as_posix() if path.is_relative_to(root) else path.name
    extension = path.suffix.lower()
    try:
        if extension == ".jsonl":
            with _open_regular(path) as handle:
                yield from _parse_jsonl(handle, source, relative)
            return
        limit, setting = _limit(extension)
        with _open_regular(path) as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > limit:
                yield ParseError(source, f"file is {size} bytes; the limit is {limit} ({setting})")
                return
            data = handle.read(limit + 1)
        if len(data) > limit:
            yield ParseError(source, f"file is over {limit} bytes ({setting})")
            return
    except OSError as exc:
        yield ParseError(source, f"cannot read: {exc.strerror or exc}")
        return
    yield from _parse_bytes(data, extension=extension, source=source, relative=relative, name=path.name)


def _open_regular(path: Path) -> BinaryIO:
    """Open a regular file for reading; never blocks on a named pipe put there meanwhile."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(0, "not a regular file")
    return os.fdopen(fd, "rb")


def parse_uploads(files: Iterable[Any]) -> tuple[list[IngestItem], list[ParseError]]:
    """Items and errors of uploaded files (Django ``UploadedFile``s); external id = file name."""
    items: list[IngestItem] = []
    errors: list[ParseError] = []
    for upload in files:
        name = Path(upload.name or "upload").name
        extension = Path(name).suffix.lower()
        upload.seek(0)
        if extension == ".jsonl":
            parsed: Iterable[Parsed] = _parse_jsonl(upload, name, name)
        else:
            limit, setting = _limit(extension)
            if upload.size is not None and upload.size > limit:
                errors.append(ParseError(name, f"file is {upload.size} bytes; the limit is {limit} ({setting})"))
                continue
            data = upload.read(limit + 1)
            if len(data) > limit:
                errors.append(ParseError(name, f"file is over {limit} bytes ({setting})"))
                continue
            parsed = _parse_bytes(data, extension=extension, source=name, relative=name, name=name)
        for entry in parsed:
            (errors if isinstance(entry, ParseError) else items).append(entry)
    return items, errors


def _parse_bytes(data: bytes, *, extension: str, source: str, relative: str, name: str) -> Iterator[Parsed]:
    text = decode(data, html=extension in HTML_TYPES)
    known = extension in SUPPORTED_EXTENSIONS
    if not known:  # README, NEWS, copyright, README.Debian: plain text when the bytes are text
        reason = text[0] if not isinstance(text, str) else binary_reason(text)
        if reason is not None:
            yield ParseError(source, _not_text(extension, reason))
            return
    if not isinstance(text, str):
        yield ParseError(source, text[0], text[1])
    elif extension == ".json":
        yield from _parse_json(text, source, relative)
    elif extension in HTML_TYPES:
        try:
            title, body = html_to_text(text)
        except HTMLTooDeep as exc:
            yield ParseError(source, str(exc))
            return
        yield IngestItem(relative, title or name, body, content_type="text/html", source=source)
    else:
        content_type = TEXT_TYPES.get(extension, "text/plain")
        title = markdown_title(text) if content_type == "text/markdown" else ""
        yield IngestItem(relative, title or name, text, content_type=content_type, source=source)


# ---------------------------------------------------------------- JSON and JSONL


def _item_from_object(value: Any, *, source: str, line: int | None, default_id: str, item: int | None = None) -> Parsed:
    result = _checked_object(value, source=source, line=line, default_id=default_id)
    if item is not None:
        result = dataclasses.replace(result, item=item)
    return result


def _checked_object(value: Any, *, source: str, line: int | None, default_id: str) -> Parsed:
    if not isinstance(value, dict):
        return ParseError(source, f"expected a JSON object, got {type(value).__name__}", line)
    external_id = value.get("external_id", default_id)
    if isinstance(external_id, int) and not isinstance(external_id, bool):
        external_id = str(external_id)
    if not isinstance(external_id, str):
        return ParseError(source, '"external_id" must be a string', line)
    if "text" not in value or value["text"] is None:
        return ParseError(source, 'missing "text"', line)
    text, title = value["text"], value.get("title") or ""
    if not isinstance(text, str):
        return ParseError(source, '"text" must be a string', line)
    if not isinstance(title, str):
        return ParseError(source, '"title" must be a string', line)
    metadata = value.get("metadata")
    if metadata is None:
        metadata = {}
    if not isinstance(metadata, dict):
        return ParseError(source, '"metadata" must be a JSON object', line)
    content_type = value.get("content_type") or "text/plain"
    if not isinstance(content_type, str):
        return ParseError(source, '"content_type" must be a string', line)
    return IngestItem(
        external_id=external_id,
        title=title or external_id,
        text=text,
        metadata=metadata,
        content_type=content_type,
        source=source,
        line=line,
    )


def _json_values(text: str) -> list[tuple[int, Any]]:
    """``(line, value)`` of each element of a top-level array, or of the single top-level
    value. Raises ``json.JSONDecodeError`` (with line and column) on invalid JSON."""
    decoder = json.JSONDecoder()
    space = re.compile(r"\s*")
    pos = space.match(text).end()
    if text[pos : pos + 1] != "[":
        value = json.loads(text)
        return [(text.count("\n", 0, pos) + 1, value)]
    values: list[tuple[int, Any]] = []
    line, counted = 1, 0
    pos = space.match(text, pos + 1).end()
    if text[pos : pos + 1] == "]":
        pos += 1
    else:
        while True:
            line += text.count("\n", counted, pos)
            counted = pos
            try:
                value, pos = decoder.raw_decode(text, pos)
            except (ValueError, RecursionError) as exc:
                exc.item = len(values) + 1  # type: ignore[attr-defined]  # the element it stopped in
                raise
            values.append((line, value))
            pos = space.match(text, pos).end()
            if text[pos : pos + 1] == ",":
                pos = space.match(text, pos + 1).end()
            elif text[pos : pos + 1] == "]":
                pos += 1
                break
            else:
                error = json.JSONDecodeError("Expecting ',' or ']'", text, pos)
                error.item = len(values)  # type: ignore[attr-defined]  # after this element
                raise error
    pos = space.match(text, pos).end()
    if pos != len(text):
        raise json.JSONDecodeError("Extra data", text, pos)
    return values


def _json_error(exc: ValueError | RecursionError) -> tuple[str, int | None]:
    """``(message, line)`` for a JSON text Python's decoder refused."""
    if isinstance(exc, json.JSONDecodeError):
        return f"invalid JSON: {exc.msg} (column {exc.colno})", exc.lineno
    if isinstance(exc, RecursionError):
        return "invalid JSON: nested too deeply", None
    return f"invalid JSON: {exc}", None  # e.g. an integer of more than 4300 digits


def _parse_json(text: str, source: str, relative: str) -> Iterator[Parsed]:
    try:
        values = _json_values(text)
    except (ValueError, RecursionError) as exc:
        message, line = _json_error(exc)
        yield ParseError(source, message, line, getattr(exc, "item", None))
        return
    if len(values) == 1 and not text.lstrip().startswith("["):
        yield _item_from_object(values[0][1], source=source, line=values[0][0], default_id=relative)
        return
    # An array's elements are numbered from 1; their line is named too unless every element is
    # on the same line (minified JSON, where "line 1" found nothing).
    one_line = bool(values) and values[0][0] == values[-1][0]
    for index, (line, value) in enumerate(values):
        yield _item_from_object(
            value, source=source, line=None if one_line else line, default_id=f"{relative}#{index}", item=index + 1
        )


def _parse_jsonl(handle: BinaryIO, source: str, relative: str) -> Iterator[Parsed]:
    """One item per line of a binary stream, read line by line with a per-line size limit."""
    # A line holds one document: its JSON may escape characters, hence the headroom.
    limit = 2 * settings.STRATA_MAX_DOCUMENT_BYTES + settings.STRATA_MAX_METADATA_BYTES
    head = handle.read(_SNIFF_BYTES)
    bom = bom_encoding(head)
    if bom is not None:
        yield ParseError(source, f"{bom[1]} text (it starts with a {bom[1]} byte order mark); JSON Lines must be UTF-8")
        return
    if b"\x00" in head:
        yield ParseError(source, "binary file (contains NUL bytes); only UTF-8 text is supported")
        return
    handle.seek(0)
    number = 0
    while True:
        raw = handle.readline(limit + 1)
        if not raw:
            return
        number += 1
        if len(raw) > limit and not raw.endswith(b"\n"):
            while raw and not raw.endswith(b"\n"):  # skip the rest of the line unread
                raw = handle.readline(1 << 20)
            yield ParseError(source, f"line is longer than {limit} bytes", number)
            continue
        if number == 1 and raw.startswith(b"\xef\xbb\xbf"):
            raw = raw[3:]
        if not raw.strip():
            continue
        text = decode(raw, line=number)
        if not isinstance(text, str):
            yield ParseError(source, text[0], number)
            continue
        try:
            value = json.loads(text.rstrip("\r\n"))
        except (ValueError, RecursionError) as exc:
            yield ParseError(source, _json_error(exc)[0], number)
            continue
        yield _item_from_object(value, source=source, line=number, default_id=f"{relative}:{number}")


# ---------------------------------------------------------------- Markdown and HTML
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
