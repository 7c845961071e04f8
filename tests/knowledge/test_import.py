"""graph_import / graph_export: bad lines reported as file:line: message with a non-zero exit,
duplicates merged, idempotent re-import, documents linked by doc:<external_id>, round trip."""

from __future__ import annotations

import contextlib
import io
import json
import logging
import re
import time

import pytest
from django.core.management import call_command
from django.test import override_settings
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from core.models import OutboxEvent
from knowledge import projections, stores
from knowledge.import_lines import LineError, parse_line
from knowledge.models import Entity, Relation
from knowledge.writes import EVENT_GRAPH_CHANGED
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
    err = io.StringIO()
    with contextlib.redirect_stderr(err):  # where the progress bar goes
        call_command("graph_export", "--workspace", workspace.slug, "--output", str(path))
    exported = [json.loads(line) for line in path.read_text().splitlines()]
    assert f"graph_export: {len(exported)} lines" in err.getvalue()  # the progress bar counted every line
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


def _graph(workspace_id):
    """Every node and edge of the workspace in the graph, with their properties (types kept:
    a float weight stays a float)."""
    store = stores.graph()
    nodes = {k: (v, {n: type(x).__name__ for n, x in v.items()}) for k, v in graph_nodes(workspace_id).items()}
    edges = {}
    for edge_type in store.edge_types():
        after = None
        while True:
            page = store.scan_edges(edge_type, after=after, limit=1000)
            for edge in page.items:
                if stores.local_key(workspace_id, edge.source.key) is not None:
                    types = {n: type(x).__name__ for n, x in edge.properties.items()}
                    edges[(edge.type, edge.source.key, edge.target.key)] = (edge.properties, types)
            if page.next_cursor is None:
                break
            after = page.next_cursor
    return nodes, edges


def test_set_based_projection_writes_what_the_python_path_writes(workspace, tmp_path):
    extra = [
        {
            "kind": "node",
            "key": "web",
            "label": "Library",
            "properties": {"name": " Web ", "aliases": ["w", "www"], "score": 2.5, "n": 3, "tags": {"a": [1, 2.0]}},
        },
        {
            "kind": "edge",
            "source": "app",
            "target": "web",
            "label": "DEPENDS_ON",
            "properties": {"weight": 3, "why": "x"},
        },
        {"kind": "edge", "source": "app", "target": "web", "label": "DEPENDS_ON", "properties": {"since": 2020}},
        {"kind": "edge", "source": "cli", "target": "fresh", "label": "USES", "weight": 0.25},
        {"kind": "node", "key": "web", "properties": {"name": "Web", "extra": True}},
    ]
    assert not build(workspace.id, extra=extra).errors
    store = stores.graph()
    events = OutboxEvent.objects.filter(event_type=EVENT_GRAPH_CHANGED, workspace_id=workspace.id).order_by("id")
    last = events.last().payload
    assert projections._project_in_database(store, workspace.id, last)  # the import took the set-based path
    before = _graph(workspace.id)
    assert before[0]["web"][0]["aliases"] == ["w", "www"] and before[0]["web"][0]["extra"] is True
    web = stores.node_key(workspace.id, "web")
    edge = before[1][("DEPENDS_ON", stores.node_key(workspace.id, "app"), web)][0]
    assert edge["weight"] == 1.0 and edge["since"] == 2020 and edge["why"] == "x" and edge["provenance"] == ["import"]
    for event in events:  # the Python path over the same events changes nothing
        for start in range(0, max(len(projections._triples(event.payload)), 1), projections.BATCH):
            triples = projections._triples(event.payload)[start : start + projections.BATCH]
            projections._project(store, workspace.id, event.payload if start == 0 else {}, triples)
    assert _graph(workspace.id) == before


