"""graph_import of non-ASCII names (normalized by Python, looked up by SQL): several in one
batch, names padded with whitespace, and names and keys that differ only in their Unicode form
(composed "é" and "e" plus a combining accent): each is its own entity, in one batch or across
batches, and the normalized names agree with the Python path's normalize_name."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command

from knowledge.models import Entity
from knowledge.normalize import normalize_name
from tests.knowledge.helpers import graph_edges

pytestmark = pytest.mark.django_db

COMPOSED, DECOMPOSED = "N\u00e9", "Ne\u0301"


@pytest.mark.parametrize("batch_size", ["1000", "1"])
def test_names_that_differ_only_in_unicode_form_import_cleanly(workspace, tmp_path, capsys, batch_size):
    rows = [
        {"kind": "node", "key": "n1", "label": "Person", "properties": {"name": COMPOSED, "aliases": [DECOMPOSED]}},
        {"kind": "node", "key": "n2", "label": "Person", "properties": {"name": DECOMPOSED, "aliases": [COMPOSED]}},
        {"kind": "node", "key": COMPOSED, "label": "Concept"},
        {"kind": "node", "key": "z", "label": "Person", "properties": {"name": "  Zoë  Mária ", "aliases": [" Zoë "]}},
        {"kind": "node", "key": "m", "label": "Person", "properties": {"name": "Мария Кюри"}},
        {"kind": "edge", "source": "n1", "target": "n2", "label": "KNOWS"},
        {"kind": "edge", "source": DECOMPOSED, "target": COMPOSED, "label": "SAME_AS"},
    ]
    path = tmp_path / "g.jsonl"
    path.write_text("\n".join(json.dumps(row, ensure_ascii=False) for row in rows) + "\n", encoding="utf-8")
    call_command("graph_import", str(path), "--workspace", workspace.slug, "--batch-size", batch_size)
    assert "failed 0" in capsys.readouterr().out
    entities = {e.key: e for e in Entity.objects.filter(workspace=workspace)}
    assert set(entities) == {"n1", "n2", COMPOSED, DECOMPOSED, "z", "m"}
    for entity in entities.values():
        assert entity.normalized == normalize_name(entity.name)
        assert entity.normalized_aliases == [normalize_name(a) for a in entity.aliases]
    assert entities["n1"].name == COMPOSED and entities["n2"].name == DECOMPOSED
    assert (entities["z"].name, entities["z"].normalized) == ("Zoë  Mária", "zoë mária")
    assert graph_edges(workspace.id) == {("KNOWS", "n1", "n2"), ("SAME_AS", DECOMPOSED, COMPOSED)}
