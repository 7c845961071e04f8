"""manage.py ingest over real files of every supported type (and bad ones), and the parsers."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from content import markup, parsers, services, stores
from content.models import Document
from core.models import OutboxEvent

HTML = """<!doctype html>
<html><head><title>The  HTML
 page</title><style>body { color: red }</style><script>var secret = "do not index";</script></head>
<body><h1>Heading</h1><p>First &amp; foremost paragraph.</p><div>Second<br>line</div>
<noscript>enable js</noscript></body></html>"""


def make_tree(root: Path) -> Path:
    docs = root / "docs"
    (docs / "sub").mkdir(parents=True)
    (docs / ".git").mkdir()
    (docs / "readme.md").write_text("Intro line\n\n# Getting started\n\nInstall it.\n")
    (docs / "notes.txt").write_text("Plain notes about Postgres.\n")
    (docs / "page.html").write_text(HTML)
    (docs / "sub" / "deep.txt").write_text("A nested file.")
    (docs / ".hidden.txt").write_text("skipped")
    (docs / ".git" / "config.txt").write_text("skipped")
    (docs / "data.json").write_text(
        "[\n"
        '  {"external_id": "j1", "title": "J one", "text": "From a JSON list.", "metadata": {"n": 1}},\n'
        '  {"external_id": "j2",\n'
        '   "title": "J two"}\n'
        "]\n"
    )
    (docs / "single.json").write_text('{"title": "Single", "text": "One object.", "metadata": {"k": "v"}}')
    (docs / "items.jsonl").write_text(
        '{"external_id": "l1", "title": "Line one", "text": "First line.", "metadata": {"a": 1}}\n'
        '{"external_id": "l2", "title": "Broken", "text": \n'
        '{"external_id": "l3", "title": "No text"}\n'
        "\n"
        '{"external_id": "l5", "title": "Five", "text": "Fifth line.", "metadata": "not an object"}\n'
        '{"external_id": "l6", "title": "Six", "text": "Sixth line.", "content_type": "application/pdf"}\n'
        '{"external_id": "l7", "text": "Seventh line."}\n'
    )
    (docs / "image.png").write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    (docs / "binary.txt").write_bytes(b"abc\x00def")
    (docs / "latin1.txt").write_bytes("caf\xe9 cr\xe8me\n".encode("latin-1"))
    (docs / "empty.md").write_text("   \n")
    (docs / "huge.txt").write_text("x" * 5000)
    return docs


def run(*args: str) -> tuple[str, str, CommandError | None]:
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("ingest", *args, stdout=out, stderr=err)
    except CommandError as exc:
        return out.getvalue(), err.getvalue(), exc
    return out.getvalue(), err.getvalue(), None


@pytest.mark.django_db
@override_settings(STRATA_MAX_DOCUMENT_BYTES=4000)
def test_ingest_a_tree_of_every_file_type(tmp_path, workspace):
    docs = make_tree(tmp_path)
    out, err, error = run(str(docs), "--workspace", workspace.slug)

    assert out.strip() == "added 8, updated 0, unchanged 0, failed 10"
    assert str(error) == "10 item(s) failed"
    assert sorted(err.strip().splitlines()) == [
        f"{docs}/binary.txt: binary file (contains NUL bytes); only UTF-8 text is supported",
        f'{docs}/data.json:3: item 2: missing "text"',
        f"{docs}/empty.md: text is missing or empty",
        f"{docs}/huge.txt: file is 5000 bytes; the limit is 4000 (STRATA_MAX_DOCUMENT_BYTES)",
        f"{docs}/image.png: unsupported file type .png and not text (binary file (contains NUL bytes)); "
        "supported: .txt, .md, .markdown, .htm, .html, .json, .jsonl or any UTF-8 text",
        f"{docs}/items.jsonl:2: invalid JSON: Expecting value (column 50)",
        f'{docs}/items.jsonl:3: missing "text"',
        f'{docs}/items.jsonl:5: "metadata" must be a JSON object',
        f"{docs}/items.jsonl:6: unsupported content type 'application/pdf'; "
        "expected one of text/plain, text/markdown, text/html, application/json",
        f"{docs}/latin1.txt:1: not valid UTF-8 (byte 3); only UTF-8 text is supported",
    ]

    documents = {d.external_id: d for d in Document.objects.filter(workspace=workspace)}
    assert sorted(documents) == ["j1", "l1", "l7", "notes.txt", "page.html", "readme.md", "single.json", "sub/deep.txt"]
    assert documents["readme.md"].title == "Getting started"
    assert documents["readme.md"].content_type == "text/markdown"
    assert documents["notes.txt"].title == "notes.txt"
    assert documents["page.html"].title == "The HTML page"
    assert documents["l7"].title == "l7"
    html_body = stores.documents().get(stores.DOCUMENTS_COLLECTION, str(documents["page.html"].pk))
    assert html_body["text"] == "Heading\n\nFirst & foremost paragraph.\n\nSecond\nline"
    assert stores.documents().get(stores.DOCUMENTS_COLLECTION, str(documents["j1"].pk))["metadata"] == {"n": 1}
    assert documents["l1"].source == f"{docs}/items.jsonl"
    # without --embed the worker embeds them (one outbox event per batch)
    assert {d.status for d in documents.values()} == {Document.Status.PENDING}
    assert OutboxEvent.objects.filter(event_type=services.EVENT_INGESTED).count() == 1

    # a second run changes nothing and reports the same failures
    out, err, error = run(str(docs), "--workspace", workspace.slug)
    assert out.strip() == "added 0, updated 0, unchanged 8, failed 10" and error is not None
    assert f"{docs}/items.jsonl:2: invalid JSON" in err


@pytest.mark.django_db
def test_extensionless_and_unknown_text_files_are_plain_text_and_binary_ones_are_refused(tmp_path, workspace):
    """The new-user trial over /usr/share/doc: README, NEWS, README.Debian, copyright and
    changelog (53 of 241 files) were refused as unsupported types; binary files stay refused."""
    docs = tmp_path / "usr-share-doc" / "apt"
    docs.mkdir(parents=True)
    (docs / "README").write_text("APT is the Advanced Package Tool.\n")
    (docs / "README.Debian").write_text("Debian notes\x0c\nfor apt.\n")  # a form feed is text
    (docs / "copyright").write_text("Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n")
    (docs / "NEWS").write_bytes("apt (2.6) \u2014 caf\u00e9\n".encode())
    (docs / "changelog.Debian.gz").write_bytes(b"\x1f\x8b\x08\x08gzip header")
    (docs / "apt-helper").write_bytes(b"\x7fELF\x02\x01\x01" + bytes(range(1, 8)) * 20)  # UTF-8, no NUL
    (docs / "blob").write_bytes(b"text\x00more")
    out, err, error = run(str(docs), "--workspace", workspace.slug)

    supported = "supported: .txt, .md, .markdown, .htm, .html, .json, .jsonl or any UTF-8 text"
    assert out.strip() == "added 4, updated 0, unchanged 0, failed 3"
    assert sorted(err.strip().splitlines()) == [
        f"{docs}/apt-helper: no file extension and not text (binary data: 144 control characters in its first 147); "
        + supported,
        f"{docs}/blob: no file extension and not text (binary file (contains NUL bytes)); " + supported,
        f"{docs}/changelog.Debian.gz: unsupported file type .gz and not text (not valid UTF-8 (byte 1)); " + supported,
    ]
    documents = {d.external_id: d for d in Document.objects.filter(workspace=workspace)}
    assert sorted(documents) == ["NEWS", "README", "README.Debian", "copyright"]
    assert {d.content_type for d in documents.values()} == {"text/plain"}
    assert documents["README.Debian"].title == "README.Debian"
    body = stores.documents().get(stores.DOCUMENTS_COLLECTION, str(documents["NEWS"].pk))
    assert body["text"] == "apt (2.6) \u2014 caf\u00e9"


@pytest.mark.django_db
def test_ingest_good_files_with_embed_in_small_batches(tmp_path, workspace):
    for i in range(5):
        (tmp_path / f"f{i}.txt").write_text(f"File number {i}.")
    (tmp_path / "f0.txt").write_text("File number zero.")
    out, err, error = run(str(tmp_path), "--workspace", str(workspace.pk), "--batch-size", "2", "--embed")
    assert error is None, err
    assert out.strip() == "added 5, updated 0, unchanged 0, failed 0"
    assert set(Document.objects.values_list("status", flat=True)) == {Document.Status.READY}
    assert OutboxEvent.objects.filter(event_type=services.EVENT_INGESTED).count() == 3  # 2 + 2 + 1

    (tmp_path / "f1.txt").write_text("File number one, edited.")
    out, _, error = run(str(tmp_path / "f1.txt"), str(tmp_path / "f2.txt"), "--workspace", workspace.slug)
    assert error is None and out.strip() == "added 0, updated 1, unchanged 1, failed 0"


@pytest.mark.django_db
def test_ingest_refuses_unknown_workspaces_and_bad_options(tmp_path, workspace):
    (tmp_path / "a.txt").write_text("text")
    with pytest.raises(CommandError, match="unknown workspace 'nope'"):
        call_command("ingest", str(tmp_path), "--workspace", "nope")
    with pytest.raises(CommandError, match="unknown workspace '999999'") as refused:
        call_command("ingest", str(tmp_path), "--workspace", "999999")
    # the slugs to use are named: "Default workspace" is default-workspace, not "default"
    assert f"give its slug or id; workspaces: {workspace.slug} (id {workspace.pk})" in str(refused.value)
    with pytest.raises(CommandError, match="--batch-size must be at least 1"):
        call_command("ingest", str(tmp_path), "--workspace", workspace.slug, "--batch-size", "0")
    _, err, error = run(str(tmp_path / "missing"), "--workspace", workspace.slug)
    assert f"{tmp_path}/missing: no such file or directory" in err and error is not None
    assert not Document.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_manage_py_ingest_exit_codes(tmp_path, user):
    from core.services import workspace_create

    workspace = workspace_create(name="Exit codes", owner=user)
    (tmp_path / "good.txt").write_text("Good text.")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "STRATA_DB_NAME": settings.DATABASES["default"]["NAME"],
    }

    def manage(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            [sys.executable, "manage.py", "ingest", *args, "--workspace", workspace.slug, "-v", "0"],
            capture_output=True,
            text=True,
            cwd=settings.BASE_DIR,
            env=env,
            timeout=120,
        )

    try:
        ok = manage(str(tmp_path / "good.txt"), "--embed")
        assert ok.returncode == 0, ok.stderr
        assert ok.stdout.strip() == "added 1, updated 0, unchanged 0, failed 0"

        (tmp_path / "bad.jsonl").write_text('{"external_id": "x"}\n')
        bad = manage(str(tmp_path))
        assert bad.returncode == 1
        assert bad.stdout.strip() == "added 0, updated 0, unchanged 1, failed 1"
        assert f'{tmp_path}/bad.jsonl:1: missing "text"' in bad.stderr
        assert "1 item(s) failed" in bad.stderr
    finally:  # graph nodes and HNSW indexes outlive Django's flush: remove them through the ports
        for document_id in Document.objects.filter(workspace=workspace).values_list("id", flat=True):
            services.document_delete(workspace_id=workspace.pk, document_id=document_id)
        for collection in stores.vectors().list_collections():
            if collection.name.startswith(f"content.ws{workspace.pk}."):
                stores.vectors().drop_collection(collection.name)


# ---------------------------------------------------------------- parsers


def test_markdown_titles():
    assert markup.markdown_title("# Title\ntext") == "Title"
    assert markup.markdown_title("text\n\n## Second level ##\n# Later") == "Second level"
    assert markup.markdown_title("Setext title\n============\n\n# Later") == "Setext title"
    assert markup.markdown_title("---\ntitle: x\n---\nBody\n\n# Real") == "Real"
    assert markup.markdown_title("#hashtag is not a heading") == ""


def test_html_to_text_drops_markup_scripts_and_styles():
    title, text = markup.html_to_text(HTML)
    assert title == "The HTML page"
    assert "secret" not in text and "color" not in text and "enable js" not in text
    assert markup.html_to_text("<h1>Only a heading</h1><p>x</p>") == ("Only a heading", "Only a heading\n\nx")


def test_json_list_items_carry_their_line_numbers(tmp_path):
    path = tmp_path / "list.json"
    path.write_text('[\n  {"text": "a"},\n\n  {"text": "b",\n   "title": "B"},\n  7\n]\n')
    entries = list(parsers.parse_file(path, tmp_path))
    assert [(type(e).__name__, e.line, e.item) for e in entries] == [
        ("IngestItem", 2, 1),
        ("IngestItem", 4, 2),
        ("ParseError", 6, 3),
    ]
    assert [e.external_id for e in entries[:2]] == ["list.json#0", "list.json#1"]
    assert str(entries[2]) == f"{path}:6: item 3: expected a JSON object, got int"

    path.write_text('[{"text": "a"},\n {"text": }]')
    [error] = parsers.parse_file(path, tmp_path)
    assert str(error) == f"{path}:2: item 2: invalid JSON: Expecting value (column 11)"


@pytest.mark.django_db
def test_items_of_a_minified_json_array_are_named_by_their_number(tmp_path, workspace):
    """The trial's minified .json (one line): every bad item said "line 1"; it names the item."""
    docs = tmp_path / "docs"
    docs.mkdir()
    good = [{"external_id": f"d{n}", "title": f"D{n}", "text": f"Document {n}."} for n in range(1, 21)]
    good[16] = {"external_id": "d17", "title": "No text"}  # item 17
    good[4]["content_type"] = "application/pdf"  # item 5: refused by the service, not the parser
    (docs / "all.json").write_text(json.dumps(good, separators=(",", ":")))
    (docs / "broken.json").write_text('[{"text":"a"},{"text":"b"},{"text":"c" "title":"x"}]')
    (docs / "unclosed.json").write_text('[{"text":"a"},{"text":"b"} {"text":"c"}]')
    out, err, error = run(str(docs), "--workspace", workspace.slug)

    assert out.strip() == "added 18, updated 0, unchanged 0, failed 4"
    assert sorted(err.strip().splitlines()) == [
        f'{docs}/all.json: item 17: missing "text"',
        f"{docs}/all.json: item 5: unsupported content type 'application/pdf'; "
        "expected one of text/plain, text/markdown, text/html, application/json",
        f"{docs}/broken.json:1: item 3: invalid JSON: Expecting ',' delimiter (column 40)",
        f"{docs}/unclosed.json:1: item 2: invalid JSON: Expecting ',' or ']' (column 28)",
    ]