def test_sql_checks_give_parse_lines_messages(workspace, tmp_path, capsys):
    bad = [
        {"kind": "node", "key": "x", "properties": {"key": 1}},
        {"kind": "node", "key": "x", "properties": {"_strata_x": 1}},
        {"kind": "node", "key": "x", "properties": []},
        {"kind": "node", "key": 7},
        {"kind": "node", "key": "a\tb"},
        {"kind": "node", "key": "doc:"},
        {"kind": "node", "key": "x", "label": None},
        {"kind": "node", "key": "x", "label": "9lives"},
        {"kind": "node", "key": " "},
        {"kind": "node", "key": "x", "properties": {"name": "  "}},
        {"kind": "node", "key": "x", "properties": {"name": "n" * 256}},
        {"kind": "node", "key": "x", "properties": {"aliases": "a"}},
        {"kind": "node", "key": "x", "properties": {"aliases": ["ok", ""]}},
        {"kind": "node", "key": "x", "properties": {"aliases": [1]}},
        {"kind": "edge", "source": "", "target": "b", "label": "X"},
        {"kind": "edge", "source": "a", "target": "doc:", "label": "X"},
        {"kind": "edge", "source": "a", "target": "b"},
        {"kind": "edge", "source": "a", "target": "b", "label": "DocumentRef"},
        {"kind": "edge", "source": "doc:a", "target": "doc:b", "label": "X"},
        {"kind": "edge", "source": "a", "target": "b", "label": "X", "weight": True},
        {"kind": "edge", "source": "a", "target": "b", "label": "X", "weight": 1e12},
        {"kind": "edge", "source": "a", "target": "b", "label": "X", "properties": {"weight": None}},
        {"kind": 1},
        {},
        "17",
        '{"kind": "node", "key": "x",}',
    ]
    path = tmp_path / "g.jsonl"
    raw = [x if isinstance(x, str) else json.dumps(x) for x in bad]
    path.write_text("\n".join(raw) + "\n")
    with pytest.raises(SystemExit):
        call_command("graph_import", str(path), "--workspace", workspace.slug)
    reported = [line for line in capsys.readouterr().err.splitlines() if line.startswith(f"{path}:")]
    expected = []
    for number, line in enumerate(raw, start=1):
        with pytest.raises(LineError) as error:
            parse_line(line.encode())
        expected.append(f"{path}:{number}: {error.value}")
    assert reported == expected
    assert not Entity.objects.filter(workspace=workspace).exists()


def test_staged_projection_only_where_each_edge_has_its_one_imported_row(workspace, caplog):
    """An import batch projects its edges from its own staged rows, but not when another row
    shares one of its edges (its aggregate is more than the imported row) or an end is a merged
    entity (the edge goes to the entity it was merged into): both write what the Python path does."""
    from knowledge.merge import entity_merge
    from knowledge.writes import RelationRow, publish_graph_change, relations_add

    staged = "from the import batch's staged rows"
    with caplog.at_level(logging.DEBUG, logger="knowledge.projections"):
        assert not build(workspace.id).errors
    assert staged in caplog.text
    store = stores.graph()
    web, http = (Entity.objects.get(workspace=workspace, key=k) for k in ("web", "http"))
    triples = relations_add(
        workspace_id=workspace.id,
        provenance="manual",
        rows=[RelationRow("DEPENDS_ON", ("e", web.pk), ("e", http.pk), 2.5, {"note": "by hand"})],
    )
    publish_graph_change(workspace_id=workspace.id, triples=triples)
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="knowledge.projections"):
        assert not build(
            workspace.id,
            edges=[("web", "http")],
            extra=[
                {
                    "kind": "edge",
                    "source": "web",
                    "target": "http",
                    "label": "DEPENDS_ON",
                    "properties": {"weight": 4, "since": 2},
                }
            ],
        ).errors
    assert staged not in caplog.text
    edge = _graph(workspace.id)[1][
        ("DEPENDS_ON", stores.node_key(workspace.id, "web"), stores.node_key(workspace.id, "http"))
    ][0]
    assert edge["weight"] == 6.5 and edge["note"] == "by hand" and edge["since"] == 2
    assert sorted(edge["provenance"]) == ["import", "manual"]
    cli = Entity.objects.get(workspace=workspace, key="cli")
    entity_merge(
        workspace_id=workspace.id, keep_id=cli.pk, merge_id=Entity.objects.get(workspace=workspace, key="tools").pk
    )
    caplog.clear()
    with caplog.at_level(logging.DEBUG, logger="knowledge.projections"):
        assert not build(workspace.id, edges=[("tools", "socket")]).errors
    assert staged not in caplog.text
    assert ("DEPENDS_ON", "cli", "socket") in graph_edges(workspace.id)
    before = _graph(workspace.id)
    events = OutboxEvent.objects.filter(event_type=EVENT_GRAPH_CHANGED, workspace_id=workspace.id).order_by("id")
    for event in events:  # the Python path over every event changes nothing
        for start in range(0, max(len(projections._triples(event.payload)), 1), projections.BATCH):
            triples = projections._triples(event.payload)[start : start + projections.BATCH]
            projections._project(store, workspace.id, event.payload if start == 0 else {}, triples)
    assert _graph(workspace.id) == before


