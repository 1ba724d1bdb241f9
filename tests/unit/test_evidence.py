"""core/evidence.py: the checks that decide answerability and sentence support (pure functions, no model)."""

from __future__ import annotations

import pytest

from core.evidence import NoteIndex, TermStats, Thresholds, coverage
from core.text import Segment, quoted_values, terms, words

COLLECTION = [
    "The capitalize method of str returns a copy with the first letter upper-cased.",
    'stock = {"apples": 3} raises KeyError for stock["pears"].',
    "A list comprehension builds a new list from an iterable in one expression.",
    "Lists are ordered and mutable. You can append items to a list.",
    "A for loop repeats a block for each item; break leaves the loop early.",
    "Python is a programming language. Python code runs in the interpreter.",
] * 3


@pytest.fixture(scope="module")
def stats() -> TermStats:
    return TermStats.from_texts(COLLECTION)


def bag(texts: list[str]) -> list[list[float]]:
    """Embeddings for the checks: a hashed bag of words (cosine follows shared words)."""
    out = []
    for text in texts:
        vector = [0.0] * 64
        for word in words(text):
            vector[sum(map(ord, word.rstrip("s"))) % 64] += 1.0
        out.append(vector)
    return out


def test_coverage_weighs_rare_terms_and_sees_through_collisions(stats):
    cell = COLLECTION[0]
    france = coverage("What is the capital of France?", cell, stats)
    assert france.score < 0.4 and "france" in france.missing  # "capital" ≈ "capitalize" only as a stem
    stock = coverage("What is the best stock to buy for dividends?", COLLECTION[1], stats)
    assert stock.score < 0.4 and "dividend" in stock.missing
    assert coverage("What is a list comprehension?", COLLECTION[2], stats).score == 1.0
    # "python" is everywhere in this collection: it weighs little next to "snake"
    assert coverage("Is a python snake venomous?", COLLECTION[5], stats).score < 0.3


def test_an_operator_the_question_names_is_one_of_its_terms(stats):
    """ "What does x += 1 do?" names no content word: it asks about the operator, held where it stands alone."""
    assert coverage("What does x += 1 actually do?", "x += 1 # add one to x, assigning the result back", stats).score
    assert coverage("What does x += 1 actually do?", "x = 1 + 2 assigns 3 to x", stats).score == 0.0
    floor = coverage("And what about // with integers?", "Integers: 17 // 5 is 3.", stats)
    assert floor.score == 1.0 and floor.covered == ["integer", "//"]
    assert "*" in coverage("What does * do to a list?", "A **bold** list.", stats).missing  # "**" is not "*"


def test_a_short_value_the_question_quotes_is_one_of_its_terms(stats):
    """ "mode 'w' and mode 'a'": no word says which mode, so the quoted value is a term, held where a note quotes
    it (the answer quoted three sentences on "w" and none on "a")."""
    asked = "What is the difference between mode 'w' and mode 'a'?"
    append = coverage(asked, '"a"   append. Creates the file if needed.', stats)
    assert "'a'" in append.covered and "'w'" in append.missing
    assert "'a'" in coverage(asked, "a mode is a letter", stats).missing  # an unquoted "a" is a word, not the mode
    assert quoted_values("""int("abc") with 'str' and ',' or 'r+'""") == ["','", "'r+'"]  # data and names are not


def test_unknown_terms_forgive_typos_but_not_new_subjects(stats):
    assert stats.unknown(terms("What is the capital of France?")) == ["france"]
    assert stats.unknown(terms("How do I make a list comprehenson?")) == []  # misspelt, still known
    assert stats.unknown(terms("How do I loop over lists?")) == []
    assert stats.unknown(terms("How do I configure a Kubernetes pod?")) == ["configure", "kubernete", "pod"]

    # another form of a word the notes use is not a new subject; a German course gets German forms
    assert stats.unknown(terms("The loop ran once, then what?")) == []  # ran → run ("runs" in the notes)
    assert stats.unknown(terms("Which mice ran?")) == ["mice"]  # mouse is in no note
    german = TermStats.from_texts(["Die Funktion gibt einen Wert zurück."], language="german")
    assert german.unknown(terms("Was gab die Funktion zurück?", "german")) == []  # gab → geben ← gibt


