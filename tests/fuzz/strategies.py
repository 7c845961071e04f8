"""Hypothesis strategies for bad input: text with control characters, NUL, escapes, huge and
deeply nested JSON, NaN, lone-surrogate escapes, and markup that stresses parsers."""

from __future__ import annotations

import json

from hypothesis import strategies as st

# Characters a browser can send (no lone surrogates: they cannot be encoded as UTF-8).
any_char = st.characters(exclude_categories=["Cs"])
nasty_char = st.sampled_from(list("\x00\x01\x08\x0b\x0c\x1b\x7f\u2028\u2029\ufeff\ufffd\"'\\<>&{}[]=,:;#*.!?\n\r\t "))
text = st.text(st.one_of(any_char, nasty_char), max_size=80)
short_text = st.text(st.one_of(any_char, nasty_char), max_size=12)

json_escapes = st.sampled_from(["\\u0000", "\\ud800", "\\udfff", "\\ud83d", "\\u001f", "\\\\", '\\"', "\\uZZZZ", "\\"])
json_atoms = st.one_of(
    st.sampled_from(["NaN", "Infinity", "-Infinity", "true", "false", "null", "1e999", "-0", "01", "1" * 5000]),
    st.integers().map(str),
    st.floats(allow_nan=False, allow_infinity=False).map(repr),
    st.builds(lambda s, e: json.dumps(s)[:-1] + e + '"', short_text, json_escapes),
    short_text.map(json.dumps),
)


def _nested(depth_and_atom: tuple[int, str]) -> str:
    depth, atom = depth_and_atom
    return '{"a":' * depth + atom + "}" * depth


json_texts = st.one_of(
    json_atoms,
    st.recursive(
        json_atoms,
        lambda children: st.one_of(
            st.lists(children, max_size=4).map(lambda items: "[" + ",".join(items) + "]"),
            st.dictionaries(short_text.map(json.dumps), children, max_size=4).map(
                lambda d: "{" + ",".join(f"{k}:{v}" for k, v in d.items()) + "}"
            ),
        ),
        max_leaves=12,
    ),
    st.tuples(st.integers(1, 3000), json_atoms).map(_nested),
    st.integers(1, 3000).map(lambda n: "[" * n + "]" * n),
    st.builds(lambda t, cut: t[:cut], json_atoms, st.integers(0, 20)),  # truncated
    text,
)

key_value_filters = st.lists(
    st.tuples(short_text, st.one_of(short_text, json_atoms)).map(lambda kv: f"{kv[0]}={kv[1]}"), max_size=4
).map("\n".join)

metadata_filters = st.one_of(json_texts, key_value_filters, text)

markup = st.lists(
    st.sampled_from(
        [
            "<",
            ">",
            "</",
            "<!--",
            "-->",
            "<![CDATA[",
            "]]>",
            "<!",
            "<?",
            "&",
            "&#",
            "&#x",
            ";",
            "<a ",
            'x="',
            "'",
            "<div>",
            "</div>",
            "<script>",
            "</script>",
            "<title>",
            "<h1>",
            "#",
            "# ",
            "=",
            "===",
            "---\n",
            "\n",
            " ",
            ".",
            "!",
            "?",
            "word",
            "é",
            "\u2028",
            "\x00",
            "\r\n",
            "-",
            "'s",
        ]
    ),  # fmt: skip
    max_size=60,
).map("".join)

file_bytes = st.one_of(
    st.binary(max_size=300),
    markup.map(lambda s: s.encode("utf-8", "surrogatepass")),
    json_texts.map(lambda s: s.encode("utf-8", "surrogatepass")),
    st.lists(json_texts, max_size=6).map(lambda lines: "\n".join(lines).encode("utf-8", "surrogatepass")),
    text.map(lambda s: s.encode("utf-8")),
)

file_names = st.tuples(
    st.one_of(short_text.filter(lambda s: "/" not in s and "\\" not in s), st.just("doc")),
    st.sampled_from([".txt", ".md", ".markdown", ".html", ".htm", ".json", ".jsonl", ".JSON", ".bin", "", ".txt.exe"]),
).map(lambda parts: (parts[0] or "f") + parts[1])
