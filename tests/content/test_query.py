"""content.query.parse_query: the search box's query language, and a Hypothesis fuzz of it."""

from __future__ import annotations

import time

from hypothesis import given, settings
from hypothesis import strategies as st

from content.query import MAX_PARTS, ParsedQuery, parse_query


def test_plain_words_are_alternatives():
    assert parse_query("mail server pop3") == ParsedQuery(words=("mail", "server", "pop3"))


def test_a_free_standing_dash_is_not_an_operator():
    parsed = parse_query("mail server - POP3 server")
    assert parsed.words == ("mail", "server", "POP3", "server")
    assert parsed.excluded == ()
    assert parse_query("mail -- POP3").excluded == ()
    assert parse_query("mail --POP3").excluded == ()
    assert parse_query("e-mail x-ray").words == ("e-mail", "x-ray")
    assert parse_query("trailing -").words == ("trailing",)
    assert parse_query("en \u2013 dash").words == ("en", "dash")


def test_dash_before_a_word_or_phrase_excludes_it():
    parsed = parse_query('mail -pop3 -"post office" server')
    assert parsed.words == ("mail", "server")
    assert parsed.excluded == ("pop3", "post office")
    assert parsed.phrases == ()


def test_quoted_phrases_are_required_and_ranked():
    parsed = parse_query('"mail server" relay')
    assert parsed.phrases == ("mail server",)
    assert parsed.words == ("mail", "server", "relay")
    # a one-word "phrase" is just a word; typographic quotes work too
    assert parse_query('"mail"') == ParsedQuery(words=("mail",))
    assert parse_query("\u201cmail server\u201d").phrases == ("mail server",)


def test_an_unclosed_quote_is_ignored():
    parsed = parse_query('mail "server relay')
    assert parsed.words == ("mail", "server", "relay")
    assert parsed.phrases == ()
    assert parse_query('-"server').excluded == ()
    assert parse_query('-"').is_empty


def test_only_exclusions_or_punctuation_leave_no_words():
    assert parse_query("-spam").is_empty
    assert parse_query(' - -- "" ').is_empty
    assert parse_query("").is_empty


def test_parts_are_capped():
    parsed = parse_query(" ".join(f"w{i}" for i in range(1000)))
    assert len(parsed.words) == MAX_PARTS


_ALPHABET = st.sampled_from(list('ab -"\u201c\u201d\t\n--é\x00'))


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=_ALPHABET, max_size=200) | st.text(max_size=200))
def test_fuzz_never_raises_and_keeps_only_pieces_of_the_query(query):
    parsed = parse_query(query)
    for word in parsed.words:
        assert word and word in query
        assert not any(ch.isspace() for ch in word)
        assert word.strip("-\u2010\u2011\u2012\u2013\u2014\u2015")
    for phrase in parsed.phrases:
        assert len(phrase.split(" ")) >= 2
    for excluded in parsed.excluded:
        assert excluded.strip() and not excluded.startswith("-")
    assert len(parsed.words) + len(parsed.phrases) + len(parsed.excluded) <= 3 * MAX_PARTS
    assert parsed.text == " ".join(parsed.words)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(["mail", "server", "-", "--", "-x", '"', '"a b"', '-"c d"']), max_size=40))
def test_fuzz_a_dash_between_spaces_never_excludes(tokens):
    parsed = parse_query(" ".join(tokens))
    assert "mail" not in parsed.excluded and "server" not in parsed.excluded


def test_pathological_input_is_parsed_in_linear_time():
    # A backtracking pattern would take hours on these; the scanner is a single pass.
    for query in ('"' * 200_000, '-"' * 100_000, "- " * 100_000, "a" * 200_000 + '"', ' "x' * 60_000):
        started = time.process_time()
        parse_query(query)
        assert time.process_time() - started < 2.0, query[:10]
