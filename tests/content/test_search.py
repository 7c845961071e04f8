"""content.selectors.search: semantic, full-text and hybrid search over the real Postgres."""

from __future__ import annotations

import html
import re

import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from hypothesis import given
from hypothesis import strategies as st

from content import fulltext, fusion, selectors, semantic, stores
from content.embeddings import get_embedder
from content.models import WorkspaceEmbedding
from content.services import IngestItem
from core.storage.ports import InvalidInput
from tests.content.helpers import ingest

pytestmark = pytest.mark.django_db

MODES = ["semantic", "fulltext", "hybrid"]


@pytest.fixture
def corpus(workspace, other_workspace) -> dict[str, int]:
    ids = ingest(
        workspace.pk,
        IngestItem(
            "qc-en",
            "Quantum computing basics",
            "Qubits use superposition and entanglement to compute. Quantum entanglement links qubits.",
            metadata={"lang": "en", "topic": "physics"},
        ),
        IngestItem(
            "bread",
            "Sourdough bread",
            "Flour, water, salt and a starter make a naturally leavened sourdough bread.",
            metadata={"lang": "en", "topic": "food"},
        ),
        IngestItem(
            "qc-de",
            "Quantenrechner",
            "Qubits nutzen Superposition. Quantum entanglement explained for German readers.",
            metadata={"lang": "de", "topic": "physics"},
        ),
    )
    ids |= {
        f"other:{k}": v
        for k, v in ingest(
            other_workspace.pk,
            IngestItem(
                "bob-qc",
                "Bob's quantum entanglement secrets",
                "Quantum entanglement of qubits: Bob's private notes on entanglement.",
                metadata={"lang": "en", "topic": "physics"},
            ),
        ).items()
    }
    return ids


def doc_ids(hits: list[selectors.SearchHit]) -> set[int]:
    return {hit.document_id for hit in hits}


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_finds_the_matching_document_first(workspace, corpus, mode):
    hits = selectors.search(workspace_id=workspace.pk, query="quantum entanglement qubits", mode=mode)

    assert hits, mode
    assert hits[0].document_id in {corpus["qc-en"], corpus["qc-de"]}
    assert all(isinstance(hit.score, float) for hit in hits)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    first = hits[0]
    assert first.title in {"Quantum computing basics", "Quantenrechner"}
    assert first.passage and first.end_offset > first.start_offset


def test_fulltext_matches_only_documents_with_the_words(workspace, corpus):
    hits = selectors.search(workspace_id=workspace.pk, query="sourdough", mode="fulltext")
    assert doc_ids(hits) == {corpus["bread"]}
    # English stemming: "computes" finds "compute"
    hits = selectors.search(workspace_id=workspace.pk, query="computes", mode="fulltext")
    assert doc_ids(hits) == {corpus["qc-en"]}
    assert selectors.search(workspace_id=workspace.pk, query="zeppelin", mode="fulltext") == []


def test_fulltext_uses_websearch_syntax(workspace, corpus):
    hits = selectors.search(workspace_id=workspace.pk, query='"quantum entanglement" -german', mode="fulltext")
    assert doc_ids(hits) == {corpus["qc-en"]}
    hits = selectors.search(workspace_id=workspace.pk, query="sourdough or quantenrechner", mode="fulltext")
    assert doc_ids(hits) == {corpus["bread"], corpus["qc-de"]}


def test_semantic_ranks_the_closest_text_first(workspace, corpus):
    hits = selectors.search(
        workspace_id=workspace.pk, query="a naturally leavened sourdough bread with flour", mode="semantic"
    )
    assert hits[0].document_id == corpus["bread"]
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)