def test_a_large_import_refreshes_the_planner_statistics(workspace, monkeypatch):
    from django.db import connection

    from knowledge import imports

    def reltuples(table):
        with connection.cursor() as cursor:
            cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table])
            return cursor.fetchone()[0]

    extra = [{"kind": "edge", "source": "app", "target": "cli", "label": "FRESHLY_ANALYZED"}]
    monkeypatch.setattr(imports, "ANALYZE_AFTER", 10**9)
    assert not build(workspace.id, extra=extra).errors
    table = f'{stores.graph().graph}."FRESHLY_ANALYZED"'
    assert reltuples(table) == -1  # a new table, never analyzed
    monkeypatch.setattr(imports, "ANALYZE_AFTER", 5)
    assert not build(workspace.id, extra=extra).errors
    assert reltuples(table) == 1 and reltuples("knowledge_relation") >= 7


def _rows(workspace_id):
    keys = dict(Entity.objects.filter(workspace_id=workspace_id).values_list("id", "key"))
    entities = {
        key: (name, type_name, aliases, props)
        for key, name, type_name, aliases, props in Entity.objects.filter(workspace_id=workspace_id).values_list(
            "key", "name", "type__name", "aliases", "properties"
        )
    }
    relations = {
        (label, keys[s], keys[t]): (weight, props)
        for label, s, t, weight, props in Relation.objects.filter(workspace_id=workspace_id).values_list(
            "label", "source_entity_id", "target_entity_id", "weight", "properties"
        )
    }
    return entities, relations


@pytest.mark.django_db(transaction=True)
def test_batches_on_two_sessions_write_what_one_session_writes(workspace, other_workspace, tmp_path, caplog, capsys):
    """Outside a transaction the batches run on two sessions (one parses while the other
    writes), in file order: repeats across batches merge as in one session (later lines win),
    an edge's end named before its node line is filled in later, a bad line is reported."""
    extra = [
        {"kind": "edge", "source": "app", "target": "late", "label": "USES", "properties": {"weight": 2, "v": 1}},
        {"kind": "node", "key": "app", "label": "Package", "properties": {"name": "App 2", "tier": 1}},
        "{not json",
        {"kind": "edge", "source": "app", "target": "late", "label": "USES", "properties": {"v": 2}},
        {"kind": "node", "key": "late", "label": "Tool", "properties": {"name": "Late", "aliases": ["l8"]}},
        {"kind": "node", "key": "app", "label": "Package", "properties": {"tier": 2}},
    ]
    path = tmp_path / "g.jsonl"
    path.write_bytes(lines(extra=extra))
    with caplog.at_level(logging.DEBUG, logger="knowledge.import_pipeline"):
        with pytest.raises(SystemExit):
            call_command("graph_import", str(path), "--workspace", workspace.slug, "--batch-size", "3")
    assert "batches on 2 sessions" in caplog.text
    two = capsys.readouterr()
    with override_settings(STRATA_GRAPH_IMPORT_CONNECTIONS=1), pytest.raises(SystemExit):
        call_command("graph_import", str(path), "--workspace", other_workspace.slug, "--batch-size", "3")
    one = capsys.readouterr()
    assert two.out == one.out and "failed 1" in two.out
    assert two.err.count(f"{path}:") == one.err.count(f"{path}:") == 1
    assert _rows(workspace.id) == _rows(other_workspace.id)
    entities, relations = _rows(workspace.id)
    assert entities["app"] == ("app", "package", [], {"tier": 2}) and entities["late"][:3] == ("Late", "tool", ["l8"])
    assert relations[("USES", "app", "late")] == (1.0, {"v": 2})
    mine = {k: v for k, v in graph_nodes(workspace.id).items()}
    theirs = graph_nodes(other_workspace.id)
    assert {k: {n: x for n, x in v.items() if n not in ("entity_id", "workspace_id")} for k, v in mine.items()} == {
        k: {n: x for n, x in v.items() if n not in ("entity_id", "workspace_id")} for k, v in theirs.items()
    }
    assert graph_edges(workspace.id) == graph_edges(other_workspace.id)
    for ws in (workspace.id, other_workspace.id):
        stores.graph().cypher("MATCH (n:Entity) WHERE n.workspace_id = $ws DETACH DELETE n RETURN 1", {"ws": ws})


