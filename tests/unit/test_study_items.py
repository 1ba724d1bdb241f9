"""Study mode's items (study/items.py, bank.py, quiz.py) on the real course files and on small made-up ones."""

from __future__ import annotations

import os
import time
from pathlib import Path

import nbformat
import pytest

from loaders.parsers import parse_file, split_lines
from study.bank import BankCache
from study.items import BLANK, KINDS, Item, blank_token, build, course_files, normalise_space
from study.quiz import QuizError, QuizRequest, candidates, choose
from tests.conftest import COURSE


@pytest.fixture(scope="module")
def course_bank():
    return build(course_files([COURSE]))


def cited_text(item: Item, root: Path) -> str:
    """The text at an item's citation, read from the file again without the builder's code: the lines of a text
    file, the cell of a notebook (its recorded output for a print item), the page, slide or anchor's sections."""
    citation = item.citation
    path = root / citation.source
    if path.suffix == ".ipynb":
        cell = nbformat.read(path, as_version=4).cells[citation.cell - 1]
        if item.kind == "what_does_this_print":
            texts = [o.get("text", "") or o.get("data", {}).get("text/plain", "") for o in cell.get("outputs", [])]
            return "\n".join(texts)
        return str(cell.source)
    if citation.line_start:
        return "\n".join(split_lines(path.read_text())[citation.line_start - 1 : citation.line_end])
    sections = parse_file(path).sections
    return "\n".join(
        s.text
        for s in sections
        if (s.page, s.slide, s.anchor) == (citation.page, citation.slide, citation.anchor)
        and (not citation.headings or " > ".join(s.headings) == citation.headings)
    )


def test_every_item_of_the_course_has_its_key_verbatim_in_its_cited_source(course_bank):
    assert len(course_bank.items) >= 40, "the shipped course gives a quiz's worth of items"
    for item in course_bank.items:
        text = normalise_space(cited_text(item, COURSE))
        assert normalise_space(item.key) in text, (item.kind, item.key, item.citation)
        shown = item.body + item.code
        assert BLANK in shown or item.kind == "what_does_this_print", item
        if item.kind != "what_does_this_print":
            assert item.key not in shown.replace(BLANK, " "), f"the key is still visible: {item}"


def test_the_course_gives_definitions_code_and_choices_with_citations(course_bank):
    by_key = {(i.kind, i.key): i for i in course_bank.items}
    variable = by_key[("term_from_definition", "variable")]
    assert variable.body == "A(n) _____ is a name that refers to a value."
    assert variable.citation.as_dict()["location"] == "week01/variables_and_types.md, lines 7-8"
    assert by_key[("term_from_definition", "set")].citation.slide == 5  # a slide's bullet, without a full stop
    assert by_key[("term_from_definition", "function")].citation.anchor == "functions"  # HTML: after its heading
    assert by_key[("term_from_definition", "exception")].citation.source == "week05/errors_and_exceptions.docx"
    # the Markdown lesson's (the handout's PDF code gives one too, cited by page)
    fill = next(i for i in course_bank.items if i.key == "enumerate" and i.citation.source.endswith(".md"))
    assert fill.code.endswith("for index, colour in _____(colours):") and fill.citation.line_start == 91
    public = fill.public()
    assert "key" not in public and "quote" not in public and "root" not in public
    assert {i.kind for i in course_bank.items} >= {"term_from_definition", "fill_the_code"}
    # the shipped notebook has no recorded outputs: every code cell is a reject, with its reason
    assert all(i.kind != "what_does_this_print" for i in course_bank.items)
    assert any(r.reason == "no recorded output" for r in course_bank.rejects)


def test_labels_tables_and_scaffolding_are_not_items(course_bank):
    keys = {i.key for i in course_bank.items}
    assert "Speaker notes" not in keys and "encoding" not in keys  # "…converts between the two": leans on context
    assert not any(i.kind == "fill_the_code" and "returns the whole file" in i.quote for i in course_bank.items)
    assert not any(i.kind == "fill_the_code" and "``" in i.code for i in course_bank.items)  # docstring prose


def test_blank_token_prefers_operators_then_calls_and_needs_a_unique_token():
    assert blank_token("print(17 // 5)") == ("//", 9)
    assert blank_token('f = open("a.txt")') == ("open", 4)
    assert blank_token("def count_up_to(limit):") == ("def", 0)  # never the name: that is the author's choice
    assert blank_token('print("x % y")') == ("print", 0)  # the % inside the string is text, not code
    assert blank_token("x = y") is None


def _notebook(path: Path, cells: list[tuple[str, list[dict]]]) -> None:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"language": "python", "name": "python3", "display_name": "Python 3"}
    nb.cells.append(nbformat.v4.new_markdown_cell("# Tuples\n\nA tuple is an immutable sequence of values."))
    for source, outputs in cells:
        cell = nbformat.v4.new_code_cell(source)
        cell.outputs = [nbformat.from_dict(o) for o in outputs]
        nb.cells.append(cell)
    nbformat.write(nb, path)


def stdout(text: str) -> dict:
    return {"output_type": "stream", "name": "stdout", "text": text}


def result(text: str) -> dict:
    return {"output_type": "execute_result", "execution_count": 1, "metadata": {}, "data": {"text/plain": text}}


