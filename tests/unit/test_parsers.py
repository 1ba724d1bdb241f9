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