@override_settings(STRATA_MAX_DOCUMENT_BYTES=100, STRATA_MAX_METADATA_BYTES=10)
def test_jsonl_lines_over_the_limit_are_skipped_without_reading_them_whole(tmp_path):
    path = tmp_path / "big.jsonl"
    path.write_text('{"text": "' + "x" * 1000 + '"}\n{"text": "small"}\n')
    entries = list(parsers.parse_file(path, tmp_path))
    assert str(entries[0]) == f"{path}:1: line is longer than 210 bytes"
    assert entries[1].text == "small" and entries[1].line == 2 and entries[1].external_id == "big.jsonl:2"


@pytest.mark.django_db
def test_uploads_are_parsed_like_files(workspace):
    items, errors = parsers.parse_uploads(
        [
            SimpleUploadedFile("notes.md", b"# Uploaded\n\nBody."),
            SimpleUploadedFile("rows.jsonl", b'{"external_id": "r1", "text": "Row."}\nnot json\n'),
            SimpleUploadedFile("photo.jpg", b"\xff\xd8\xff"),
        ]
    )
    assert [(i.external_id, i.title) for i in items] == [("notes.md", "Uploaded"), ("r1", "r1")]
    assert [(e.source, e.line) for e in errors] == [("rows.jsonl", 2), ("photo.jpg", None)]
    assert errors[0].error.startswith("invalid JSON")
    report = services.document_ingest(workspace_id=workspace.pk, items=items)
    assert report.counts["added"] == 2