def test_sentence_check_needs_the_notes_words_numbers_and_names(stats):
    index = NoteIndex([COLLECTION[2], COLLECTION[3]], bag, stats)
    th = Thresholds()
    supported = index.check(Segment("A list comprehension builds a new list from an iterable [2]."), th)
    assert supported.supported and supported.n == 1 and supported.overlap == 1.0
    invented = index.check(Segment("This limitation has been known since 1980 and was removed in Python 3.6."), th)
    assert not invented.supported and invented.n == 0
    wrong_name = index.check(Segment("You can `extend` items to a list."), th)  # `extend` is not in the notes
    assert not wrong_name.supported and "extend" in wrong_name.missing
    right_name = index.check(Segment("You can `append` items to a list."), th)
    assert right_name.supported and right_name.n == 2
    lead_in = index.check(Segment("Here is how:"), th)
    assert lead_in.supported and not lead_in.claim


def test_a_sentence_that_says_the_opposite_of_the_note_is_not_supported(stats):
    """Negations weigh nothing as terms, so without a polarity check "not mutable" would pass on "mutable"."""
    index = NoteIndex([COLLECTION[3], "Tuples cannot be changed once they are created."], bag, stats)
    th = Thresholds()
    assert index.check(Segment("Lists are ordered and mutable [1]."), th).supported
    for flipped in ("Lists are not mutable [1].", "Lists aren't mutable.", "Lists are\u2019nt mutable, never."):
        check = index.check(Segment(flipped), th)
        assert not check.supported and "not" in check.missing, flipped
    kept = index.check(Segment("Tuples cannot be changed once they are created."), th)
    assert kept.supported and kept.n == 2
    dropped = index.check(Segment("Tuples can be changed once they are created."), th)  # the note's "cannot" lost
    assert not dropped.supported and "not" in dropped.missing


def test_code_blocks_are_supported_only_by_code_the_notes_hold(stats):
    index = NoteIndex(["Example:\n\n```python\nsquares = [x * x for x in range(10)]\n```"], bag, stats)
    th = Thresholds()
    assert index.check(Segment("```python\nsquares = [x * x for x in range(10)]\n```", code=True), th).supported
    assert not index.check(Segment("```python\nimport numpy as np\nnp.arange(10) ** 2\n```", code=True), th).supported


def test_empty_notes_support_nothing(stats):
    index = NoteIndex([], bag, stats)
    check = index.check(Segment("Lists are ordered."), Thresholds())
    assert not check.supported and check.n == 0


def test_a_quote_must_hold_one_of_the_questions_terms(stats):
    from graph.answer import extractive

    notes = ["If you want independent copies of mutable values, you must make a copy when you assign it."]
    index = NoteIndex(notes, bag, stats)
    # close in meaning to nothing the question asks: not one salient term in common → nothing to quote
    assert extractive("Can you give me a recipe for hot salsa?", index, stats, "Notes say:").text == ""
    quoted = extractive("How do I make a copy of a mutable value?", index, stats, "Notes say:")
    assert quoted.text.startswith("Notes say:") and "[1]" in quoted.text and quoted.support[0].quoted
    # a question whose salient words are code or numbers: the quote holding them answers it
    index = NoteIndex(["The division operator `/` always returns a float, so `10 / 2` gives `5.0`."], bag, stats)
    assert "[1]" in extractive("Why does 10 / 2 result in 5.0?", index, stats, "Notes say:").text


def test_a_lesson_s_objective_is_no_answer():
    from core.text import segments
    from graph.answer import not_an_answer

    note = "- Explain what an assertion is.\n- An assertion checks that something is true at that point."
    units = [(1, seg) for seg in segments(note)]
    assert [not_an_answer(units, i) for i in range(len(units))] == ["exercise", None]


def test_a_chunk_is_widened_with_its_neighbours_seams_written_once():
    from graph.answer import widen

    before = "Strings cannot change. One difference between lists and strings is"
    chunk = "between lists and strings is mutability: a list can change."
    assert (
        widen(chunk, before, "")
        == "Strings cannot change. One difference between lists and strings is mutability: a list can change."
    )
    assert widen(chunk, "", "Loops come next.") == chunk + "\n\n" + "Loops come next."
    assert widen(chunk, "", "") == chunk


def test_a_sentence_two_notes_share_is_quoted_once(stats):
    from graph.answer import extractive

    shared = "A list comprehension builds a new list from an iterable in one expression."
    index = NoteIndex([shared + " Loops repeat code.", "Intro text here. " + shared], bag, stats)
    quoted = extractive("What is a list comprehension?", index, stats, "Notes say:")
    assert quoted.text.count("builds a new list") == 1


