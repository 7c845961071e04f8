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

This module walks the paths, checks sizes and picks the reader by file type; the readers are
``content.json_items`` (``.json``/``.jsonl``) and ``content.markup`` (Markdown titles, HTML text).
"""

from __future__ import annotations

import json
import os
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any, BinaryIO

from django.conf import settings

from content.decoding import binary_reason, decode
from content.json_items import parse_json, parse_jsonl
from content.markup import HTMLTooDeep, html_to_text, markdown_title
from content.parsed import Parsed, ParseError
from content.services import IngestItem

TEXT_TYPES = {".txt": "text/plain", ".md": "text/markdown", ".markdown": "text/markdown"}
HTML_TYPES = {".html", ".htm"}
SUPPORTED_EXTENSIONS = (*TEXT_TYPES, *sorted(HTML_TYPES), ".json", ".jsonl")


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
                yield from parse_jsonl(handle, source, relative)
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
            parsed: Iterable[Parsed] = parse_jsonl(upload, name, name)
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
        yield from parse_json(text, source, relative)
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