@pytest.mark.django_db
@override_settings(STRATA_MAX_DOCUMENT_BYTES=4000)
def test_count_items_matches_what_iter_items_yields(tmp_path):
    docs = make_tree(tmp_path)
    assert parsers.count_items([docs]) == sum(1 for _ in parsers.iter_items([docs])) == 18
    assert parsers.count_items([tmp_path / "missing"]) == 1  # the error counts too


@pytest.mark.django_db(transaction=True)
def test_the_progress_bar_has_a_total_current_counts_and_log_lines_above_it(tmp_path, workspace, capsys):
    corpus = tmp_path / "many.jsonl"
    corpus.write_text("".join(f'{{"external_id": "d{i}", "text": "note {i}"}}\n' for i in range(10000)))
    root = logging.getLogger()
    console = logging.StreamHandler(sys.stderr)  # what the settings' console handler is outside pytest
    root.addHandler(console)
    try:
        out, _, error = run(str(corpus), "--workspace", workspace.slug, "--batch-size", "4000")
    finally:
        root.removeHandler(console)

    assert error is None and out.strip() == "added 10000, updated 0, unchanged 0, failed 0"
    bar = capsys.readouterr().err
    # tqdm redraws with \r: every state of the bar and every log line is its own segment
    segments = [s.strip() for s in re.split(r"[\r\n]", bar) if s.strip()]
    states = [s for s in segments if s.startswith("ingest:")]
    assert any(
        re.match(r"ingest:\s+40%\|.*\| 4000/10000 \[.*added=4000, updated=0, unchanged=0, failed=0\]", s)
        for s in states
    ), states  # a percentage, a total and the counts of the batch just done
    assert re.match(
        r"ingest: 100%\|.*\| 10000/10000 \[.*added=10000, updated=0, unchanged=0, failed=0\]", states[-1]
    ), states[-1]
    assert "1e+4" not in bar
    logged = [s for s in segments if "content ingest into workspace" in s]
    assert len(logged) == 3 and all(s.startswith("content ingest into workspace") for s in logged), logged
