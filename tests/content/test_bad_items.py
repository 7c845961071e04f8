"""One bad item never stops an upload or `manage.py ingest` (issue 6, defect 3): it is reported
per item, every good item is stored, and nothing of the bad one is."""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from content import parsers, services
from content.items import prepare_item
from content.models import Chunk, Document
from core.storage.ports import InvalidInput

GOOD = [{"external_id": f"good-{i}", "title": f"Good {i}", "text": f"Good line number {i}."} for i in range(9)]

BAD_LINES = {
    "nested 1,000 levels": '{"external_id": "bad", "text": "x", "metadata": {"a": ' + "[" * 1000 + "]" * 1000 + "}}",
    "integer of 5,000 digits": '{"external_id": "bad", "text": "x", "metadata": {"n": ' + "7" * 5000 + "}}",
    "metadata with a lone surrogate": '{"external_id": "bad", "text": "x", "metadata": {"k": "\\ud800"}}',
    "metadata key with a lone surrogate": '{"external_id": "bad", "text": "x", "metadata": {"\\udfff": 1}}',
    "external id with a lone surrogate": '{"external_id": "\\ud800", "text": "x"}',
    "title with a lone surrogate": '{"external_id": "bad", "title": "\\udc80", "text": "x"}',
    "text with a lone surrogate": '{"external_id": "bad", "text": "a\\ud800b"}',
}


def jsonl_with(bad_line: str) -> str:
    lines = [json.dumps(item) for item in GOOD]
    lines.insert(4, bad_line)
    return "\n".join(lines) + "\n"


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(BAD_LINES))
def test_ingest_command_stores_the_nine_good_lines_and_reports_the_bad_one(tmp_path, workspace, case):
    path = tmp_path / "ten.jsonl"
    path.write_text(jsonl_with(BAD_LINES[case]))
    out, err = io.StringIO(), io.StringIO()
    with pytest.raises(CommandError, match="1 item"):
        call_command("ingest", str(path), "--workspace", workspace.slug, stdout=out, stderr=err)
    assert out.getvalue().strip() == "added 9, updated 0, unchanged 0, failed 1"
    assert f"{path}:5: " in err.getvalue()
    assert "Traceback" not in err.getvalue()
    assert sorted(Document.objects.values_list("external_id", flat=True)) == sorted(i["external_id"] for i in GOOD)
    assert not Document.objects.filter(external_id="bad").exists()


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(BAD_LINES))
def test_ingest_service_reports_the_bad_item_and_writes_the_rest(workspace, case):
    items, errors = parsers.parse_uploads([SimpleUploadedFile("ten.jsonl", jsonl_with(BAD_LINES[case]).encode())])
    report = services.document_ingest(workspace_id=workspace.pk, items=items)
    counts = report.counts
    assert counts["added"] == 9 and counts["failed"] + len(errors) == 1
    for result in report.failed:
        result.external_id.encode("utf-8")  # printable and encodable, whatever the input held
        result.error.encode("utf-8")
    assert Document.objects.filter(workspace=workspace).count() == 9
    assert Chunk.objects.filter(workspace=workspace).count() == 9


@pytest.mark.django_db
@pytest.mark.parametrize("case", list(BAD_LINES))
def test_upload_result_page_shows_the_bad_item(client, user, workspace, case):
    client.force_login(user)
    upload = SimpleUploadedFile("ten.jsonl", jsonl_with(BAD_LINES[case]).encode())
    response = client.post(reverse("content:document-list"), {"files": [upload]}, follow=True)
    assert response.status_code == 200
    assert "failed" in response.content.decode() or "not parsed" in response.content.decode()
    assert Document.objects.filter(workspace=workspace).count() == 9


def test_metadata_that_cannot_be_stored_is_refused_by_the_service():
    for metadata in ({"k": "\ud800"}, {"\udfff": 1}, {"n": 10**5000}):
        item = services.IngestItem(external_id="x", title="t", text="text", metadata=metadata)
        with pytest.raises(InvalidInput):
            prepare_item(item, 0)


@pytest.mark.django_db(transaction=True)
def test_a_named_pipe_in_the_directory_is_skipped(tmp_path, workspace):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Before the pipe.")
    os.mkfifo(docs / "b.txt")
    (docs / "c.txt").write_text("After the pipe.")
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "tests.settings",
        "STRATA_DB_NAME": settings.DATABASES["default"]["NAME"],
    }
    try:
        done = subprocess.run(
            [sys.executable, "manage.py", "ingest", str(docs), "--workspace", workspace.slug, "-v", "0"],
            capture_output=True,
            text=True,
            cwd=settings.BASE_DIR,
            env=env,
            timeout=60,  # reading the pipe would block forever
        )
        assert done.returncode == 1, done.stderr
        assert done.stdout.strip() == "added 2, updated 0, unchanged 0, failed 1"
        assert f"{docs}/b.txt: not a regular file (a named pipe); skipped" in done.stderr
        assert "Traceback" not in done.stderr
    finally:
        for document_id in Document.objects.filter(workspace=workspace).values_list("id", flat=True):
            services.document_delete(workspace_id=workspace.pk, document_id=document_id)
