"""Grading in code (study/grading.py): each rule on real items of the shipped course and on its own."""

from __future__ import annotations

import time

import pytest

from study.grading import MAX_ANSWER_CHARS, AnswerTooLong, grade, grade_code, grade_output, grade_term
from study.items import Citation, Item, build, course_files
from tests.conftest import COURSE


@pytest.fixture(scope="module")
def items() -> dict[tuple[str, str], Item]:
    return {(i.kind, i.key): i for i in build(course_files([COURSE])).items}


def test_terms_match_by_case_article_punctuation_and_word_form(items):
    variable = items[("term_from_definition", "variable")]
    for right in ("variable", "Variable", "a variable", " the Variable. ", "variables"):
        assert grade(variable, right).correct, right
    for wrong in ("value", "", "vary", "name"):
        assert not grade(variable, wrong).correct, wrong
    comprehension = items[("term_from_definition", "list comprehension")]
    assert grade(comprehension, "List Comprehensions").correct
    assert grade(comprehension, "comprehension of a list").how == "the key's content words"
    assert not grade(comprehension, "list").correct
    assert not grade(comprehension, "a list is built from a loop and a comprehension with filters").correct


def test_code_is_exact_and_case_sensitive(items):
    fill = items[("fill_the_code", "enumerate")]
    assert grade(fill, " enumerate ").correct and grade(fill, "`enumerate`").correct
    assert grade(fill, "enumerate()").correct
    assert not grade(fill, "Enumerate").correct and not grade(fill, "range").correct
    assert grade_code(">=", ">=").correct and not grade_code(">", ">=").correct


def test_recorded_output_whitespace_quotes_and_numbers():
    assert grade_output("0 1  2\n3", "0 1 2 3").correct
    assert grade_output("hello", "'hello'").how == "exact, quotes aside"
    assert grade_output("0.30000000000000004", "0.3000000000000000444").correct
    assert grade_output("2.5", "2.50").correct and not grade_output("2.6", "2.5").correct
    assert not grade_output("[1, 2]", "[1, 2, 3]").correct


def test_multiple_choice_by_text_letter_or_number():
    citation = Citation("week01/a.md", "week01", "A")
    item = Item("x", "choose_the_term", "week01", "?", "A(n) _____ is …", "", "tuple", "q", citation,
                ["list", "tuple", "set", "dict"])  # fmt: skip
    assert grade(item, "B").correct and grade(item, "b").correct and grade(item, "2").correct
    assert grade(item, "Tuple").correct and grade(item, "tuples").correct
    assert not grade(item, "A").correct and not grade(item, "set").correct and not grade(item, "5").correct


def test_an_answer_over_the_limit_is_refused(items):
    with pytest.raises(AnswerTooLong, match="at most 2000"):
        grade(items[("term_from_definition", "variable")], "x" * (MAX_ANSWER_CHARS + 1))
    with pytest.raises(AnswerTooLong):
        grade(items[("fill_the_code", "enumerate")], "x" * 1_000_000)


def test_grading_takes_under_50_ms_per_answer(items):
    answers = ["variables", "a comprehension of lists", "Enumerate", "the set", "x" * 1500]
    started = time.perf_counter()
    count = 0
    for item in items.values():
        for answer in answers:
            grade(item, answer)
            count += 1
    per_answer_ms = (time.perf_counter() - started) * 1000 / count
    assert per_answer_ms < 50, per_answer_ms  # bench/quiz.py: 0.16 ms mean; 190 ms cold (simplemma loads its tables)


def test_term_grading_needs_the_whole_term():
    assert grade_term("generator", "generator function").correct is False
    assert grade_term("generator functions", "generator function").correct
