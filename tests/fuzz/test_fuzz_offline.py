"""Fuzzing the offline responder's sentence split (agents.llm.sentences) for time: 1 MB inputs
made of one adversarial piece repeated (runs of dots, terminators, closers, blank lines, rules,
bullets, abbreviations, initials, URLs) split in linear time, and every split keeps its promises
(ordered, verbatim, stripped spans that leave out no letter or digit).

Each input runs in a forked child with a wall-clock deadline: a quadratic regression fails the
test instead of hanging it."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from agents.llm import Prompt, Source
from agents.llm.offline import ExtractiveResponder
from agents.llm.sentences import sentence_spans
from tests import forked_cpu
from tests.fuzz.conftest import examples

MB = 1_000_000
#: CPU seconds a 1 MB split may take (measured 0.05-0.6 s; a quadratic one takes hours)
CPU_LIMIT = 3.0
WALL_DEADLINE = 60.0

pieces = st.sampled_from(
    [
        ".",
        ". ",
        "!?",
        '."',
        ".)",
        " ",
        "\n",
        "\n\n",
        "\n \n",
        "-",
        "- ",
        "=",
        "#",
        "*",
        "e.g.",
        "i.e. ",
        "Dr. ",
        "J. ",
        "A",
        "a",
        "1",
        "2.36-9",
        "setup.py",
        "https://a.b/c.d",
        "(",
        '"',
        "\u201c",
        "\u2019",
        "\t",
        "...",
    ]
)
unit = st.lists(pieces, min_size=1, max_size=6).map("".join)


def _split(text: str) -> None:
    sentence_spans(text)
    prompt = Prompt(
        instructions="",
        question="Who depends on setup.py e.g. A?",
        sources=[Source(n=1, ref="chunk:1", kind="passage", text=text)],
    )
    ExtractiveResponder(quotes=3).choose(prompt)


def cpu_seconds(text: str) -> float:
    return forked_cpu.cpu_seconds(lambda: _split(text), deadline=WALL_DEADLINE, what="1 MB split")


def check_spans(text: str) -> None:
    spans = sentence_spans(text)
    end = 0
    for a, b in spans:
        assert end <= a < b <= len(text)
        assert not text[a].isspace() and not text[b - 1].isspace()
        assert any(ch.isalnum() for ch in text[a:b])
        assert all(not ch.isalnum() for ch in text[end:a])  # nothing left out between sentences
        end = b
    assert all(not ch.isalnum() for ch in text[end:])


def test_sentence_split_is_linear_on_1_mb_adversarial_inputs(request, count):
    @settings(settings.get_profile("strata-fuzz"), max_examples=examples(request, 12))
    @given(unit=unit, prefix=st.text(max_size=20), suffix=st.text(max_size=20))
    def run(unit, prefix, suffix):
        count()
        text = prefix + unit * (MB // len(unit)) + suffix
        seconds = cpu_seconds(text)
        assert seconds < CPU_LIMIT, f"{seconds:.2f} s CPU for 1 MB of {unit!r}"

    run()
    assert count.ran() >= 1


def test_sentence_spans_keep_their_promises(request, count):
    @settings(settings.get_profile("strata-fuzz"), max_examples=examples(request, 300))
    @given(text=st.lists(st.one_of(pieces, st.text(max_size=8)), max_size=60).map("".join))
    def run(text):
        count()
        check_spans(text)

    run()
    assert count.ran() >= 1