@pytest.fixture
def made_course(tmp_path: Path) -> Path:
    root = tmp_path / "course"
    (root / "week01").mkdir(parents=True)
    (root / "week01" / "glossary.md").write_text(
        "# Glossary\n\n"
        "keyword: A reserved word that the language uses to parse a program.\n\n"
        "Note: The glossary is not complete and never will be.\n\n"
        "- **operand**: One of the values on which an operator operates.\n\n"
        "An assertion is simply a statement that something must be true at a certain point in a program.\n"
    )
    _notebook(
        root / "week01" / "tuples.ipynb",
        [
            ("t = (1, 2)\nprint(len(t))", [stdout("2\n")]),
            ("1 / 4", [result("0.25")]),
            ("print(t)", [stdout("(1, 2)\n")]),  # t comes from an earlier cell
            ("u = [n for n in u if n]\nu += [3]", [stdout("[1, 3]\n")]),  # assigns u, but reads an earlier one
            ("import random\nprint(random.random())", [stdout("0.123\n")]),
            ("object()", [result("<object object at 0x7f3a2c0b1e40>")]),
            ("1 / 0", [{"output_type": "error", "ename": "ZeroDivisionError", "evalue": "x", "traceback": []}]),
            ("x = 3", []),
        ],
    )
    (root / "week02").mkdir()
    (root / "week02" / "notes.md").write_text("# Week 2\n\nNothing to define here, no code either.\n")
    answers = root / "instructor_answers" / "week01"
    answers.mkdir(parents=True)
    (answers / "late.md").write_text("# Late work\n\nA deadline is a date after which work loses marks.\n")
    outside = tmp_path / "secret.md"
    outside.write_text("# Secret\n\nA password is a secret word that opens the vault.\n")
    (root / "week01" / "link.md").symlink_to(outside)
    return root


def test_made_course_items_rejects_and_confinement(made_course: Path):
    files = course_files([made_course], [made_course / "instructor_answers"])
    assert {f.source for f in files} == {"week01/glossary.md", "week01/tuples.ipynb", "week02/notes.md"}
    built = build(files)
    terms = {i.key for i in built.items if i.kind == "term_from_definition"}
    assert terms == {"keyword", "operand", "assertion", "tuple"}  # "Note" is a label; nothing from outside
    prints = {i.code: i for i in built.items if i.kind == "what_does_this_print"}
    assert set(prints) == {"t = (1, 2)\nprint(len(t))", "1 / 4"}
    assert prints["1 / 4"].key == "0.25" and prints["1 / 4"].citation.cell == 3
    reasons = {r.reason for r in built.rejects if r.kind == "what_does_this_print"}
    assert {"uses names from earlier cells: t", "the cell raised an error", "no recorded output"} <= reasons
    assert "uses names from earlier cells: u" in reasons
    assert "output varies from run to run (time, randomness, identity, input)" in reasons
    assert "a memory address in the output" in reasons
    choices = [i for i in built.items if i.kind == "choose_the_term"]
    assert len(choices) == 4, "each of week01's 4 definitions, with the other 3 terms as distractors"
    for choice in choices:
        assert len(set(choice.options)) == 4 and choice.key in choice.options and BLANK in choice.body
        assert set(choice.options) == terms
    # ids are stable: the same files give the same ids
    assert [i.id for i in build(files).items] == [i.id for i in built.items]
    for item in built.items:
        assert normalise_space(item.key) in normalise_space(cited_text(item, made_course)), item


def test_the_bank_is_cached_per_course_state_and_rebuilt_when_a_file_changes(made_course: Path):
    cache = BankCache([made_course], [made_course / "instructor_answers"])
    first = cache.get()
    started = time.perf_counter()
    again = cache.get()
    seconds = time.perf_counter() - started
    assert again is first and seconds < 1.0, seconds  # a directory walk and stats: 1.5 ms for course_materials/
    notes = made_course / "week02" / "notes.md"
    notes.write_text("# Week 2\n\nA loop is a block of code that runs again and again until told to stop.\n")
    os.utime(notes, ns=(time.time_ns(), time.time_ns() + 10**9))
    rebuilt = cache.get()
    assert rebuilt is not first and any(i.key == "loop" for i in rebuilt.of_module("week02"))


def test_quiz_scopes_and_their_errors(made_course: Path):
    bank = BankCache([made_course], [made_course / "instructor_answers"]).get()
    assert bank.modules == ["week01", "week02"]
    with pytest.raises(QuizError) as empty:
        candidates(bank, QuizRequest("module", "week02"))
    assert empty.value.status == 404
    assert empty.value.message == (
        "no quiz items in week02: the materials have no definitions or recorded outputs there"
    )
    with pytest.raises(QuizError) as unknown:
        candidates(bank, QuizRequest("module", "week9"))
    assert unknown.value.status == 404 and "week01, week02" in unknown.value.message
    with pytest.raises(QuizError) as missing:
        candidates(bank, QuizRequest("module", "  "))
    assert missing.value.status == 422
    topic = candidates(bank, QuizRequest("topic", topic="What is an assertion?"))
    assert topic[0].key == "assertion" and bank.topic_stems, "the term itself ranks first; stems kept for the next"
    with pytest.raises(QuizError):
        candidates(bank, QuizRequest("topic", topic="photosynthesis in plants"))
    items = candidates(bank, QuizRequest("course"))
    quiz = choose(items, 4, seed="s")
    assert len({i.kind for i in quiz}) >= 2, "kinds are taken in turn"
    due = [items[-1].id]
    assert choose(items, 4, due=due, seed="s")[0].id == due[0], "a due review comes first"
    assert choose(items, 4, seed="s") == quiz and set(KINDS) >= {i.kind for i in quiz}
