"""Files in encodings other than UTF-8, as real corpora hold them: HTML pages that declare
ISO-8859-1 (libxml2's and libxslt's own docs under /usr/share/doc do), UTF-16 with a byte order
mark (Windows Notepad's "Unicode"). Read through ``manage.py ingest`` and the upload form."""

from __future__ import annotations

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError

from content import parsers, stores
from content.decoding import declared_html_encoding
from content.models import Document

LATIN1_HTML = (
    '<?xml version="1.0" encoding="ISO-8859-1"?>\n<html><head>'
    '<meta http-equiv="Content-Type" content="text/html; charset=ISO-8859-1">'
    "<title>Caf\xe9 cr\xe8me</title></head><body><p>Cr\xe8me br\xfbl\xe9e \x96 \xa9 Daniel Veillard</p></body></html>"
).encode("latin-1")


def _ingest(*paths, workspace) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("ingest", *map(str, paths), "--workspace", workspace.slug, stdout=out, stderr=err)
    except CommandError:
        pass
    return out.getvalue().strip(), err.getvalue()


def _text(document: Document) -> str:
    return stores.documents().get(stores.DOCUMENTS_COLLECTION, str(document.pk))["text"]


@pytest.mark.django_db
def test_html_in_its_declared_encoding_and_utf16_with_a_bom_are_read(tmp_path, workspace):
    (tmp_path / "xslt.html").write_bytes(LATIN1_HTML)
    (tmp_path / "meta.htm").write_bytes('<meta charset="windows-1250"><p>P\u0159\xedli\u0161</p>'.encode("cp1250"))
    notepad = "\ufeffZa\u017c\xf3\u0142\u0107 g\u0119\u015bl\u0105\r\n"
    (tmp_path / "notepad.txt").write_bytes(notepad.encode("utf-16-le"))
    (tmp_path / "be.md").write_bytes("# T\xedtulo\n\nBody".encode("utf-16"))  # BOM + native order
    (tmp_path / "list.json").write_bytes('{"title": "J", "text": "\u65e5\u672c"}'.encode("utf-16"))
    # declaring nothing (libxslt's xslt.html) or no text encoding: windows-1252, as browsers read it
    (tmp_path / "undeclared.html").write_bytes("<p>caf\xe9 \x93quoted\x94</p>".encode("latin-1"))
    (tmp_path / "base64.html").write_bytes(b'<meta charset="base64"><p>caf\xe9</p>')

    out, err = _ingest(tmp_path, workspace=workspace)

    assert out == "added 7, updated 0, unchanged 0, failed 0", err
    docs = {d.external_id: d for d in Document.objects.filter(workspace=workspace)}
    assert docs["xslt.html"].title == "Caf\xe9 cr\xe8me"
    # 0x96 is windows-1252's en dash, as browsers read a page declaring ISO-8859-1
    assert _text(docs["xslt.html"]) == "Cr\xe8me br\xfbl\xe9e \u2013 \xa9 Daniel Veillard"
    assert _text(docs["meta.htm"]) == "P\u0159\xedli\u0161"
    assert _text(docs["notepad.txt"]) == "Za\u017c\xf3\u0142\u0107 g\u0119\u015bl\u0105"
    assert docs["be.md"].title == "T\xedtulo"
    assert _text(docs["list.json"]) == "\u65e5\u672c"
    assert _text(docs["undeclared.html"]) == "caf\xe9 \u201cquoted\u201d"
    assert _text(docs["base64.html"]) == "caf\xe9"


@pytest.mark.django_db
def test_what_cannot_be_read_as_text_is_refused_per_file_with_the_reason(tmp_path, workspace):
    (tmp_path / "latin1.txt").write_bytes("caf\xe9\n".encode("latin-1"))  # no declaration: not guessed
    (tmp_path / "nul16.txt").write_bytes("\ufeffa\x00b".encode("utf-16-le"))
    (tmp_path / "odd16.txt").write_bytes(b"\xff\xfea\x00b")  # a BOM and an odd number of bytes
    (tmp_path / "lines.jsonl").write_bytes('{"title": "a", "text": "b"}\n'.encode("utf-16"))

    out, err = _ingest(tmp_path, workspace=workspace)

    assert out == "added 0, updated 0, unchanged 0, failed 4"
    assert sorted(line.replace(f"{tmp_path}/", "") for line in err.splitlines()) == [
        "latin1.txt:1: not valid UTF-8 (byte 3); only UTF-8 text is supported",
        "lines.jsonl: UTF-16 text (it starts with a UTF-16 byte order mark); JSON Lines must be UTF-8",
        "nul16.txt: binary file (contains NUL bytes); only UTF-8 text is supported",
        "odd16.txt: not valid UTF-16 (byte 4) although it starts with a UTF-16 byte order mark",
    ]
    assert not Document.objects.filter(workspace=workspace).exists()


def test_the_upload_form_reads_the_declared_encoding_too():
    items, errors = parsers.parse_uploads([SimpleUploadedFile("news.html", LATIN1_HTML)])
    assert errors == [] and [item.title for item in items] == ["Caf\xe9 cr\xe8me"]


@pytest.mark.parametrize(
    ("head", "codec"),
    [
        (b'<meta charset="ISO-8859-1">', "cp1252"),
        (b"<META CHARSET=latin1>", "cp1252"),
        (b'<meta http-equiv="content-type" content="text/html;charset=koi8-r">', "koi8-r"),
        (b'<?xml version="1.0" encoding="iso-8859-2"?>', "iso8859-2"),
        (b'<meta charset="utf-8">', None),
        (b'<meta charset="utf-16">', None),  # an ASCII-compatible page cannot be UTF-16
        (b'<meta charset="no-such-thing">', None),
        (b"x" * 1024 + b'<meta charset="koi8-r">', None),  # past the 1,024-byte prescan
    ],
)
def test_the_declared_encoding(head, codec):
    assert declared_html_encoding(head + b"<p>text</p>") == codec
