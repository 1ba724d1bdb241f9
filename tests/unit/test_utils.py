import pytest

from core.text import terms
from graph.utils import (
    GradeParseError,
    code_named,
    is_follow_up,
    is_small_talk,
    parse_grade,
    preview,
    small_talk_kind,
    strip_echo,
)


@pytest.mark.parametrize("text", ["hi", "Hello!", "thanks a lot", "who are you?", "What can you do?", ""])
def test_small_talk(text):
    assert is_small_talk(text)


@pytest.mark.parametrize(
    "text",
    [
        "What is a list comprehension?",
        "hi, how do I write a loop in python?",
        "explain KeyError",
        "help me with range()",
        "Thanks! What about tuples?",  # thanks, then a question: a course question
        "thanks, what is a loop",
        "thanks, now explain closures",
        "hello, list slicing",
        "clear",  # a command in a course of command-line tools, not an acknowledgement
        "Is a tuple mutable",
        "mitosis",
    ],
)
def test_course_questions(text):
    assert not is_small_talk(text)


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("Thanks, that helped!", "thanks"),  # issue 26: refused as "not in the course materials" before
        ("Great, got it, thanks!", "thanks"),
        ("That makes sense now, thank you.", "thanks"),
        ("Thanks for explaining recursion", "thanks"),  # the subject word does not make it a question
        ("Much appreciated!", "thanks"),
        ("See you next week!", "bye"),
        ("That was helpful, bye", "bye"),
        ("Got it.", "ack"),
        ("ok got it", "ack"),
        ("Good morning", "greeting"),
        ("who are you?", "meta"),
    ],
)
def test_gratitude_and_goodbyes_need_no_subject_words(text, kind):
    assert small_talk_kind(text) == kind


def test_parse_grade_strict():
    assert parse_grade('{"note_1": "yes", "note_2": "no"}', [1, 2]) == [1]
    assert parse_grade('{"note_3": "yes"}', [3]) == [3]
    for bad in [
        "yes",
        '{"note_1": "yes"}',
        '{"note_1": "maybe", "note_2": "no"}',
        "[1, 2]",
        '{"note_1": true, "note_2": 1}',
    ]:
        with pytest.raises(GradeParseError):
            parse_grade(bad, [1, 2])


def test_note_list_names_the_notes_the_grader_judges():
    from graph.utils import note_list

    assert note_list([3]) == "note 3"
    assert note_list([2, 3]) == "notes 2 and 3"
    assert note_list([1, 2, 3]) == "notes 1, 2 and 3"


def test_strip_echo():
    assert strip_echo("Question: what?\nNote 1:\nReal answer.") == "Real answer."


def test_preview_cuts_at_a_word_and_is_a_prefix_of_the_note():
    text = "  alpha beta gamma delta\n"
    assert preview(text, 0) == preview(text, 99) == "alpha beta gamma delta"
    assert preview(text, 13) == "alpha beta"  # "gam" would be half a word
    assert preview(text, 11) == "alpha beta"
    assert preview("abcdefghij", 4) == "abcd"  # one long word is cut rather than emptied
    assert all(text.strip().startswith(preview(text, n)) for n in range(30))


@pytest.mark.parametrize(
    ("question", "follows"),
    [
        ("Why?", True),
        ("And what about //?", True),
        ("And a global one?", True),
        ("How do I undo it?", True),
        ("What if I give it a second argument?", True),
        # a "why" with words enough of its own, a question naming code: their own questions, late in a conversation
        ("Why is it a bad idea to use an empty list as a default argument value?", False),
        ("Why should I write regular expression patterns as raw strings?", False),
        ("What does x += 1 actually do?", False),
        ("What does dict.get() do?", False),
        # a comparison with its other side a pronoun points back, however many words it has; named, it stands alone
        ("Is it any different when the variable holds a list, like L += [4]?", True),
        ("Will my list still be in the same order after that?", True),
        ("Is a tuple any different from a list when it holds numbers?", False),
        ("Can one list hold numbers and strings at the same time?", False),
    ],
)
def test_a_question_is_read_with_the_conversation_only_when_it_leans_on_it(question, follows):
    assert is_follow_up(question, terms(question), code_named(question)) is follows
