"""core/text.py: words, terms, names in code and sentence splitting (pure functions, no model)."""

from __future__ import annotations

import pytest

from core.text import Segment, behaviour_words, exact_tokens, finished, segments, terms, words


def test_terms_drop_question_scaffolding_whatever_the_subject():
    assert terms("What is the difference between mitosis and meiosis?") == ["mitosis", "meiosis"]
    assert terms("How do I use list comprehensions?") == ["list", "comprehension"]
    assert terms("Explain os.getenv and read_csv") == ["os", "getenv", "read", "csv"]
    assert "value" in terms("What value does it return?")  # a content word in many courses
    # in the plural too: "kinds" asked nothing the notes must hold ("What kinds of them are there?" after
    # assertions was refused though the notes list their three categories)
    assert terms("What kinds of assertions are there, and which types or ways?") == ["assertion"]
    # a contraction is a stop word as its parts are; "stuff" is a filler ("that's" was the term "that", and with
    # the unknown "stuff" a follow-up on set difference was refused)
    assert terms("What about the stuff that's in the first set? There's a list.") == ["set", "list"]


def test_a_heading_is_a_segment_of_its_own_even_without_a_blank_line():
    # A notebook cell "## Conditionals on the Value\nIf you've programmed in C, …": the sentence that answers
    # used to start with the heading, and sentences starting with "#" are never quoted.
    parts = segments("## Conditionals on the Value\nIf you have programmed in C, you know it. Python has one.")
    assert [p.text for p in parts] == [
        "## Conditionals on the Value",
        "If you have programmed in C, you know it.",
        "Python has one.",
    ]


def test_segments_keep_code_blocks_whole_and_citations_with_their_sentence():
    text = (
        "A list is mutable. [1] It can grow, e.g. with append(). For example:\n\n"
        "```python\nx = [1]\nx.append(2)\n```\n- one\n- two"
    )
    parts = segments(text)
    assert [p.text for p in parts] == [
        "A list is mutable. [1]",
        "It can grow, e.g. with append().",
        "For example:",
        "```python\nx = [1]\nx.append(2)\n```",
        "- one",
        "- two",
    ]
    assert parts[3].code and parts[3].block and parts[4].block and not parts[1].block


def test_a_plain_text_files_indented_code_under_a_lead_in_is_a_code_block():
    """ "…returns a file object:" then an indented line: the quoted lead-in brought nothing and ended the answer on
    its colon. An indented option list and a docstring's indented paragraphs stay prose."""
    text = (
        'open() returns a file\nobject:\n\n    f = open("a.txt")\n    f.close()\n\nThe modes are:\n\n'
        '    "w"   write. Creates the file.\n\ndef f():\n    """Doc:\n\n    More text here.\n    """\n'
        "5. The while loop\nA while loop checks its condition first.\n"
    )
    parts = segments(text)
    assert [p.text for p in parts[:2]] == ["open() returns a file object:", '```\nf = open("a.txt")\nf.close()\n```']
    assert parts[1].code and not any(p.code for p in parts[2:])
    assert '"w"   write. Creates the file.' in [p.text for p in parts] and "More text here." in [p.text for p in parts]
    # a numbered section title before a capitalised line is a unit of its own, not a list item wrapped on
    assert parts[-2].text == "5. The while loop" and parts[-1].text == "A while loop checks its condition first."


def test_a_term_and_its_definition_are_one_unit():
    """An option list's line and a glossary entry (wrapped over lines, as a PDF gives it) are not cut into
    sentences: "Raises FileExistsError if the file already exists." alone never said which mode."""
    notes = (
        "The most common modes are:\n\n"
        '    "w"   write. Creates the file, or EMPTIES it first if it already exists.\n'
        '    "x"   exclusive create. Raises FileExistsError if the file already exists.\n\n'
        "global variable:   A variable defined outside a function. Global variables can be accessed from any\n"
        "function.\n"
        "Lists are ordered. Tuples are not mutable.\n"
        "print(total)  # 5050"
    )
    assert [s.text for s in segments(notes)] == [
        "The most common modes are:",
        '"w"   write. Creates the file, or EMPTIES it first if it already exists.',
        '"x"   exclusive create. Raises FileExistsError if the file already exists.',
        "global variable:   A variable defined outside a function. Global variables can be accessed from any function.",
        "Lists are ordered.",
        "Tuples are not mutable.",
        "print(total)  # 5050",  # a comment's two spaces make no definition
    ]


