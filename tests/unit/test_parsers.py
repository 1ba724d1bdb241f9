"""Each format's parser on small files made here; the real-material checks live in integration tests."""

import json

import pytest

from loaders.chunking import chunk_file
from loaders.parsers import ParseError, parse_file
from tests.conftest import COURSE


def test_markdown_keeps_heading_path_and_ignores_fenced_hashes(tmp_path):
    path = tmp_path / "notes.md"
    path.write_text("# Week 1\nintro\n## Loops\n```python\n# not a heading\nfor x in y: pass\n```\n### While\ntext\n")
    parsed = parse_file(path)
    assert parsed.title == "Week 1"
    assert [s.headings for s in parsed.sections] == [
        ["Week 1"],
        ["Week 1", "Loops"],
        ["Week 1", "Loops", "While"],
    ]
    assert "# not a heading" in parsed.sections[1].text


def test_html_anchor_is_the_nearest_id_above(tmp_path):
    path = tmp_path / "os.html"
    path.write_text(
        "<html><head><title>os</title></head><body><h1 id='top'>os module</h1><p>intro</p>"
        "<dl><dt id='os.getenv'>os.getenv(key)</dt><dd>Return the value of the environment variable.</dd></dl>"
        "<span id='index-3'></span><p>still getenv text</p><script>var x = 1;</script></body></html>"
    )
    parsed = parse_file(path)
    by_anchor = {s.anchor: s.text for s in parsed.sections}
    assert "Return the value of the environment variable." in by_anchor["os.getenv"]
    assert "still getenv text" in by_anchor["os.getenv"]  # index-N ids are not anchors
    assert "var x" not in " ".join(by_anchor.values())
    assert parsed.title == "os"


def test_notebook_cells_are_numbered_from_one(tmp_path):
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [
            {"cell_type": "markdown", "metadata": {}, "source": "# Generators"},
            {
                "cell_type": "code",
                "metadata": {},
                "source": "def g():\n    yield 1",
                "outputs": [],
                "execution_count": None,
            },
        ],
    }
    path = tmp_path / "g.ipynb"
    path.write_text(json.dumps(nb))
    parsed = parse_file(path)
    assert [(s.cell, s.headings) for s in parsed.sections] == [(1, ["Generators"]), (2, ["Generators"])]
    assert "yield 1" in parsed.sections[1].text


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("empty.md", b"", "empty file"),
        ("binary.md", b"\x89PNG\r\n\x1a\n\x00\x00\x00", "binary"),
        ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "PDF"),
        ("broken.docx", b"PK\x03\x04 not a zip", "DOCX"),
        ("broken.ipynb", b"{not json", "notebook"),
    ],
)
def test_bad_files_raise_a_reason(tmp_path, name, content, reason):
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(ParseError, match=reason):
        parse_file(path)


def test_non_utf8_text_is_decoded(tmp_path):
    path = tmp_path / "latin.txt"
    path.write_bytes("Café crème: naïve résumé of loops, déjà vu.\n".encode("latin-1") * 5)
    assert "Café" in parse_file(path).sections[0].text


def test_chunks_never_split_words_and_carry_citation_metadata():
    parsed = parse_file(COURSE / "week02" / "loops_handout.pdf")
    docs = chunk_file(
        parsed,
        source="week02/loops_handout.pdf",
        file_id="x",
        module="week02",
        chunk_size=200,
        chunk_overlap=20,
    )
    words = set(" ".join(s.text for s in parsed.sections).split())
    assert {d.metadata["page"] for d in docs} == {1, 2}
    for doc in docs:
        assert doc.metadata["module"] == "week02" and doc.metadata["content_hash"]
        first, last = doc.page_content.split()[0], doc.page_content.split()[-1]
        assert first in words and last in words, doc.page_content


def test_every_sample_course_file_parses():
    files = [p for p in COURSE.rglob("*") if p.is_file()]
    assert {p.suffix for p in files} >= {".md", ".py", ".pdf", ".ipynb", ".html", ".pptx", ".docx", ".txt"}
    for path in files:
        assert parse_file(path).sections, path
    slides = parse_file(COURSE / "week04" / "dicts_and_sets_slides.pptx")
    assert [s.slide for s in slides.sections] == list(range(1, len(slides.sections) + 1))


