"""graph_import / graph_export: bad lines reported as file:line: message with a non-zero exit,
duplicates merged, idempotent re-import, documents linked by doc:<external_id>, round trip."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from knowledge.models import Entity, Relation
from tests.knowledge.graphs import build, lines
from tests.knowledge.helpers import doc, graph_edges, graph_nodes, ingest

pytestmark = pytest.mark.django_db


def test_import_with_bad_lines_reports_each_and_exits_non_zero(workspace, tmp_path, capsys):
    path = tmp_path / "g.jsonl"
    good = lines(edges=[("a", "b")]).decode().splitlines()
    bad = [
        "{not json",
        json.dumps({"kind": "vertex", "key": "x"}),
        json.dumps({"kind": "edge", "source": "a", "target": "b", "label": "has space"}),
        json.dumps({"kind": "edge", "source": "a", "target": "b", "label": "Entity"}),
        json.dumps({"kind": "node", "key": "", "label": "Package"}),
        json.dumps({"kind": "edge", "source": "a", "target": "doc:missing", "label": "MENTIONS"}),
        json.dumps([1, 2]),
        json.dumps({"kind": "edge", "source": "a", "target": "b", "label": "X", "properties": {"weight": "heavy"}}),
        "[" * 100_000,
    ]
    path.write_text("\n".join(good + bad) + "\n")
    with pytest.raises(SystemExit) as exit_info:
        call_command("graph_import", str(path), "--workspace", workspace.slug)
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    first_bad = len(good) + 1
    for offset in range(len(bad)):
        assert f"{path}:{first_bad + offset}: " in err, (offset, err)
    assert "no document with external id 'missing'" in err
    assert graph_edges(workspace.id) == {("DEPENDS_ON", "a", "b")}  # the good lines are in


def test_duplicates_merge_and_reimport_is_idempotent(workspace, tmp_path, capsys):
    ids = ingest(workspace.id, doc("guide.md", "x"))
    extra = [
        {"kind": "edge", "source": "a", "target": "b", "label": "DEPENDS_ON", "properties": {"weight": 3}},  # repeat
        {"kind": "node", "key": "a", "label": "Package", "properties": {"name": "A!", "lang": "py"}},  # repeat
        {"kind": "edge", "source": "doc:guide.md", "target": "a", "label": "MENTIONS"},
        {"kind": "edge", "source": "b", "target": "new", "label": "USES"},  # bare "new" entity
    ]
    path = tmp_path / "g.jsonl"
    path.write_bytes(lines(edges=[("a", "b")], extra=extra))
    call_command("graph_import", str(path), "--workspace", workspace.slug, "--batch-size", "2")
    out = capsys.readouterr().out
    assert "failed 0" in out
    snapshot = sorted(Relation.objects.values_list("id", "label", "weight", "properties"))
    assert Relation.objects.filter(label="DEPENDS_ON").get().weight == 3.0
    a = Entity.objects.get(workspace=workspace, key="a")
    assert a.name == "A!" and a.properties == {"lang": "py"}
    assert graph_nodes(workspace.id)["a"]["lang"] == "py"
    assert ("MENTIONS", f"doc:{ids['guide.md']}", "a") in graph_edges(workspace.id)
    assert ("USES", "b", "new") in graph_edges(workspace.id)
    call_command("graph_import", str(path), "--workspace", workspace.slug)
    assert sorted(Relation.objects.values_list("id", "label", "weight", "properties")) == snapshot
    assert Entity.objects.filter(workspace=workspace).count() == 4  # a, b, tools, new


def test_export_round_trips(workspace, other_workspace, tmp_path):
    ingest(workspace.id, doc("guide.md", "x"))
    extra = [{"kind": "edge", "source": "doc:guide.md", "target": "web", "label": "MENTIONS"}]
    assert not build(workspace.id, extra=extra).errors
    path = tmp_path / "out.jsonl"
    call_command("graph_export", "--workspace", workspace.slug, "--output", str(path))
    exported = [json.loads(line) for line in path.read_text().splitlines()]
    assert {
        "kind": "edge",
        "source": "doc:guide.md",
        "target": "web",
        "label": "MENTIONS",
        "properties": {"weight": 1.0},
    } in exported
    # into another workspace (with the same document): the same graph
    ingest(other_workspace.id, doc("guide.md", "x"))
    from knowledge.services import graph_import

    report = graph_import(stream=io.BytesIO(path.read_bytes()), name="out.jsonl", workspace_id=other_workspace.id)
    assert not report.errors
    mine = {(t, s, d) for t, s, d in graph_edges(workspace.id) if not s.startswith("doc:")}
    theirs = {(t, s, d) for t, s, d in graph_edges(other_workspace.id) if not s.startswith("doc:")}
    assert mine == theirs and len(mine) == 6