def test_hybrid_fuses_both_rankings(workspace, corpus):
    hits = selectors.search(workspace_id=workspace.pk, query="quantum entanglement", mode="hybrid", limit=10)
    # full-text finds only the two physics documents; semantic ranks them above the bread too
    assert {hits[0].document_id, hits[1].document_id} == {corpus["qc-en"], corpus["qc-de"]}
    # relative score fusion: each list min-max normalised to [0, 1]; full-text weighs 1, semantic the
    # model's measured weight
    weight = get_embedder("hashing").fusion_weights["relative_score"]
    assert hits[0].score == pytest.approx(1.0 + weight)  # the best of both lists
    assert all(0 <= hit.score <= 1.0 + weight + 1e-9 for hit in hits)
    assert len({hit.chunk_id for hit in hits}) == len(hits)
    with override_settings(STRATA_SEARCH_FUSION="rrf", STRATA_SEARCH_RRF_K=3):
        rrf = selectors.search(workspace_id=workspace.pk, query="quantum entanglement", mode="hybrid", limit=10)
    assert {rrf[0].document_id, rrf[1].document_id} == {corpus["qc-en"], corpus["qc-de"]}
    assert all(0 < hit.score <= (1.0 + get_embedder("hashing").fusion_weights["rrf"]) / 4 + 1e-9 for hit in rrf)


def test_fusion_methods_score_as_documented():
    full_text = [(1, 10.0), (2, 1.0), (3, 0.5)]
    meaning = [(2, 0.60), (3, 0.59), (1, 0.10)]
    with override_settings(STRATA_SEARCH_FUSION="relative_score"):
        fused = dict(fusion.fuse([(1.0, full_text), (2.0, meaning)]))
    assert fused[1] == pytest.approx(1.0 + 0.0)
    assert fused[2] == pytest.approx(0.5 / 9.5 + 2.0 * 1.0)
    assert fused[3] == pytest.approx(0.0 + 2.0 * 0.49 / 0.50)
    with override_settings(STRATA_SEARCH_FUSION="rrf", STRATA_SEARCH_RRF_K=3):
        ranked = fusion.fuse([(1.0, full_text), (2.0, meaning)])
    assert [chunk_id for chunk_id, _ in ranked] == [2, 1, 3]
    assert [score for _, score in ranked] == pytest.approx([1 / 5 + 2 / 4, 1 / 4 + 2 / 6, 1 / 6 + 2 / 5])
    with override_settings(STRATA_SEARCH_FUSION="borda"), pytest.raises(ImproperlyConfigured, match="relative_score"):
        fusion.fuse([(1.0, full_text)])


@pytest.mark.parametrize("mode", MODES)
def test_every_mode_applies_metadata_filters(workspace, corpus, mode):
    query = "quantum entanglement qubits"
    german = selectors.search(workspace_id=workspace.pk, query=query, mode=mode, filters={"lang": "de"})
    assert doc_ids(german) == {corpus["qc-de"]}

    physics = selectors.search(workspace_id=workspace.pk, query=query, mode=mode, filters={"topic": "physics"})
    assert doc_ids(physics) == {corpus["qc-en"], corpus["qc-de"]}

    both = selectors.search(
        workspace_id=workspace.pk, query=query, mode=mode, filters={"topic": "physics", "lang": "en"}
    )
    assert doc_ids(both) == {corpus["qc-en"]}

    assert selectors.search(workspace_id=workspace.pk, query=query, mode=mode, filters={"lang": "fr"}) == []


@pytest.mark.parametrize("mode", MODES)
def test_another_workspaces_documents_never_appear(workspace, other_workspace, corpus, mode):
    bob = corpus["other:bob-qc"]
    for query in ["Bob's quantum entanglement secrets", "bob private notes", "quantum"]:
        for filters in [None, {"lang": "en"}, {"topic": "physics"}]:
            hits = selectors.search(workspace_id=workspace.pk, query=query, mode=mode, filters=filters, limit=50)
            assert bob not in doc_ids(hits), (query, filters)
    # ... while Bob finds his own document, and nothing of Alice's
    hits = selectors.search(workspace_id=other_workspace.pk, query="quantum entanglement", mode=mode, limit=50)
    assert doc_ids(hits) == {bob}