def test_confined_discovery_never_leaves_the_folder(tmp_path):
    from loaders.ingest import discover

    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.md").write_text("# secret\n")
    root = tmp_path / "course"
    root.mkdir()
    (root / "notes.md").write_text("# notes\n")
    (root / "linked_dir").symlink_to(outside, target_is_directory=True)
    (root / "linked.md").symlink_to(outside / "secret.md")
    found, problems = discover(root)  # the CLI's walk and the server's: one rule (tests/unit/test_confinement.py)
    assert [c.source for c in found] == ["notes.md"]
    assert {p.source: p.reason for p in problems} == {
        "linked_dir": "links outside the folder",
        "linked.md": "links outside the folder",
    }


def test_notebook_headings_nest_and_siblings_replace():
    """A `##` after `### List indexing` closes it and replaces `## Lists`; it never piles onto the path."""
    from tests.conftest import shared_fixtures

    parsed = parse_file(shared_fixtures() / "whirlwind" / "06-Built-in-Data-Structures.ipynb")
    paths = {s.cell: s.headings for s in parsed.sections}
    top = "Built-In Data Structures"
    assert paths[3] == [top]
    assert paths[16] == [top, "Lists", "List indexing and slicing"]  # a code cell under a deeper heading
    assert paths[39] == [top, "Lists", "List indexing and slicing"]  # Markdown without a heading keeps it
    assert paths[40] == paths[41] == [top, "Tuples"]
    assert paths[55] == paths[56] == [top, "Dictionaries"]
    assert paths[62] == paths[63] == [top, "Sets"]
    assert paths[70] == [top, "More Specialized Data Structures"]
    assert all(s.lines == [] for s in parsed.sections), "a notebook is located by cells, not lines"


def test_a_deeper_heading_in_a_later_cell_nests_and_a_shallower_one_closes_it(tmp_path):
    cells = ["# Course", "## Part A\nintro", "### Detail\ntext", "more detail", "# Next\nnew chapter"]
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [{"cell_type": "markdown", "metadata": {}, "source": c} for c in cells],
    }
    path = tmp_path / "n.ipynb"
    path.write_text(json.dumps(nb))
    assert [(s.cell, s.headings) for s in parse_file(path).sections] == [
        (1, ["Course"]),
        (2, ["Course", "Part A"]),
        (3, ["Course", "Part A", "Detail"]),
        (4, ["Course", "Part A", "Detail"]),
        (5, ["Next"]),
    ]


MYST = """---
title: "Storing Values"
teaching: 30
---

# Lists

Intro text.
:::{note}
A list is mutable.
:::

::::{admonition} Watch out
:class: warning
Aliasing shares one list.
::::

::: callout
## Tuples
Tuples are not.
:::

```text
::: kept inside code
```
"""


def test_front_matter_and_directive_fences_are_not_content(tmp_path):
    path = tmp_path / "lists.md"
    path.write_text(MYST)
    parsed = parse_file(path)
    text = "\n".join(s.text for s in parsed.sections)
    assert parsed.title == "Storing Values", "the front matter's title names the file"
    for markup in ("teaching: 30", ":::{note}", "::::{admonition}", ":class: warning", "::: callout", "\n:::\n"):
        assert markup not in text
    for content in ("A list is mutable.", "Watch out", "Aliasing shares one list.", "Tuples are not."):
        assert content in text, "the text between fences stays"
    assert "::: kept inside code" in text
    assert "Intro text.\n\nA list is mutable.\n\nWatch out" in text, "a dropped fence keeps paragraphs apart"
    # A heading inside a directive ends with it: the code after the callout is under "Lists" again.
    assert [s.headings for s in parsed.sections] == [["Lists"], ["Lists", "Tuples"], ["Lists"]]
    lines = MYST.split("\n")
    for section in parsed.sections:  # numbered as in the file, not as after stripping
        kept = section.text.split("\n")
        assert len(kept) == len(section.lines)
        assert all(lines[n - 1].endswith(line) for n, line in zip(section.lines, kept, strict=True))
    assert parsed.sections[0].lines[0] == 6  # `# Lists`, after five lines of front matter and a blank


CARPENTRIES = """# Reading files

Use glob to find files.

:::::::::::::::::::::::::::::::::::::::  challenge

## Composite statistics

Compute the mean of each file.

:::::::::::::::  solution

## Solution

Sum the files, then divide by their number.

:::::::::::::::::::::::::

::::::::::::::::::::::::::::::::::::::::::::::::::

After the challenge the lesson goes on.

:::::::::::::::::::::::::::::::::::::::: keypoints

- Use `glob.glob(pattern)` to list the files whose names match a pattern.

::::::::::::::::::::::::::::::::::::::::::::::::::
"""


