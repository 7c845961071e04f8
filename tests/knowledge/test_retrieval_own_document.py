"""The new-user trial's question "What does apt depend on?" over a few Debian package docs and
the dpkg dependency graph: the package's own document ranked below changelogs reached through
its dependencies. A document linked to the question's entity itself (or titled with its name)
now ranks above the documents reached only through neighbours."""

from __future__ import annotations

import io
import json
import re

import pytest

from knowledge.retrieval import graph_retrieve
from knowledge.services import graph_import
from tests.knowledge.helpers import doc, drain, ingest

pytestmark = pytest.mark.django_db

# a fixed sample of /var/lib/dpkg/status (trimmed stanzas)
DPKG_STATUS = """\
Package: apt
Status: install ok installed
Depends: adduser, gpgv | gpgv2, libapt-pkg6.0 (>= 2.6.1), libc6 (>= 2.34), libgnutls30 (>= 3.7.5)

Package: libapt-pkg6.0
Status: install ok installed
Depends: libbz2-1.0, libc6 (>= 2.34), liblz4-1 (>= 0.0~r127), zlib1g (>= 1:1.2.2.3)

Package: libc6
Status: install ok installed
Depends: libgcc-s1

Package: dpkg
Status: install ok installed
Depends: tar (>= 1.28-1), libc6 (>= 2.34), zlib1g (>= 1:1.1.4)

Package: gpgv
Status: install ok installed
Depends: libc6 (>= 2.34), libgcrypt20 (>= 1.10.0)
"""


def dpkg_graph(status: str, documents: dict[str, str]) -> bytes:
    """The graph_import lines of a dpkg status file: a node per package, a DEPENDS_ON edge per
    dependency (the first of alternatives), and ``doc:<id> ABOUT <package>`` per document."""
    lines = []
    for stanza in status.strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in stanza.splitlines())
        package = fields["Package"]
        lines.append({"kind": "node", "key": package, "label": "package", "properties": {"name": package}})
        for dependency in filter(None, fields.get("Depends", "").split(", ")):
            target = re.split(r"[ |(]", dependency.strip(), maxsplit=1)[0]
            lines.append({"kind": "edge", "source": package, "target": target, "label": "DEPENDS_ON"})
    for external_id, package in documents.items():
        lines.append({"kind": "edge", "source": f"doc:{external_id}", "target": package, "label": "ABOUT"})
    return "".join(json.dumps(line) + "\n" for line in lines).encode()


CORPUS = [
    doc("apt/README", "APT is the Advanced Package Tool, Debian's command-line package manager. "
        "It downloads, installs, upgrades and removes packages.", title="README"),
    doc("libc6/changelog.Debian", "glibc (2.36-9): break apt versions that depend on the old libc6. "
        "apt depends on libc6 (>= 2.34) now; packages that depend on libc6 must be rebuilt.",
        title="changelog.Debian"),
    doc("libapt-pkg6.0/changelog.Debian", "apt (2.6.1): libapt-pkg depends on liblz4; apt depends on "
        "libapt-pkg6.0 of the same version. Fix: apt no longer depends on a removed library.",
        title="changelog.Debian"),
    doc("dpkg/changelog.Debian", "dpkg (1.21.22): apt depends on dpkg for installing packages; "
        "dpkg depends on tar and zlib.", title="changelog.Debian"),
    doc("gpgv/copyright", "GnuPG is free software; apt depends on gpgv to verify archives.", title="copyright"),
]  # fmt: skip
ABOUT = {
    "apt/README": "apt",
    "libc6/changelog.Debian": "libc6",
    "libapt-pkg6.0/changelog.Debian": "libapt-pkg6.0",
    "dpkg/changelog.Debian": "dpkg",
    "gpgv/copyright": "gpgv",
}


@pytest.fixture
def debian(workspace, settings):
    settings.STRATA_KNOWLEDGE_EXTRACTORS = []  # the graph is the imported dpkg graph only
    ids = ingest(workspace.id, *CORPUS)
    report = graph_import(
        stream=io.BytesIO(dpkg_graph(DPKG_STATUS, ABOUT)), name="dpkg.jsonl", workspace_id=workspace.id
    )
    assert not report.errors, report.errors
    drain()
    return ids


def test_the_package_s_own_document_ranks_above_its_neighbours_changelogs(workspace, debian):
    answer = graph_retrieve(workspace_id=workspace.id, question="What does apt depend on?", limit=5)
    assert [e.key for e in answer.entities] == ["apt"]
    ranked = [d.external_id for d in answer.documents]
    assert ranked[0] == "apt/README", [(d.external_id, d.text_score, d.graph_score) for d in answer.documents]
    # the neighbours' documents follow, still found through the graph
    assert set(ranked[1:]) >= {"libc6/changelog.Debian", "libapt-pkg6.0/changelog.Debian", "gpgv/copyright"}


def test_a_document_titled_with_the_entity_ranks_above_documents_reached_through_neighbours(workspace, debian):
    extra = doc("apt-manual", "The manual: sources.list, pinning and preferences.", title="apt user's guide")
    ingest(workspace.id, extra)
    drain()
    answer = graph_retrieve(workspace_id=workspace.id, question="What does apt depend on?", limit=6)
    ranked = [d.external_id for d in answer.documents]
    neighbours_only = [i for i, d in enumerate(answer.documents) if ABOUT.get(d.external_id, "apt") != "apt"]
    assert len(neighbours_only) == 4 and ranked.index("apt-manual") < min(neighbours_only), ranked
    manual = answer.documents[ranked.index("apt-manual")]
    assert manual.graph_score == 1.0 and manual.via == ()  # titled with its name: as good as linked