def test_search_does_not_see_documents_without_vectors_semantically(workspace):
    ids = ingest(workspace.pk, IngestItem("pending", "Pending doc", "Walrus tusks are long teeth."), embed=False)
    assert selectors.search(workspace_id=workspace.pk, query="walrus", mode="semantic") == []
    hits = selectors.search(workspace_id=workspace.pk, query="walrus", mode="fulltext")
    assert doc_ids(hits) == {ids["pending"]}
    assert doc_ids(selectors.search(workspace_id=workspace.pk, query="walrus")) == {ids["pending"]}


@pytest.mark.parametrize("mode", ["semantic", "hybrid"])
def test_search_uses_the_workspaces_model_whatever_the_process_settings_say(workspace, corpus, mode):
    expected = selectors.search(workspace_id=workspace.pk, query="quantum entanglement", mode=mode)
    # This process is configured for another provider (whose server does not even exist): the
    # workspace's vectors are hashing vectors, so its queries are still embedded with hashing.
    with override_settings(
        STRATA_EMBEDDING_PROVIDER="openai",
        STRATA_OPENAI_BASE_URL="http://127.0.0.1:9/v1",
        STRATA_OPENAI_EMBEDDING_MODEL="other-model-1536",
    ):
        hits = selectors.search(workspace_id=workspace.pk, query="quantum entanglement", mode=mode, limit=5)
    assert [h.chunk_id for h in hits] == [h.chunk_id for h in expected][:5]


@pytest.mark.parametrize("mode", ["semantic", "hybrid"])
def test_a_provider_this_process_cannot_load_is_named_with_the_command_to_switch(workspace, corpus, mode):
    WorkspaceEmbedding.objects.filter(workspace_id=workspace.pk).update(provider="openai", model="their-model")
    with override_settings(STRATA_OPENAI_BASE_URL="not-a-url"):
        with pytest.raises(selectors.SearchModelMismatch) as excinfo:
            selectors.search(workspace_id=workspace.pk, query="quantum", mode=mode)
        message = str(excinfo.value)
        assert "'openai'" in message and "their-model" in message
        assert f"./strata manage reembed --workspace {workspace.slug} --provider hashing`" in message
        assert isinstance(excinfo.value, selectors.SearchError)
        # full-text search does not depend on the embedder
        hits = selectors.search(workspace_id=workspace.pk, query="quantum", mode="fulltext")
        assert doc_ids(hits) == {corpus["qc-en"], corpus["qc-de"]}


def test_an_unusable_provider_is_reported_even_when_the_results_are_cached(workspace, corpus):
    assert selectors.search(workspace_id=workspace.pk, query="quantum", mode="semantic")
    WorkspaceEmbedding.objects.filter(workspace_id=workspace.pk).update(provider="word2vec")
    with pytest.raises(selectors.SearchModelMismatch, match="word2vec"):
        selectors.search(workspace_id=workspace.pk, query="quantum", mode="semantic")


def test_highlight_escapes_html_in_the_document_text(workspace):
    ingest(
        workspace.pk,
        IngestItem(
            "xss",
            "<img src=x onerror=alert(1)>",
            'When x < 3 > y, beware <script>alert("pwned")</script> the basilisk & its <b>gaze</b>.',
        ),
    )
    for mode in MODES:
        hits = selectors.search(workspace_id=workspace.pk, query="basilisk", mode=mode)
        assert hits, mode
        html = hits[0].highlighted_html
        assert "<mark>basilisk</mark>" in html, mode
        assert "<script" not in html and "<b>" not in html
        # Postgres' parser drops tag-like tokens from headlines; what is left is escaped
        assert "&quot;pwned&quot;" in html and "&amp;" in html and "x &lt; 3 &gt; y" in html
        # the plain passage stays plain text (templates escape it)
        assert "<script>" in hits[0].passage


