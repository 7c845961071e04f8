"""manage.py search_eval: known-item evaluation of the search modes, and its refusals of bad
input files (each names the file and line; a bad byte used to end in a UnicodeDecodeError
traceback before any line was read, since the file was decoded a buffer at a time)."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from content.services import IngestItem
from tests.content.helpers import ingest

pytestmark = pytest.mark.django_db


def _eval(path, workspace, *args: str) -> str:
    out = io.StringIO()
    call_command("search_eval", str(path), "--workspace", workspace.slug, *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def test_known_items_are_found_and_scored(tmp_path, workspace):
    ingest(
        workspace.pk,
        IngestItem("owl", "Barn owl", "Barn owls hunt voles at night over open fields."),
        IngestItem("kite", "Red kite", "Red kites soar over hills looking for carrion."),
    )
    path = tmp_path / "items.jsonl"
    lines = [{"query": "owls hunting voles", "external_id": "owl"}, {"query": "kites soaring", "external_id": "kite"}]
    path.write_text("\ufeff" + "\n".join(json.dumps(line) for line in lines) + "\n\n", encoding="utf-8")
    rows = json.loads(_eval(path, workspace, "--json", "--modes", "fulltext,hybrid"))["results"]
    assert {row["mode"]: (row["queries"], row["r@1"]) for row in rows} == {"fulltext": (2, 1.0), "hybrid": (2, 1.0)}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b'{"query": "a", "external_id": "x"}\nnot json\n', ":2: not JSON"),
        (b'{"query": "a", "external_id": "x"}\n[1]\n', ':2: expected {"query": "...", "external_id": "..."}'),
        (b'{"query": "a", "external_id": "x"}\n{"query": "caf\xe9", "external_id": "x"}\n', ":2: not valid UTF-8"),
        (b"\n\n", ": no known items"),
    ],
)
def test_a_bad_line_is_named(tmp_path, workspace, content, message):
    path = tmp_path / "items.jsonl"
    path.write_bytes(content)
    with pytest.raises(CommandError) as refused:
        _eval(path, workspace)
    assert str(refused.value).startswith(str(path)) and message in str(refused.value)
