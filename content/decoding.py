"""The text of a file's bytes: UTF-8 by default, a byte order mark's encoding, or the encoding an
HTML page declares.

Text files are read as UTF-8 (a UTF-8 byte order mark is dropped). A file that starts with a
UTF-16 or UTF-32 byte order mark (what Windows Notepad writes as "Unicode") is read in that
encoding: the mark says it unambiguously. An HTML page that is not valid UTF-8 is read in the
encoding its ``<meta charset>``, ``<meta http-equiv="Content-Type" content="...; charset=...">``
or XML declaration names within its first 1,024 bytes (where the HTML standard's prescan looks),
``ISO-8859-1`` and ``US-ASCII`` meaning windows-1252 as browsers read them; a page that declares
nothing is read as windows-1252, as browsers read it (HTML 4's default, and what undeclared pages
such as libxslt's own docs are written in). Any other file that is not UTF-8, and text holding
NUL, is refused with a message saying why. The patterns only
look at a bounded prefix, so decoding stays linear in the input.
"""

from __future__ import annotations

import codecs
import re

_BOMS = (  # UTF-32 first: its little-endian mark starts with UTF-16's
    (codecs.BOM_UTF32_LE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF32_BE, "utf-32", "UTF-32"),
    (codecs.BOM_UTF16_LE, "utf-16", "UTF-16"),
    (codecs.BOM_UTF16_BE, "utf-16", "UTF-16"),
)
_PRESCAN_BYTES = 1024
_LABEL = rb"([A-Za-z0-9_.:-]{1,40})"
_META_CHARSET = re.compile(rb"<meta\b[^>]{0,512}?\bcharset\s*=\s*[\"']?\s*" + _LABEL, re.IGNORECASE)
_XML_ENCODING = re.compile(rb"^\s*<\?xml\b[^>]{0,200}?\bencoding\s*=\s*[\"']" + _LABEL, re.IGNORECASE)
# What browsers read for these labels (the WHATWG Encoding standard): windows-1252.
_WINDOWS_1252 = {"iso8859-1", "latin-1", "ascii"}
_SNIFF_CHARS = 8192
# C0 controls that text files use: tab, line feed, vertical tab, form feed (man pages, GNU
# ChangeLogs), carriage return, escape (ANSI colours) and backspace (nroff overstrike).
_TEXT_CONTROLS = frozenset("\t\n\x0b\x0c\r\x1b\x08")
_BINARY_CONTROL_SHARE = 0.05
_NUL = "binary file (contains NUL bytes); only UTF-8 text is supported"

Decoded = str | tuple[str, int | None]


def bom_encoding(data: bytes) -> tuple[str, str, int] | None:
    """``(codec, name, length of the mark)`` when ``data`` starts with a UTF-16/32 byte order mark."""
    for bom, codec, name in _BOMS:
        if data.startswith(bom):
            return codec, name, len(bom)
    return None


def declared_html_encoding(data: bytes) -> str | None:
    """The Python codec of the encoding an HTML page declares in its first 1,024 bytes, if any
    (and if Python knows it as a text encoding that is not UTF-8, -16 or -32)."""
    head = data[:_PRESCAN_BYTES]
    match = _XML_ENCODING.search(head) or _META_CHARSET.search(head)
    if match is None:
        return None
    try:
        info = codecs.lookup(match.group(1).decode("ascii"))
    except LookupError:
        return None
    name = info.name
    if not getattr(info, "_is_text_encoding", True) or name.startswith(("utf-8", "utf-16", "utf-32")):
        return None
    return "cp1252" if name in _WINDOWS_1252 else name


def _line_of(data: bytes, offset: int) -> int:
    return data.count(b"\n", 0, offset) + 1


def decode(data: bytes, *, html: bool = False, line: int | None = None) -> Decoded:
    """The text of ``data``, or ``(message, line)`` when it cannot be read as text (``line``:
    the caller's line number, else the line of the offending byte)."""
    bom = bom_encoding(data)
    if bom is not None:
        codec, name, _length = bom
        try:
            text = data.decode(codec)  # the codec reads and drops the mark
        except UnicodeDecodeError as exc:
            return (f"not valid {name} (byte {exc.start}) although it starts with a {name} byte order mark", line)
    else:
        if b"\x00" in data:
            return (_NUL, line)
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            if not html:
                where = line if line is not None else _line_of(data, exc.start)
                return (f"not valid UTF-8 (byte {exc.start}); only UTF-8 text is supported", where)
            # what the page declares, else what browsers assume of an undeclared page: windows-1252
            text = _decode_declared(data, declared_html_encoding(data) or "cp1252")
            if not isinstance(text, str):
                return text
    if "\x00" in text:
        return (_NUL, line)
    return text


def binary_reason(text: str) -> str | None:
    """Why decoded ``text`` looks binary rather than text, else ``None``: a file of an unknown
    type decodes as UTF-8 yet is binary when more than 5% of its first 8,192 characters are
    control characters that text does not use (``decode`` already refuses NUL and bytes
    that are not UTF-8)."""
    head = text[:_SNIFF_CHARS]
    controls = sum(1 for char in head if (char < " " or char == "\x7f") and char not in _TEXT_CONTROLS)
    if head and controls > _BINARY_CONTROL_SHARE * len(head):
        return f"binary data: {controls} control characters in its first {len(head)}"
    return None


def _decode_declared(data: bytes, codec: str) -> Decoded:
    try:
        return data.decode(codec)
    except UnicodeDecodeError as exc:
        if codec == "cp1252":  # five bytes windows-1252 leaves undefined: read as ISO-8859-1 does
            return data.decode("latin-1")
        return (f"not valid {codec} (byte {exc.start}), the encoding the page declares", _line_of(data, exc.start))