def test_the_lesson_after_a_carpentries_solution_block_is_not_part_of_the_solution(tmp_path):
    """The solution's heading is scoped to its `::: solution` block: the key points after it were held back as the
    solution (HINTS_FIRST) when the fences were dropped and "## Solution" ran on to the end of the file."""
    path = tmp_path / "06-files.md"
    path.write_text(CARPENTRIES)
    sections = parse_file(path).sections
    marks = [(s.headings, s.exercise, s.solution, s.text.split("\n")[-1]) for s in sections]
    assert marks == [
        (["Reading files"], "", False, "Use glob to find files."),
        (["Reading files", "Composite statistics"], "Composite statistics", False, "Compute the mean of each file."),
        (["Reading files", "Solution"], "Composite statistics", True, "Sum the files, then divide by their number."),
        (["Reading files"], "", False, "- Use `glob.glob(pattern)` to list the files whose names match a pattern."),
    ]


SAME_LEVEL = """## Conditionals

Use `if` to choose.

::::::::::::::::::::::::::::::::::::::::: callout

## Comparing in Python

`==` tests for equality.

::::::::::::::::::::::::::::::::::::::::::::::::::

Combine tests with `and` and `or`.

:::::::::::::::::::::::::::::::::::::::  challenge

## Counting Vowels

Write a loop that counts the vowels in a string.

:::::::::::::::  solution

## Solution

Test each character with `in`.

:::::::::::::::::::::::::

::::::::::::::::::::::::::::::::::::::::::::::::::

:::::::::::::::::::::::::::::::::::::::: keypoints

- Use `if condition` to start a conditional statement.

::::::::::::::::::::::::::::::::::::::::::::::::::
"""


def test_the_text_after_a_directive_goes_on_with_the_section_open_before_it(tmp_path):
    """swc/07-cond.md: the challenge's and the solution's headings are at the lesson's level, so they replace its
    heading instead of nesting under it. The key points after the last solution were that solution's (held back by
    HINTS_FIRST: "Which values count as false…" got the "Counting Vowels" exercise), and the lesson's text after a
    callout was the callout's."""
    path = tmp_path / "07-cond.md"
    path.write_text(SAME_LEVEL)
    marks = [(s.headings, s.exercise, s.solution, s.text.split("\n")[-1]) for s in parse_file(path).sections]
    assert marks == [
        (["Conditionals"], "", False, "Use `if` to choose."),
        (["Comparing in Python"], "", False, "`==` tests for equality."),
        (["Conditionals"], "", False, "Combine tests with `and` and `or`."),
        (["Counting Vowels"], "Counting Vowels", False, "Write a loop that counts the vowels in a string."),
        (["Solution"], "Counting Vowels", True, "Test each character with `in`."),
        (["Conditionals"], "", False, "- Use `if condition` to start a conditional statement."),
    ]


def test_a_rule_pair_is_not_front_matter(tmp_path):
    path = tmp_path / "rules.md"
    path.write_text("---\n# Heading\n---\nbody\n")
    parsed = parse_file(path)
    assert parsed.title == "Heading" and [s.text for s in parsed.sections] == ["---", "# Heading\n---\nbody"]


def test_notebook_markdown_cells_lose_directive_fences(tmp_path):
    nb = {
        "nbformat": 4,
        "nbformat_minor": 5,
        "metadata": {},
        "cells": [{"cell_type": "markdown", "metadata": {}, "source": "# Sets\n:::{tip}\nSets drop duplicates.\n:::"}],
    }
    path = tmp_path / "s.ipynb"
    path.write_text(json.dumps(nb))
    assert [s.text for s in parse_file(path).sections] == ["# Sets\n\nSets drop duplicates."]


@pytest.mark.parametrize("name", ["week05/files_and_with.txt", "week01/hello.py", "week02/control_flow.md"])
def test_chunks_know_their_lines_in_the_file(name):
    path = COURSE / name
    lines = path.read_text(encoding="utf-8").split("\n")
    docs = chunk_file(parse_file(path), source=name, file_id=str(path), module="", chunk_size=300, chunk_overlap=50)
    assert len(docs) > 3
    for doc in docs:
        start, end = doc.metadata["line_start"], doc.metadata["line_end"]
        assert 1 <= start <= end <= len(lines)
        first, *_, last = doc.page_content.split("\n") if "\n" in doc.page_content else [doc.page_content] * 2
        assert first.strip() in lines[start - 1] and last.strip() in lines[end - 1], (name, start, end)
    assert docs[0].metadata["line_start"] == 1
    assert docs[-1].metadata["line_end"] == max(n for n, line in enumerate(lines, 1) if line.strip())