@pytest.mark.django_db(transaction=True)
def test_after_a_failed_batch_no_later_batch_writes():
    from knowledge import import_pipeline

    written = []

    def write(cursor, k):
        if k == 2:
            raise ValueError("batch 2 failed")
        cursor.execute("SELECT 1")
        written.append(k)
        return k

    results = []
    with pytest.raises(ValueError, match="batch 2 failed"):
        for k in import_pipeline.run_in_order(
            range(8), setup=lambda c: None, teardown=lambda c: None, prepare=lambda c, k: k, write=write
        ):
            results.append(k)
    assert results == written == [0, 1]


@given(st.binary(max_size=60) | st.text(alphabet="0123456789eE+-.x ", max_size=60).map(str.encode))
@hypothesis_settings(max_examples=300, deadline=None)
def test_risky_numbers_are_the_regexs(data):
    """The digit-folding check finds what ``\\d{19}|[eE][-+]?\\d{3}`` finds."""
    from knowledge.imports import _risky_number

    assert _risky_number(data) == (re.search(rb"\d{19}|[eE][-+]?\d{3}", data) is not None)


def test_properties_nested_past_orjsons_depth_are_imported_or_reported_never_a_crash(workspace, tmp_path, capsys):
    """A line whose properties nest 300 levels (orjson writes at most 254) crashed the whole
    import with "TypeError: Recursion limit reached" when Python checked it (a non-ASCII or long
    line); the set-based path stores such a line, so the Python check now measures it too."""

    def node(key: str, levels: int) -> str:
        value = "[" * levels + "]" * levels
        return '{"kind": "node", "key": "' + key + '", "label": "Package", "properties": {"név": ' + value + "}}"

    path = tmp_path / "g.jsonl"
    path.write_text("\n".join([node("deep", 300), node("deeper", 1000)]) + "\n", encoding="utf-8")
    with pytest.raises(SystemExit):
        call_command("graph_import", str(path), "--workspace", workspace.slug)
    err = capsys.readouterr().err
    assert f"{path}:2: " in err and f"{path}:1: " not in err
    assert list(Entity.objects.filter(workspace=workspace).values_list("key", flat=True)) == ["deep"]


@pytest.mark.django_db(transaction=True)  # the import's connection is killed: no test transaction around it
def test_a_lost_connection_stops_the_import_with_a_summary_and_rerunning_finishes_it(workspace, tmp_path, monkeypatch):
    """pg_terminate_backend during graph_import printed a psycopg traceback (AdminShutdown) and
    no summary; now the stored batches are counted, the interrupted one is named and rolled back."""
    import psycopg
    from django.core.management.base import CommandError
    from django.db import connection

    from knowledge import imports

    path = tmp_path / "g.jsonl"
    path.write_bytes(lines(edges=[(f"p{i}", f"p{i + 1}") for i in range(5)]))
    total = len(path.read_bytes().splitlines())
    real_write, calls = imports._write, []

    def write_then_lose_the_connection(cursor, *args, **kwargs):
        calls.append(1)
        if len(calls) == 2:  # the second batch: its session is ended by the server, as an admin would
            pid = cursor.connection.info.backend_pid
            with psycopg.connect(**connection.get_connection_params(), autocommit=True) as other:
                other.execute("SELECT pg_terminate_backend(%s)", [pid])
        return real_write(cursor, *args, **kwargs)

    monkeypatch.setattr(imports, "_write", write_then_lose_the_connection)
    out = io.StringIO()
    with pytest.raises(CommandError) as stopped:
        call_command("graph_import", str(path), "--workspace", workspace.slug, "--batch-size", "3", stdout=out)
    assert str(stopped.value).startswith("lost the connection to PostgreSQL while importing lines 4-6 (")
    assert "rolled back; the lines before it are stored. Re-running the same command is safe" in str(stopped.value)
    assert out.getvalue().strip().endswith("from 3 lines; failed 0")
    connection.close()  # the killed session
    assert Entity.objects.filter(workspace=workspace).count() == 3  # the first batch's nodes

    monkeypatch.setattr(imports, "_write", real_write)
    out = io.StringIO()
    call_command("graph_import", str(path), "--workspace", workspace.slug, "--batch-size", "3", stdout=out)
    assert out.getvalue().strip().endswith(f"from {total} lines; failed 0")
    keys = {f"p{i}" for i in range(6)} | {"tools"}
    assert set(Entity.objects.filter(workspace=workspace).values_list("key", flat=True)) == keys
    assert len(graph_edges(workspace.id)) == 5
    stores.graph().cypher(  # graph nodes outlive the test's flush
        "MATCH (n) WHERE n.workspace_id = $ws DETACH DELETE n RETURN count(*)", {"ws": workspace.id}, columns=("n",)
    )