def test_highlight_markup_is_balanced_even_with_marker_characters_in_the_text():
    start, stop = "\ue000", "\ue001"
    assert selectors.highlight_html(f"a {start}b{stop} <c>") == "a <mark>b</mark> &lt;c&gt;"
    assert selectors.highlight_html(f"{stop}x{start}{start}y") == "x<mark>y</mark>"
    assert selectors.highlight_html("plain & simple") == "plain &amp; simple"


@given(st.text(alphabet=st.sampled_from(["a", " ", "<", "&", '"', "\ue000", "\ue001", "é"]), max_size=40))
def test_highlight_keeps_the_text_and_opens_and_closes_marks_in_turn(headline):
    out = selectors.highlight_html(headline)
    tags = re.findall(r"</?mark>", out)
    assert tags == ["<mark>", "</mark>"] * (len(tags) // 2)  # balanced, never nested
    plain = html.unescape(re.sub(r"</?mark>", "", out))
    assert plain == headline.replace("\ue000", "").replace("\ue001", "")
    # a mark opens at the first start marker outside one and closes at the next stop marker
    expected, is_open = [], False
    for ch in headline:
        if ch == "\ue000" and not is_open:
            expected.append("<mark>")
            is_open = True
        elif ch == "\ue001" and is_open:
            expected.append("</mark>")
            is_open = False
    assert tags == expected + (["</mark>"] if is_open else [])


@pytest.mark.parametrize("query", ["", "   ", "\n\t"])
def test_blank_query_gives_no_results(workspace, corpus, query):
    for mode in MODES:
        assert selectors.search(workspace_id=workspace.pk, query=query, mode=mode) == []


def test_bad_requests_are_refused(workspace, corpus):
    with pytest.raises(selectors.SearchError, match="too long"):
        selectors.search(workspace_id=workspace.pk, query="x" * (selectors.MAX_QUERY_CHARS + 1))
    with pytest.raises(selectors.SearchError, match="unknown search mode"):
        selectors.search(workspace_id=workspace.pk, query="quantum", mode="magic")
    with pytest.raises(selectors.SearchError, match="JSON object"):
        selectors.search(workspace_id=workspace.pk, query="quantum", filters=["lang", "en"])
    with pytest.raises(selectors.SearchError, match="plain JSON"):
        selectors.search(workspace_id=workspace.pk, query="quantum", filters={"lang": float("nan")})
    # filters every store can run (core.storage.filters): no nulls, no arrays of objects, plain names
    for unfilterable in ({"lang": None}, {"tags": [{"a": 1}]}, {"source url": "x"}):
        for mode in MODES:
            with pytest.raises(selectors.SearchError, match="metadata filter"):
                selectors.search(workspace_id=workspace.pk, query="quantum", mode=mode, filters=unfilterable)
    with pytest.raises(selectors.SearchError, match="limit"):
        selectors.search(workspace_id=workspace.pk, query="quantum", limit=0)
    with pytest.raises(selectors.SearchError, match="NUL"):
        selectors.search(workspace_id=workspace.pk, query="quan\x00tum")
    assert issubclass(selectors.SearchError, InvalidInput)


def test_limit_caps_the_number_of_hits(workspace, corpus):
    for mode in MODES:
        assert len(selectors.search(workspace_id=workspace.pk, query="quantum or bread", mode=mode, limit=1)) == 1


@pytest.mark.parametrize("mode", MODES)
def test_a_workspace_with_nothing_ingested_yet_finds_nothing(workspace, mode):
    # no document collection, no vector collection, no embedding model yet
    assert selectors.search(workspace_id=workspace.pk, query="anything", mode=mode) == []
    assert selectors.search(workspace_id=workspace.pk, query="anything", mode=mode, filters={"lang": "en"}) == []


# ---------------------------------------------------------------- query language, BM25, the floor

RANKINGS = ["bm25", "ts_rank"]


@pytest.fixture
def mail(workspace) -> dict[str, int]:
    return ingest(
        workspace.pk,
        IngestItem("smtp", "Mail transfer", "An SMTP mail server relays messages between hosts."),
        IngestItem("pop3", "POP3", "A POP3 server lets a client download its mail."),
        IngestItem("imap", "IMAP", "IMAP keeps messages on the server, in folders."),
        IngestItem("bread", "Sourdough bread", "Flour, water and a starter make sourdough bread."),
    )


@pytest.fixture(params=RANKINGS)
def ranking(request):
    if request.param == "bm25":
        assert fulltext.bm25_status()["ready"], "the test server must preload pg_textsearch"
    with override_settings(STRATA_FULLTEXT_RANKING=request.param):
        yield request.param


def test_fulltext_matches_any_word_not_all(workspace, mail, ranking):
    # no document has all three words; each has one of them
    hits = selectors.search(workspace_id=workspace.pk, query="smtp pop3 folders", mode="fulltext")
    assert doc_ids(hits) == {mail["smtp"], mail["pop3"], mail["imap"]}


def test_a_free_standing_dash_does_not_exclude_the_next_word(workspace, mail, ranking):
    hits = selectors.search(workspace_id=workspace.pk, query="mail server - POP3 server", mode="fulltext")
    assert mail["pop3"] in doc_ids(hits)
    assert hits[0].document_id == mail["pop3"]  # it has "mail", "server" and "POP3"
    for mode in MODES:
        assert mail["pop3"] in doc_ids(selectors.search(workspace_id=workspace.pk, query="mail -- POP3", mode=mode))


@pytest.mark.parametrize("mode", MODES)
def test_phrases_are_required_and_exclusions_honoured(workspace, mail, ranking, mode):
    hits = selectors.search(workspace_id=workspace.pk, query='"mail server" messages', mode=mode)
    assert doc_ids(hits) == {mail["smtp"]}  # only it has the words next to each other
    hits = selectors.search(workspace_id=workspace.pk, query="server messages -imap", mode=mode)
    assert mail["imap"] not in doc_ids(hits) and mail["smtp"] in doc_ids(hits)
    hits = selectors.search(workspace_id=workspace.pk, query='server -"mail server"', mode=mode)
    assert mail["smtp"] not in doc_ids(hits)
    assert selectors.search(workspace_id=workspace.pk, query="-server", mode=mode) == []


def test_titles_count_with_their_weight(workspace, ranking):
    ids = ingest(
        workspace.pk,
        IngestItem("in-title", "Walrus", "A large marine mammal with long tusks."),
        IngestItem("in-text", "Marine mammals", "A walrus is a large marine mammal with long tusks."),
    )
    with override_settings(STRATA_SEARCH_TITLE_WEIGHT=3.0):
        hits = selectors.search(workspace_id=workspace.pk, query="walrus", mode="fulltext")
        assert [h.document_id for h in hits] == [ids["in-title"], ids["in-text"]]
    with override_settings(STRATA_SEARCH_TITLE_WEIGHT=0.0):
        hits = selectors.search(workspace_id=workspace.pk, query="walrus", mode="fulltext")
        assert [h.document_id for h in hits] == [ids["in-text"]]


def test_bm25_weighs_rare_words_where_ts_rank_cd_counts_occurrences(workspace):
    common = " ".join(["The system stores data."] * 3)
    filler = [IngestItem(f"filler-{i}", f"Note {i}", f"The system stores data in table {i}.") for i in range(30)]
    ids = ingest(
        workspace.pk,
        IngestItem("common", "Storage", f"{common} The system stores data again and again."),
        IngestItem("rare", "Rare", "A zeppelin crossed the sky over the system."),
        *filler,
    )
    query = "system zeppelin"
    with override_settings(STRATA_FULLTEXT_RANKING="bm25"):
        bm25 = selectors.search(workspace_id=workspace.pk, query=query, mode="fulltext", limit=50)
    with override_settings(STRATA_FULLTEXT_RANKING="ts_rank"):
        ts_rank = selectors.search(workspace_id=workspace.pk, query=query, mode="fulltext", limit=50)
    # BM25's IDF: "zeppelin" is in one document, "system" in 32, so the rare word decides
    assert bm25[0].document_id == ids["rare"]
    # ts_rank_cd has no corpus statistics: the document that repeats "system" most wins
    assert ts_rank[0].document_id == ids["common"]
    assert len(bm25) == len(ts_rank) == 32  # both match any word


@pytest.mark.parametrize("mode", MODES)
def test_nonsense_finds_nothing_but_known_items_are_still_found(workspace, mail, mode):
    for nonsense in ["xqzvw blorptang", "qqqq", "zzkx vvbnrt plokij"]:
        assert selectors.search(workspace_id=workspace.pk, query=nonsense, mode=mode) == [], nonsense
    hits = selectors.search(workspace_id=workspace.pk, query="A POP3 server lets a client download its mail", mode=mode)
    assert hits[0].document_id == mail["pop3"]


def test_the_relevance_floor_can_be_overridden_per_model(workspace, mail):
    assert selectors.search(workspace_id=workspace.pk, query="xqzvw blorptang", mode="semantic") == []
    with override_settings(STRATA_RELEVANCE_FLOORS={"hashing-1536-v2": -1.0}):  # no floor: every vector is a hit
        assert len(selectors.search(workspace_id=workspace.pk, query="xqzvw blorptang", mode="semantic")) == 4


def test_hits_say_which_words_matched_and_how_similar(workspace, mail):
    hits = selectors.search(workspace_id=workspace.pk, query="pop3 server zebra", mode="hybrid")
    top = hits[0]
    assert top.document_id == mail["pop3"]
    assert set(top.matched_words) == {"pop3", "server"} and top.query_words == 3
    assert top.similarity is not None and 0 < top.similarity <= 1
    assert top.match_summary.startswith("2 of 3 words · ") and top.match_summary.endswith("% similar in meaning")


def test_query_embeddings_are_cached_per_workspace_by_model_and_text(workspace, mail):
    from content.embeddings import get_embedder

    embedder = get_embedder("hashing")
    first = semantic.query_vector(embedder, embedder.model, "a cached query", workspace_id=workspace.pk)
    key = stores.cache_key("query-embedding", workspace.pk, embedder.model, "a cached query")
    assert stores.cache().get(key) == first.tobytes()
    stores.cache().set(key, np.ones(embedder.dimension, dtype=np.float32).tobytes())
    again = semantic.query_vector(embedder, embedder.model, "a cached query", workspace_id=workspace.pk)
    assert again.tolist() == [1.0] * embedder.dimension


@pytest.mark.parametrize("mode", ["semantic", "hybrid"])
def test_one_workspace_cannot_tell_by_timing_what_another_searched(workspace, other_workspace, openai_settings, mode):
    """The query-embedding cache is per workspace: B's first search of A's query text runs the
    model (a miss, as slow as any new query), while A's repeat is served from Redis."""
    import uuid

    api = openai_settings
    for ws in (workspace, other_workspace):
        ingest(ws.pk, IngestItem("heron", "Herons", "Grey herons stalk fish in the pond."))
    query = f"grey herons {uuid.uuid4().hex}"  # never searched before, whatever Redis still holds

    def model_calls() -> int:
        return sum(1 for r in api.requests if r["json"]["input"] == [query])

    def search(ws) -> None:
        selectors.search(workspace_id=ws.pk, query=query, mode=mode, use_cache=False)

    search(workspace)
    assert model_calls() == 1
    search(workspace)
    assert model_calls() == 1  # A's repeat: a hit
    search(other_workspace)
    assert model_calls() == 2  # B's first search of A's text: a miss, the model runs
    search(other_workspace)
    selectors.embed_question(workspace_id=other_workspace.pk, text=query)  # questions share the cache
    assert model_calls() == 2
    key_a, key_b = (
        semantic.query_cache_key(*semantic.query_embedder(workspace_id=ws.pk), query, workspace_id=ws.pk)
        for ws in (workspace, other_workspace)
    )
    assert key_a != key_b and stores.cache().get(key_a) and stores.cache().get(key_b)


def test_hybrid_gives_the_same_hits_whether_the_query_is_embedded_alongside_full_text_or_before(
    workspace, corpus, monkeypatch
):
    from content import search as search_module

    query = "quantum entanglement"
    overlapped = selectors.search(workspace_id=workspace.pk, query=query, mode="hybrid", limit=10, use_cache=False)
    monkeypatch.setattr(search_module, "OVERLAP_ENCODING", False)
    sequential = selectors.search(workspace_id=workspace.pk, query=query, mode="hybrid", limit=10, use_cache=False)
    assert [(h.chunk_id, h.score) for h in overlapped] == [(h.chunk_id, h.score) for h in sequential]
    assert overlapped


def test_an_embedding_failure_in_the_background_encoder_is_reported_like_any_other(workspace, corpus):
    WorkspaceEmbedding.objects.filter(workspace_id=workspace.pk).update(provider="openai", model="their-model")
    with override_settings(STRATA_OPENAI_BASE_URL="http://127.0.0.1:9/v1", STRATA_OPENAI_MAX_RETRIES=0):
        with pytest.raises(selectors.SearchModelMismatch):
            selectors.search(workspace_id=workspace.pk, query="quantum", mode="hybrid")


@pytest.mark.parametrize("mode", MODES)
def test_search_results_highlight_only_the_slice_read_and_slices_agree_with_search(workspace, mode):
    """The search page's sequence: the ranking at once, passages and headlines per slice (20 of up
    to 100 ranked hits), every slice from the one cached ranking, the same hits as ``search``."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    notes = [f"Grey herons stalk fish in pond {n}. " * (1 + n % 3) for n in range(30)]
    ingest(workspace.pk, *[IngestItem(f"heron-{n}", f"Heron note {n}", text) for n, text in enumerate(notes)])
    everything = selectors.search(workspace_id=workspace.pk, query="grey herons fish", mode=mode, limit=100)
    results = selectors.search_results(workspace_id=workspace.pk, query="grey herons fish", mode=mode, limit=100)
    assert len(results) == len(everything) >= 25
    assert results.best_score == everything[0].score
    with CaptureQueriesContext(connection) as queries:
        first = results[0:20]
    headlines = [q["sql"] for q in queries.captured_queries if "ts_headline" in q["sql"]]
    assert len(headlines) == 1  # one statement, for the 20 chunks of the slice only
    assert len(re.search(r"ANY\('\{([\d,]+)\}'", headlines[0]).group(1).split(",")) == 20
    assert [h.chunk_id for h in first] == [h.chunk_id for h in everything[:20]]
    assert [h.chunk_id for h in results[20:40]] == [h.chunk_id for h in everything[20:40]]
    assert results[3] == everything[3] and results[-1] == everything[-1]
    with CaptureQueriesContext(connection) as queries:
        assert [h.chunk_id for h in results[0:20]] == [h.chunk_id for h in first]  # cached
    assert not [q for q in queries.captured_queries if "ts_headline" in q["sql"]]
    with pytest.raises(IndexError):
        results[len(results)]


def test_search_results_after_a_write_show_the_new_text_never_a_cached_slice(workspace):
    ids = ingest(workspace.pk, *[IngestItem(f"e-{n}", f"Egret {n}", f"Little egrets wade {n}.") for n in range(5)])
    before = selectors.search_results(workspace_id=workspace.pk, query="egrets", mode="fulltext", limit=100)[0:5]
    assert before and all("wade" in hit.passage for hit in before)
    ingest(workspace.pk, IngestItem("e-0", "Egret 0", "Little egrets now fly over the marsh."))
    after = selectors.search_results(workspace_id=workspace.pk, query="egrets", mode="fulltext", limit=100)[0:5]
    changed = [hit for hit in after if hit.document_id == ids["e-0"]]
    assert changed and "fly over the marsh" in changed[0].passage
