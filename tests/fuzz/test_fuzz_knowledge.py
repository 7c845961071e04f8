"""Fuzzing the knowledge app's parsers of user input: graph_import lines, the Cypher console's
parameters and query checks, the heuristic extractor and the explorer's JSON endpoint.

Each input is either accepted or refused with the app's own error (a ``file:line: message``, a
ConsoleError, a 4xx), never another exception, and a refused import line writes nothing."""

from __future__ import annotations

import io
import json

import pytest
from django.urls import reverse
from hypothesis import given, settings
from hypothesis import strategies as st

from knowledge import console
from knowledge.extraction import SourceDocument
from knowledge.extraction.heuristic import HeuristicExtractor
from knowledge.import_lines import LineError, parse_line
from knowledge.models import Entity
from knowledge.normalize import normalize_name
from knowledge.services import graph_import
from tests.fuzz import strategies as s
from tests.fuzz.conftest import examples

pytestmark = pytest.mark.django_db

line_values = st.one_of(
    s.json_texts,
    st.fixed_dictionaries(
        {
            "kind": st.sampled_from(["node", "edge", "vertex", ""]),
            "key": st.one_of(s.short_text, st.sampled_from(["doc:", "doc:x", "k" * 300, "ok"])),
            "source": st.one_of(s.short_text, st.just("ok")),
            "target": st.one_of(s.short_text, st.sampled_from(["doc:nope", "ok2"])),
            "label": st.one_of(s.short_text, st.sampled_from(["DEPENDS_ON", "Entity", "a b", "X" * 70, "Package"])),
            "properties": st.one_of(st.none(), st.dictionaries(s.short_text, s.short_text, max_size=3), s.short_text),
        }
    ).map(json.dumps),
    # names (and aliases) that Python normalizes for the SQL path: several non-ASCII ones in a
    # batch, padded, or differing only in their Unicode form
    st.builds(
        lambda key, name, alias: json.dumps(
            {"kind": "node", "key": key, "properties": {"name": name, "aliases": [alias]}}, ensure_ascii=False
        ),
        st.sampled_from(["n1", "n2", "N\u00e9", "Ne\u0301", "ok"]),
        st.one_of(s.short_text, st.sampled_from(["N\u00e9", "Ne\u0301", "  Zo\u00eb  M ", "\u041c\u0430", "\ufb01x"])),
        st.one_of(s.short_text, st.sampled_from(["n\u00e9", " \u00c9 ", "plain"])),
    ),
    # properties nested past orjson's 254 levels, ASCII or not (which path checks them differs)
    st.builds(
        lambda depth, name: (
            '{"kind": "node", "key": "deep", "properties": {"' + name + '": ' + "[" * depth + "]" * depth + "}}"
        ),
        st.sampled_from([254, 255, 300, 1023, 1025]),
        st.sampled_from(["a", "n\u00e9v", "n\u00e9v\u00e9"]),
    ),
)


def test_import_lines(request, workspace, count):
    @settings(settings.get_profile("strata-fuzz"), max_examples=examples(request, 300))
    @given(lines=st.lists(st.one_of(line_values, s.text), min_size=1, max_size=5))
    def run(lines):
        count()
        data = "\n".join(lines).encode("utf-8", "surrogatepass")
        report = graph_import(stream=io.BytesIO(data), name="fuzz.jsonl", workspace_id=workspace.id)
        bad, messages = set(), set()
        for number, raw in enumerate(io.BytesIO(data), start=1):
            try:
                parse_line(raw.rstrip(b"\r\n"))
            except LineError as exc:
                bad.add(number)
                messages.add(f"fuzz.jsonl:{number}: {exc}")
        reported = {int(error.split(":")[1]) for error in report.errors}
        # the set-based path (PostgreSQL's checks) says what parse_line says
        assert messages <= set(report.errors), (messages, report.errors)
        assert all(error.startswith("fuzz.jsonl:") for error in report.errors), report.errors
        assert bad <= reported, (bad, report.errors)  # every unparsable line is named
        # the only other errors: edges or nodes naming a document that does not exist
        assert all("no document" in e for e in report.errors if int(e.split(":")[1]) not in bad), report.errors
        for name, normalized, aliases, normalized_aliases in Entity.objects.filter(workspace=workspace).values_list(
            "name", "normalized", "aliases", "normalized_aliases"
        ):  # the SQL path normalizes as normalize_name does
            assert normalized == normalize_name(name), name
            assert normalized_aliases == [normalize_name(a) for a in aliases], aliases

    run()
    assert count.ran() >= 200


def test_console_params_and_queries(request, count):
    words = ["MATCH", "(n)", "RETURN", "n", ",", "AS", "x", "'", '"', "`", "/*", "*/", "//", "CREATE", "[", "{"]
    cypher = st.lists(st.sampled_from(words), max_size=12).map(" ".join)

    @settings(settings.get_profile("strata-fuzz"), max_examples=examples(request, 400))
    @given(params=s.json_texts, query=st.one_of(s.text, cypher))
    def run(params, query):
        count()
        try:
            parsed = console.parse_params(params)
            assert isinstance(parsed, dict) and "workspace" not in parsed
        except console.ConsoleError:
            pass
        try:
            columns = console.check_query(query)
            assert columns and all(c.isidentifier() for c in columns)
        except console.ConsoleError:
            pass

    run()
    assert count.ran() >= 300


def test_heuristic_extractor(request, count):
    extractor = HeuristicExtractor()

    @settings(settings.get_profile("strata-fuzz"), max_examples=examples(request, 300))
    @given(text=st.text(st.one_of(s.any_char, s.nasty_char, st.sampled_from(list("AZaz. "))), max_size=400))
    def run(text):
        count()
        found = extractor.extract(SourceDocument(1, 1, "T", text, {}, "h"))
        names = {e.name for e in found.entities}
        for relation in found.relations:
            assert relation.target in names

    run()
    assert count.ran() >= 200


def test_explorer_json(request, client, user, workspace, count):
    client.force_login(user)

    @settings(settings.get_profile("strata-fuzz"), max_examples=examples(request, 200))
    @given(key=s.text, depth=s.short_text, labels=s.short_text)
    def run(key, depth, labels):
        count()
        answer = client.get(reverse("knowledge:graph-json"), {"key": key, "depth": depth, "labels": labels})
        assert answer.status_code in (200, 400, 404), answer.status_code

    run()
    assert count.ran() >= 150