@pytest.mark.django_db(transaction=True)
def test_statistics_are_refreshed_once_during_a_large_import_and_after_it(workspace, tmp_path, monkeypatch):
    """Once an import has written ANALYZE_AFTER rows the later batches are planned from fresh
    statistics (a new workspace's stale ones planned each key probe as a scan of its entities)."""
    from django.db import connection

    from knowledge import imports

    def analyses():
        with connection.cursor() as cursor:
            cursor.execute("SELECT analyze_count FROM pg_stat_user_tables WHERE relname = 'knowledge_entity'")
            return cursor.fetchone()[0]

    monkeypatch.setattr(imports, "ANALYZE_AFTER", 6)
    path = tmp_path / "g.jsonl"
    path.write_bytes(
        lines(extra=[{"kind": "edge", "source": f"n{i}", "target": "app", "label": "USES"} for i in range(12)])
    )
    before = analyses()
    call_command("graph_import", str(path), "--workspace", workspace.slug, "--batch-size", "4", stdout=io.StringIO())
    for _ in range(50):  # (a backend reports its statistics within a second or so)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_stat_clear_snapshot()")
        if analyses() >= before + 2:
            break
        time.sleep(0.1)
    assert analyses() == before + 2  # once mid-way, once at the end
    stores.graph().cypher("MATCH (n:Entity) WHERE n.workspace_id = $ws DETACH DELETE n RETURN 1", {"ws": workspace.id})


def test_ends_found_before_a_batchs_transaction_are_checked_in_it(workspace):
    """A batch of edges is parsed, its ends looked up and its edges merged before its transaction
    (in pipelined imports, while the batch before it writes); an entity merged or deleted in
    between is looked up again in the transaction, so the rows and the graph name what is there
    when the batch writes."""
    from knowledge import imports
    from knowledge.services import entity_merge

    assert not build(workspace.id, edges=[("app", "web"), ("cli", "web")]).errors
    chunk = [
        json.dumps({"kind": "edge", "source": s, "target": t, "label": "USES"}).encode() + b"\n"
        for s, t in [("app", "cli"), ("tools", "web"), ("web", "gone")]
    ]
    build(workspace.id, edges=[], extra=[{"kind": "node", "key": "gone", "label": "Package"}])
    with imports.import_sql.cursor() as cursor:
        imports._create_tables(cursor)
        prepared = imports._prepare(cursor, workspace.id, "late.jsonl", 1, chunk)
        assert prepared.triples == 3  # merged ahead: every end found
        keep, merged = (Entity.objects.get(workspace=workspace, key=k) for k in ("web", "tools"))
        entity_merge(workspace_id=workspace.id, keep_id=keep.pk, merge_id=merged.pk)  # tools -> web
        Entity.objects.filter(workspace=workspace, key="gone").delete()
        imports._write(cursor, prepared)
        imports._drop_tables(cursor)
    uses = {
        (r.source_entity.key, r.target_entity.key)
        for r in Relation.objects.filter(workspace=workspace, label="USES").select_related(
            "source_entity", "target_entity"
        )
    }
    assert uses == {("app", "cli"), ("web", "web"), ("web", "gone")}  # tools is web now; gone was created again
    assert Entity.objects.get(workspace=workspace, key="gone").origin == "import"
    assert {e for e in graph_edges(workspace.id) if e[0] == "USES"} == {
        ("USES", "app", "cli"),
        ("USES", "web", "web"),
        ("USES", "web", "gone"),
    }