def test_a_cut_off_sentence_is_not_finished():
    assert finished(Segment("A list is mutable [1].")) and finished(Segment("```\nx\n```", code=True))
    assert not finished(Segment("In this case, using `")) and not finished(Segment("It is **functional"))


def test_negations_are_not_content_terms():
    assert terms("Why doesn't {} make an empty set? I don’t know") == ["empty", "set"]


def test_a_camelcase_name_also_gives_its_parts():
    # "get an error if the file already exists" is answered by a note naming FileExistsError
    assert words("Raises FileExistsError") == ["raises", "fileexistserror", "file", "exists", "error"]
    assert words("HTTPServer and iPhone, CONSTANT") == ["httpserver", "http", "server", "and", "iphone", "constant"]


def test_names_in_code_and_numbers_must_be_taken_verbatim():
    # dotted names whole (os.path.join), snake_case with digits, CamelCase, calls and `spans`; numbers outside spans
    assert exact_tokens("Use os.path.join, read_csv2 and KeyError [1].") == {"os.path.join", "read_csv2", "keyerror"}
    assert exact_tokens("Call `len` or len() on 3.5 items.") == {"len", "3.5"}


def test_a_sentence_is_never_cut_inside_inline_code():
    text = "Use `!=` to compare two values: it means does not equal. Call `a.b()` or `f(**kwargs)` next. Done."
    assert [s.text for s in segments(text)] == [
        "Use `!=` to compare two values: it means does not equal.",
        "Call `a.b()` or `f(**kwargs)` next.",
        "Done.",
    ]
    # nor at a method called on a bracket's result, written without backticks (a DOCX): "[1, 2]." ended one
    plain = "And [1, 2].remove(5) raises ValueError; f.readline().strip() too. Done (see above). Next."
    assert [s.text for s in segments(plain)] == [
        "And [1, 2].remove(5) raises ValueError; f.readline().strip() too.",
        "Done (see above).",
        "Next.",
    ]


def test_stems_and_sentences_are_right_when_threads_answer_at_once():
    """Snowball's stemmer and pysbd's segmenter keep their input in the object: shared between threads, 20 of
    136 answers failed under 16 clients (IndexError). Each thread now has its own."""
    import threading

    from core.text import segments, stems

    vocabulary = ["comprehensions", "generators", "iterating", "dictionaries", "exceptions", "a", "is", "ran"] * 100
    paragraph = "A list is ordered. It can hold anything! Is a tuple mutable? No. Sets hold unique items."
    want_stems, want_sentences = stems(vocabulary), [s.text for s in segments(paragraph)]
    failures: list[str] = []

    def work() -> None:
        try:
            for _ in range(5):
                if stems(vocabulary) != want_stems or [s.text for s in segments(paragraph)] != want_sentences:
                    failures.append("different")
        except Exception as exc:  # the old shared stemmer raised IndexError here
            failures.append(repr(exc))

    threads = [threading.Thread(target=work) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == [] and len(want_sentences) == 5


@pytest.mark.parametrize(
    ("question", "unknown", "behaviour"),
    [
        ("My program blows up when I look up a name.", ["blow"], ["blow"]),
        ("How do I stop my program from crashing?", ["crashing"], ["crashing"]),
        ("Python keeps barking that count doesn't exist.", ["barking"], ["barking"]),
        ("What's the quickest way to toss out repeated entries?", ["toss"], ["toss"]),
        ("My first list is messed up too.", ["messed"], ["messed"]),
        # a trap's unknown word is its topic: a noun, an adjective, a name
        ("How is a set won in tennis?", ["tennis"], []),
        ("How long can a python grow, and is it venomous?", ["venomous"], []),
        ("Why are the months September to December named so?", ["december"], []),
        ("What are the main causes of global warming?", ["warming"], []),
    ],
)
def test_an_unknown_word_in_a_verbs_place_is_the_students_word_for_what_happens(question, unknown, behaviour):
    assert behaviour_words(question, unknown) == behaviour
    assert behaviour_words(question, unknown, "german") == []  # English word order only, as the stop words