def test_crlf_and_cr_line_ends_count_like_an_editor(tmp_path):
    path = tmp_path / "notes.txt"
    path.write_bytes(b"one\r\ntwo\r\n\r\nthree\rfour\n")
    [doc] = chunk_file(parse_file(path), source="notes.txt", file_id="x", module="", chunk_size=500, chunk_overlap=0)
    assert "\r" not in doc.page_content
    assert (doc.metadata["line_start"], doc.metadata["line_end"]) == (1, 5)
    other = chunk_file(parse_file(COURSE / "week05/errors_and_exceptions.docx"), source="e.docx", file_id="y",
                       module="", chunk_size=500, chunk_overlap=0)  # fmt: skip
    assert {(d.metadata["line_start"], d.metadata["line_end"]) for d in other} == {(0, 0)}


def test_an_exercise_and_its_solution_are_marked(tmp_path):
    """A Carpentries-style challenge and its "Solution": both carry the exercise's title, only the second is the
    solution (the tutor gives the exercise back first: HINTS_FIRST); a section that is no exercise carries none."""
    from loaders.parsers import parse_file

    lesson = tmp_path / "loops.md"
    lesson.write_text(
        "# Loops\n\nA loop repeats.\n\n## From 1 to N\n\nWrite a loop that prints 1, 2 and 3.\n\n"
        "## Solution\n\n```python\nfor n in range(1, 4):\n    print(n)\n```\n\n## Sample answer\n\nAlso `print(1)`.\n"
        "\n## Next topic\n\nText.\n\n## Close enough\n\nWrite an expression that is true when a is within 10% of b.\n"
        "\n## Hint\n\nThere is a built-in function `abs`.\n\n## Solution 1\n\n`print(abs(a - b) <= 0.1 * abs(b))`\n"
    )
    marks = [(s.headings[-1] if s.headings else "", s.exercise, s.solution) for s in parse_file(lesson).sections]
    assert marks == [
        ("Loops", "", False),
        ("From 1 to N", "From 1 to N", False),
        ("Solution", "From 1 to N", True),
        ("Sample answer", "From 1 to N", True),
        ("Next topic", "", False),
        ("Close enough", "Close enough", False),
        ("Hint", "Close enough", False),  # its hint is part of the exercise, given back with it
        ("Solution 1", "Close enough", True),
    ]


def test_a_docx_code_paragraph_is_fenced_and_paragraphs_stand_apart():
    """The course's DOCX writes code in Courier New: fenced, it is code; run into the text, it was quoted as a
    sentence ("text = input(…) try: tickets = int(text) except ValueError: …"), and a heading ran into the next
    sentence."""
    from loaders.parsers import parse_file

    sections = parse_file(COURSE / "week05/errors_and_exceptions.docx").sections
    handling = next(s for s in sections if s.headings[-1] == "Handling exceptions with try and except")
    assert handling.text.startswith("Handling exceptions with try and except\n\nPut the code that might fail")
    assert '```\ntext = input("How many tickets? ")\ntry:\n    tickets = int(text)' in handling.text
    assert not any("```" in s.text for s in sections if s.headings[-1] == "ValueError")  # prose stays prose


def test_a_pdfs_monospace_lines_are_fenced_and_lone_bullets_join_their_items():
    """The loops handout sets its code in Courier and extracts each bullet on a line of its own: the else clause's
    search loop was quoted as part of the sentence before it."""
    from loaders.parsers import parse_file

    [first, second] = parse_file(COURSE / "week02/loops_handout.pdf").sections
    assert "search loops tidy:\n```\nfor n in [3, 7, 11]:\n    if n % 2 == 0:" in second.text
    assert "- break leaves the innermost loop at once" in second.text and "\n-\n" not in first.text + second.text
    assert "range(0) and range(5, 2) produce nothing" in first.text and "```\ntotal = 0\n" in first.text
    # a line naming inline code among prose stays prose
    assert "\nPrefer enumerate() to for i in range(len(tasks)): it is shorter" in first.text
