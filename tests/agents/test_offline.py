"""The offline extractive responder without a database: which sentence it quotes (source rank
against word overlap) and where its sentences end (never inside versions, abbreviations, URLs
or file names)."""

from __future__ import annotations

import pytest

from agents.llm import Prompt, Source
from agents.llm.offline import ExtractiveResponder, best_quote, words
from agents.llm.sentences import sentences

README = (
    "APT\n===\n\napt is the main command-line package manager for Debian and its derivatives.\n"
    "It provides command-line tools for searching and managing packages."
)
NEWS = "apt (2.1.10) unstable; urgency=medium\n\n  [ Automatic removal of debs after install ]\n  Old debs go."
CHANGELOG = "apt (2.7.1) unstable; urgency=medium\n\n  * Make apt depend on the new gpgv for signed downloads."


def passage(n: int, text: str, title: str = "") -> Source:
    return Source(n=n, ref=f"chunk:{n}", kind="passage", text=text, title=title)


def answer(question: str, sources: list[Source], quotes: int = 3) -> list[tuple[int, str]]:
    chosen = ExtractiveResponder(quotes=quotes).choose(Prompt(instructions="", question=question, sources=sources))
    return [(source.n, quote) for source, quote in chosen]


def test_a_higher_ranked_source_wins_unless_a_lower_one_is_clearly_better():
    # "What does apt depend on?": the README is source [1] and holds "apt"; the changelog, lower
    # down, holds "apt" and "depend": not clearly better (both words against one), so [1] first
    for order in ([README, NEWS, CHANGELOG], [README, CHANGELOG, NEWS]):
        sources = [passage(n, text) for n, text in enumerate(order, 1)]
        chosen = answer("What does apt depend on?", sources)
        assert chosen[0] == (1, "apt is the main command-line package manager for Debian and its derivatives.")
        assert {n for n, _ in chosen} == {1, 2, 3}
    # clearly better one place down: all three question words against one of them
    sources = [passage(1, README), passage(2, CHANGELOG)]
    assert [n for n, _ in answer("Does apt depend on gpgv?", sources)] == [2, 1]
    # two places down it needs more than four times the coverage: 3 of 3 against 1 of 3 is not
    sources = [passage(1, README), passage(2, NEWS), passage(3, CHANGELOG)]
    assert [n for n, _ in answer("Does apt depend on gpgv?", sources)][0] == 1


def test_each_kind_of_source_is_ranked_on_its_own():
    fact = Source(n=3, ref="fact:1", kind="fact", text="apt depends on gpgv.")
    sources = [passage(1, README), passage(2, NEWS), fact]
    # the first fact is the best of its list: its coverage against the first passage's
    assert answer("What does apt depend on?", sources, quotes=1) == [(3, "apt depends on gpgv.")]


def test_a_quote_is_a_verbatim_whole_sentence_of_the_source():
    text = (
        "Install it with pip. The apt package depends on libc6 (>= 2.36-9) and on version 2.7.1 of libapt-pkg, "
        "e.g. through setup.py or https://deb.debian.org/debian/pool/main/a/apt/apt_2.7.1.dsc. "
        "Dr. Smith maintains it. Unrelated words follow here."
    )
    matched, quote = best_quote(text, words("What does apt depend on?"))
    assert matched == 2
    assert quote == text[len("Install it with pip. ") : text.index(" Dr. Smith")]
    assert quote in text


def test_stemmed_and_dotted_words():
    assert words("What does apt depend on?") == words("apt depends") == {"apt", "depend"}
    assert words("coreutils 9.1 has setup.py and libc6.") == {"coreutil", "9.1", "setup.py", "libc6"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Needs libc6 (>= 2.36-9). Then zlib.", ["Needs libc6 (>= 2.36-9).", "Then zlib."]),
        ("Use version 2.7.1 of the tool. Then stop.", ["Use version 2.7.1 of the tool.", "Then stop."]),
        ("Use e.g. foo or i.e. Bar. Next one.", ["Use e.g. foo or i.e. Bar.", "Next one."]),
        (
            "Dr. Smith said hi. Mr. Jones agreed! Really? Yes.",
            ["Dr. Smith said hi.", "Mr. Jones agreed!", "Really?", "Yes."],
        ),
        ("See https://example.org/a.b. Then go.", ["See https://example.org/a.b.", "Then go."]),
        ("Run setup.py install. 2 more.", ["Run setup.py install.", "2 more."]),
        ('He said "stop." Then left.', ['He said "stop."', "Then left."]),
        ("U.S. Army and J. R. R. Tolkien. End", ["U.S. Army and J. R. R. Tolkien.", "End"]),
        ("in 2024. The end...", ["in 2024.", "The end..."]),
        (
            "wrapped\nline. new para\n\nPara two\n- item one\n* item two",
            ["wrapped\nline. new para", "Para two", "- item one", "* item two"],
        ),
        ("APT\n===\n\nText.\n## Heading\nmore", ["APT", "Text.", "## Heading\nmore"]),
        ("...\n\n---\n", []),
        (
            "License: GPL\n Free software.\n .\n On Debian systems, see it.",
            ["License: GPL\n Free software.", "On Debian systems, see it."],
        ),
        (
            "Files: *\nCopyright: 1990 FSF\nLicense: GPL-3+\n It is free: see\n GPL-3. note: not a field",
            [
                "Files: *",
                "Copyright: 1990 FSF",
                "License: GPL-3+\n It is free: see\n GPL-3. note: not a field",
            ],
        ),
    ],
)
def test_sentences_end_only_at_sentence_punctuation(text, expected):
    assert sentences(text) == expected