def test_a_quoted_introduction_brings_the_list_it_introduces(stats):
    from graph.answer import extractive

    note = "In Python, variable names follow rules:\n\n- can include letters and digits\n- cannot start with a digit"
    note += "\n\nEnd."
    index = NoteIndex([note], bag, stats)
    quoted = extractive("What rules do variable names follow in Python?", index, stats, "Notes say:").text
    assert quoted.startswith("Notes say:\n\n> In Python, variable names follow rules [1]:")
    assert "> - can include letters and digits [1]" in quoted and "> - cannot start with a digit [1]" in quoted
    assert "End" not in quoted
    # A sentence ending as its code does brings no section title ("5. The while loop") as if it were a list.
    note = "To walk two lists side by side, use zip(): for name, score in zip(names, scores):\n"
    note += "5. The while loop\nA while loop checks its condition before every pass."
    quoted = extractive("How do I walk two lists side by side?", NoteIndex([note], bag, stats), stats, "").text
    assert "use zip()" in quoted and "5. The while loop" not in quoted


def test_a_how_to_brings_the_code_after_its_best_sentence(stats):
    """ "How do I stop my program from crashing…": the DOCX's "Put the code that might fail in a try block…" is
    followed by its code, with no lead-in colon to bring it; a how-to gets it, another question does not."""
    from graph.answer import extractive

    note = "Put the code that might fail in a try block and the recovery in an except block.\n\n"
    note += "```\ntry:\n    n = int(text)\nexcept ValueError:\n    n = 0\n```\n\nEnd of the lesson on blocks."
    index = NoteIndex([note], bag, stats)
    how = extractive("How do I recover in an except block when code might fail?", index, stats, "").text
    assert "except ValueError:" in how
    what = extractive("What goes in the except block when code might fail?", index, stats, "").text
    assert "try block" in what and "ValueError" not in what


def test_the_note_with_the_best_quote_comes_first(stats):
    from graph.answer import extractive

    notes = [
        "A list comprehension builds a list from an iterable.",
        "A list comprehension builds a new list from an iterable.",
    ]
    index = NoteIndex(notes, bag, stats)
    quoted = extractive("Which new list does a list comprehension build?", index, stats, "Notes say:").text
    assert "[1]" in quoted and quoted.index("[2]") < quoted.index("[1]")


def test_a_follow_up_is_answered_for_what_it_adds_to_the_conversation(stats):
    """ "And how is that different from a set?" after tuples and lists is read with their terms; without its own
    words in focus, the notes' many tuple and list sentences outscored the one about sets (dev follow-ups)."""
    from graph.answer import extractive

    notes = [
        "A tuple is like a list, but a tuple is immutable. Tuples and lists keep their order.",
        "A set holds each item once; a set has no order.",
        "A dict comprehension builds a mapping. Sometimes you build a list from two lists.",
        "Integer division uses // and the remainder uses %. The + operator adds numbers.",
    ]
    index = NoteIndex(notes, bag, stats)
    read = "And how is that different from a set? tuple list"
    plain = extractive(read, index, stats, "Notes say:").text
    focused = extractive(read, index, stats, "Notes say:", focus="And how is that different from a set?").text
    assert focused.splitlines()[2].endswith("[2].") and not plain.splitlines()[2].endswith("[2].")
    # "dict" is the notes' short form of the student's "dictionary"; an operator named is a term of its own
    dictionary = extractive(
        "Can I build a dictionary the same way? list",
        index,
        stats,
        "N:",
        focus="Can I build a dictionary the same way?",
    ).text
    assert dictionary.splitlines()[2].startswith("> A dict comprehension")
    floor = extractive("And what about //? operator", index, stats, "N:", focus="And what about //?").text
    assert floor.splitlines()[2].startswith("> Integer division uses //")


def test_a_code_block_alone_is_never_a_grounded_answer(stats):
    from graph.answer import DraftChecker

    note = "Copy a list with list():\n\n```python\nhot_salsa = list(mild_salsa)\n```"
    checker = DraftChecker(NoteIndex([note], bag, stats), Thresholds())
    checker.feed("```python\nhot_salsa = list(mild_salsa)\n```\n")
    checker.close()
    answer = checker.answer()
    assert answer.support[0].supported and answer.support[0].code  # copied verbatim: the check passes it...
    assert not answer.grounded  # ...but it answers nothing on its own


def test_a_heading_the_model_copies_is_not_shown(stats):
    from graph.answer import DraftChecker

    note = (
        "Generators can be infinite\n\n"
        "Because values are produced on demand, a generator may describe an infinite sequence."
    )
    checker = DraftChecker(NoteIndex([note], bag, stats), Thresholds())
    shown = checker.feed("### Generators can be infinite [1]\n\n")
    shown += checker.feed("Because values are produced on demand, a generator may describe an infinite sequence [1].")
    shown += checker.close()
    assert "###" not in "".join(shown) and "Generators can be infinite" not in checker.answer().text
    assert checker.answer().text.startswith("Because values are produced on demand") and checker.answer().grounded
