"""Generate the binary sample files of the bundled "Python Foundations" course.

Why this script exists
----------------------
The sample course in ``course_materials/`` demonstrates every document format
AI Mentor can ingest. Most of it is plain text (Markdown, HTML, .txt, .py,
.ipynb) and is edited by hand, but three formats are binary: PDF, PPTX and DOCX.
Binary files cannot be reviewed in a diff, so instead of committing opaque
blobs of unknown origin we keep their *text* here, written in our own words,
and generate the files from it. Anyone can read or change the text below,
re-run the script and get equivalent files again.

Files written (relative to the repository root):

* ``course_materials/week02/loops_handout.pdf``       (reportlab, 2 pages)
* ``course_materials/week04/dicts_and_sets_slides.pptx``   (python-pptx, 6 slides)
* ``course_materials/week05/errors_and_exceptions.docx`` (python-docx)

Usage, from the repository root::

    python scripts/make_sample_docs.py

Requires ``reportlab``, ``python-pptx`` and ``python-docx``. The output is
kept as reproducible as practical: fixed document metadata, reportlab's
invariant mode, and fixed timestamps inside the Office zip containers.
"""

from __future__ import annotations

import datetime as _dt
import os
import sys
import zipfile
from pathlib import Path
from typing import cast

REPO_ROOT = Path(__file__).resolve().parent.parent
COURSE_DIR = REPO_ROOT / "course_materials"

AUTHOR = "AI Mentor sample course"
FIXED_DATE = _dt.datetime(2024, 1, 1, 12, 0, 0)

# A block is (kind, content): content is the text, or the list of items for "bullets".
Block = tuple[str, str | list[str]]

# ---------------------------------------------------------------------------
# Week 2 PDF handout: loops
# ---------------------------------------------------------------------------
# Each section is (heading, [blocks]); a block is ("p", text), ("code", text)
# or ("bullets", [items]). Inline markup uses reportlab's mini-HTML
# (<b>, <i>, <font face="Courier">).

PDF_TITLE = "Week 2 Handout: Loops in Python"
PDF_SUBTITLE = "Python Foundations - quick reference for for-loops and while-loops"

PDF_SECTIONS: list[tuple[str, list[Block]]] = [
    (
        "1. Why loops?",
        [
            (
                "p",
                "A loop repeats a block of code. Instead of writing the same line "
                "ten times, you write it once and let Python repeat it. Python has "
                "two loop statements: <b>for</b>, which walks through the items of "
                "a collection, and <b>while</b>, which repeats as long as a "
                "condition stays true. In both, the body is the indented block "
                "after the line that ends with a colon.",
            ),
        ],
    ),
    (
        "2. The for loop",
        [
            (
                "p",
                "A for loop takes each item of an iterable in turn, binds it to the "
                "loop variable and runs the body once per item. Lists, strings, "
                "tuples, dictionaries, files and range objects are all iterables.",
            ),
            ("code", 'for letter in "cat":\n    print(letter)\n# c\n# a\n# t'),
            (
                "p",
                "Looping over a string gives one character per pass. Looping over a "
                "dictionary gives its keys. The loop variable keeps its last value "
                "after the loop ends.",
            ),
        ],
    ),
    (
        "3. Counting with range()",
        [
            (
                "p",
                "range() produces a sequence of integers. The stop value is never "
                "included, so range(n) always yields exactly n numbers.",
            ),
            (
                "bullets",
                [
                    "<font face='Courier'>range(5)</font> produces 0, 1, 2, 3, 4.",
                    "<font face='Courier'>range(1, 6)</font> produces 1, 2, 3, 4, 5.",
                    "<font face='Courier'>range(0, 20, 5)</font> produces 0, 5, 10, 15.",
                    "<font face='Courier'>range(3, 0, -1)</font> produces 3, 2, 1.",
                    "<font face='Courier'>range(0)</font> and "
                    "<font face='Courier'>range(5, 2)</font> produce nothing, so "
                    "the loop body never runs.",
                ],
            ),
            ("code", "total = 0\nfor n in range(1, 11):\n    total += n\nprint(total)   # 55"),
        ],
    ),
    (
        "4. Index and item together: enumerate()",
        [
            (
                "p",
                "enumerate() wraps an iterable and yields (index, item) pairs. The "
                "index starts at 0 unless you pass start=...",
            ),
            (
                "code",
                'tasks = ["wash", "dry", "fold"]\n'
                "for number, task in enumerate(tasks, start=1):\n"
                '    print(f"{number}. {task}")\n'
                "# 1. wash\n# 2. dry\n# 3. fold",
            ),
            (
                "p",
                "Prefer enumerate() to <font face='Courier'>for i in "
                "range(len(tasks))</font>: it is shorter and avoids off-by-one "
                "mistakes. To walk two lists side by side, use zip(): "
                "<font face='Courier'>for name, score in zip(names, scores):</font>",
            ),
        ],
    ),
    (
        "5. The while loop",
        [
            (
                "p",
                "A while loop checks its condition before every pass and stops as "
                "soon as the condition is false. If the condition is false at the "
                "start, the body never runs. Use while when you cannot know in "
                "advance how many repetitions are needed.",
            ),
            (
                "code",
                "n = 100\n"
                "steps = 0\n"
                "while n > 1:\n"
                "    n = n // 2\n"
                "    steps += 1\n"
                "print(steps)   # 6  (100, 50, 25, 12, 6, 3, 1)",
            ),
            (
                "p",
                "Something in the body must eventually make the condition false. "
                "A loop whose condition never changes is an <b>infinite loop</b>; "
                "press Ctrl+C in the terminal to interrupt it.",
            ),
        ],
    ),
    (
        "6. break and continue",
        [
            (
                "bullets",
                [
                    "<b>break</b> leaves the innermost loop at once; code after the loop runs next.",
                    "<b>continue</b> skips the rest of the current pass and starts the next one.",
                    "Both work in for loops and while loops.",
                ],
            ),
            (
                "code",
                'for word in ["apple", "", "pear", "STOP", "fig"]:\n'
                '    if word == "":\n'
                "        continue        # ignore empty strings\n"
                '    if word == "STOP":\n'
                "        break           # fig is never printed\n"
                "    print(word)         # apple, pear",
            ),
            (
                "p",
                "The pattern <font face='Courier'>while True:</font> with a "
                "<b>break</b> inside is the usual way to repeat a prompt until the "
                "user types a valid answer.",
            ),
        ],
    ),
    (
        "7. The else clause of a loop",
        [
            (
                "p",
                "A loop may end with an else block. It runs only when the loop "
                "finished without executing break. This makes search loops tidy:",
            ),
            (
                "code",
                "for n in [3, 7, 11]:\n"
                "    if n % 2 == 0:\n"
                '        print("found an even number")\n'
                "        break\n"
                "else:\n"
                '    print("no even numbers")   # this line runs',
            ),
        ],
    ),
    (
        "8. Common mistakes",
        [
            (
                "bullets",
                [
                    "Expecting range(5) to include 5. It stops at 4.",
                    "Forgetting to update the variable in a while condition, which creates an infinite loop.",
                    "Changing a list (append or remove) while a for loop is walking "
                    "through it. Loop over a copy, e.g. items[:], or build a new list.",
                    "Inconsistent indentation: every line of the body must be "
                    "indented by the same amount, normally four spaces.",
                    "Using = (assignment) instead of == (comparison) in a condition, "
                    "which is a SyntaxError in an if or while line.",
                ],
            ),
        ],
    ),
    (
        "9. Cheat sheet",
        [
            (
                "bullets",
                [
                    "Repeat n times: <font face='Courier'>for _ in range(n):</font>",
                    "Every item: <font face='Courier'>for item in items:</font>",
                    "Index and item: <font face='Courier'>for i, item in enumerate(items):</font>",
                    "Two lists together: <font face='Courier'>for a, b in zip(xs, ys):</font>",
                    "Until a condition changes: <font face='Courier'>while condition:</font>",
                    "Stop early: <b>break</b>. Skip one pass: <b>continue</b>.",
                ],
            ),
        ],
    ),
]


def make_pdf(path: Path) -> None:
    """Write the loops handout as a text-based, multi-page PDF."""
    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
    from reportlab.lib.units import cm
    from reportlab.platypus import (
        KeepTogether,
        ListFlowable,
        ListItem,
        Paragraph,
        Preformatted,
        SimpleDocTemplate,
        Spacer,
    )

    styles = getSampleStyleSheet()
    body = ParagraphStyle("Body", parent=styles["BodyText"], fontSize=10, leading=12.5, spaceAfter=4)
    code = ParagraphStyle(
        "CodeBlock",
        parent=styles["Code"],
        fontSize=9,
        leading=10.5,
        backColor=colors.HexColor("#f2f2f2"),
        borderPadding=3,
        leftIndent=12,
        spaceBefore=2,
        spaceAfter=6,
    )
    h1 = ParagraphStyle("H1", parent=styles["Title"], fontSize=20, leading=24)
    subtitle = ParagraphStyle("Sub", parent=styles["Italic"], alignment=TA_CENTER, fontSize=10, spaceAfter=8)
    h2 = ParagraphStyle("H2", parent=styles["Heading2"], fontSize=12.5, spaceBefore=7, spaceAfter=3)

    story = [Paragraph(PDF_TITLE, h1), Paragraph(PDF_SUBTITLE, subtitle)]
    for heading, blocks in PDF_SECTIONS:
        story.append(Paragraph(heading, h2))
        for kind, content in blocks:
            if kind == "p":
                story.append(Paragraph(content, body))
            elif kind == "code":
                # KeepTogether stops a short code block splitting across pages.
                story.append(KeepTogether(Preformatted(content, code)))
            elif kind == "bullets":
                story.append(
                    ListFlowable(
                        [ListItem(Paragraph(item, body), leftIndent=12) for item in content],
                        # A plain "-" bullet extracts cleanly as text (the
                        # standard-font bullet glyph does not).
                        bulletType="bullet",
                        start="-",
                        leftIndent=14,
                    )
                )
            else:  # pragma: no cover - guards against typos in the data above
                raise ValueError(f"unknown block kind {kind!r}")
        story.append(Spacer(1, 2))

    def footer(canvas, doc):
        canvas.saveState()
        canvas.setFont("Helvetica", 9)
        canvas.drawString(1.8 * cm, 1.1 * cm, "Python Foundations - Week 2 handout")
        canvas.drawRightString(A4[0] - 1.8 * cm, 1.1 * cm, f"Page {doc.page}")
        canvas.restoreState()

    doc = SimpleDocTemplate(
        str(path),
        pagesize=A4,
        leftMargin=1.8 * cm,
        rightMargin=1.8 * cm,
        topMargin=1.6 * cm,
        bottomMargin=1.9 * cm,
        title=PDF_TITLE,
        author=AUTHOR,
        subject="Loops in Python",
        creator="scripts/make_sample_docs.py",
        invariant=1,  # fixed dates/IDs so regenerating gives identical bytes
    )
    doc.build(story, onFirstPage=footer, onLaterPages=footer)


# ---------------------------------------------------------------------------
# Week 4 slide deck: dictionaries and sets
# ---------------------------------------------------------------------------
# (title, bullet lines, speaker notes). Lines starting with two spaces are
# shown one level deeper.

PPTX_TITLE = "Dictionaries and Sets"
PPTX_SUBTITLE = "Python Foundations - Week 4 slides"
PPTX_TITLE_NOTES = (
    "This deck complements the week 4 reading on functions. It introduces two "
    "built-in collections that store values by key or by membership rather "
    "than by position."
)

PPTX_SLIDES = [
    (
        "Dictionary literals",
        [
            'A dict maps keys to values: ages = {"Ada": 36, "Alan": 41}',
            'Look up a value with square brackets: ages["Ada"] returns 36',
            'Add or change an entry by assignment: ages["Grace"] = 85',
            "Keys must be hashable (str, int, tuple); values can be anything",
            "An empty dict is {} or dict(); len(ages) counts the keys",
            "Since Python 3.7, dicts keep keys in insertion order",
        ],
        "Stress that {} creates an empty dictionary, not an empty set.",
    ),
    (
        "Safe lookups: KeyError and .get()",
        [
            'ages["Bob"] raises KeyError when the key is missing',
            'Test first with the in operator: "Bob" in ages returns False',
            "dict.get(key) returns None instead of raising KeyError",
            "dict.get(key, default) returns default instead of raising KeyError",
            '  ages.get("Bob", 0) returns 0',
            'Remove an entry with del ages["Ada"] or ages.pop("Ada")',
        ],
        "A typical use of get() with a default is counting: counts[word] = counts.get(word, 0) + 1.",
    ),
    (
        "Iterating over a dictionary",
        [
            "for key in ages: loops over the keys",
            "ages.keys(), ages.values() and ages.items() give live views",
            "items() yields (key, value) pairs, ready to unpack:",
            "  for name, age in ages.items(): print(name, age)",
            "Do not add or remove keys while looping; that raises RuntimeError",
            "sorted(ages) returns the keys as a sorted list",
        ],
        "Show the output of the items() loop live in the interpreter.",
    ),
    (
        "Sets",
        [
            "A set is an unordered collection of unique values",
            "Literal: primes = {2, 3, 5, 7}; empty set: set() (not {})",
            "Duplicates disappear: set([1, 1, 2]) is {1, 2}",
            "add(x) inserts; remove(x) raises KeyError if absent; discard(x) does not",
            "Sets have no indexes: primes[0] raises TypeError",
            "Set operations: a | b union, a & b intersection, a - b difference",
        ],
        "Good quick exercise: remove duplicates from a list with list(set(items)) "
        "and point out that the original order is not guaranteed.",
    ),
    (
        "Membership tests and choosing a collection",
        [
            "x in my_set and key in my_dict are fast, even for millions of items",
            "x in my_list checks items one by one, so it slows down as the list grows",
            "Use a list for ordered data that may contain duplicates",
            "Use a dict to look values up by a key",
            "Use a set to test membership or remove duplicates",
        ],
        "Sets and dicts use hash tables, so membership takes roughly constant "
        "time on average; lists need a linear scan.",
    ),
]


def make_pptx(path: Path) -> None:
    """Write the dictionaries-and-sets deck with title and body placeholders."""
    from pptx import Presentation

    prs = Presentation()
    title_layout = prs.slide_layouts[0]  # "Title Slide"
    content_layout = prs.slide_layouts[1]  # "Title and Content"

    slide = prs.slides.add_slide(title_layout)
    slide.shapes.title.text = PPTX_TITLE
    slide.placeholders[1].text = PPTX_SUBTITLE
    slide.notes_slide.notes_text_frame.text = PPTX_TITLE_NOTES

    for title, lines, notes in PPTX_SLIDES:
        slide = prs.slides.add_slide(content_layout)
        slide.shapes.title.text = title
        frame = slide.placeholders[1].text_frame
        for i, line in enumerate(lines):
            para = frame.paragraphs[0] if i == 0 else frame.add_paragraph()
            level = 1 if line.startswith("  ") else 0
            para.text = line.strip()
            para.level = level
        slide.notes_slide.notes_text_frame.text = notes

    props = prs.core_properties
    props.title = PPTX_TITLE
    props.author = AUTHOR
    props.subject = "Dictionaries and sets"
    props.created = FIXED_DATE
    props.modified = FIXED_DATE
    props.last_modified_by = AUTHOR
    props.revision = 1
    prs.save(str(path))


# ---------------------------------------------------------------------------
# Week 5 Word document: errors and exceptions
# ---------------------------------------------------------------------------
# Blocks: ("h1", text), ("h2", text), ("p", text), ("code", text),
# ("bullets", [items]).

DOCX_TITLE = "Week 5: Errors and Exceptions"

DOCX_BLOCKS: list[Block] = [
    (
        "p",
        "Every programmer's code fails sometimes. A file is missing, a user types "
        "letters where a number was expected, or a calculation divides by zero. "
        "Python reports such problems with exceptions. This reading explains what "
        "exceptions are, how to handle them, how to raise them yourself and how to "
        "define your own.",
    ),
    ("h1", "What is an exception?"),
    (
        "p",
        "An exception is an object that signals that something went wrong while "
        "the program was running. When an exception is raised, Python stops the "
        "current code and looks for a handler. If no handler is found, the program "
        "ends and prints a traceback: a report that lists the chain of calls that "
        "led to the error and, on its last line, the exception type and message.",
    ),
    (
        "code",
        "Traceback (most recent call last):\n"
        '  File "prices.py", line 3, in <module>\n'
        "    print(total / count)\n"
        "ZeroDivisionError: division by zero",
    ),
    (
        "p",
        "Read a traceback from the bottom up: the last line says what happened, "
        "the lines above it say where. Exceptions are different from syntax "
        "errors, which Python detects before the program starts running at all.",
    ),
    ("h1", "Common built-in exceptions"),
    ("h2", "ValueError"),
    (
        "p",
        "Raised when a value has the right type but an unsuitable content. "
        'int("abc") raises ValueError because the string is not a valid '
        "integer, and [1, 2].remove(5) raises ValueError because 5 is not in the "
        "list.",
    ),
    ("h2", "TypeError"),
    (
        "p",
        "Raised when an operation is applied to a value of the wrong type. "
        '"Age: " + 21 raises TypeError because a str and an int cannot be '
        "added. Calling a function with the wrong number of arguments also raises "
        "TypeError.",
    ),
    ("h2", "KeyError"),
    (
        "p",
        "Raised when a dictionary is asked for a key it does not contain. With "
        'stock = {"apples": 3}, the expression stock["pears"] raises '
        "KeyError: 'pears'. stock.get(\"pears\", 0) avoids the exception and "
        "returns 0.",
    ),
    ("h2", "ZeroDivisionError"),
    ("p", "Raised when dividing by zero with /, // or %. Both 1 / 0 and 5 % 0 raise it."),
    ("h2", "Other exceptions you will meet"),
    (
        "bullets",
        [
            "IndexError: a list index is out of range, e.g. [1, 2, 3][3].",
            "NameError: a name is used before it has been assigned.",
            "FileNotFoundError: open() was asked to read a file that does not exist.",
            "AttributeError: an object has no attribute or method with that name.",
        ],
    ),
    ("h1", "Handling exceptions with try and except"),
    (
        "p",
        "Put the code that might fail in a try block and the recovery code in an "
        "except block. If the try block raises an exception of the named type, "
        "Python jumps to the matching except block instead of stopping the "
        "program.",
    ),
    (
        "code",
        'text = input("How many tickets? ")\n'
        "try:\n"
        "    tickets = int(text)\n"
        "except ValueError:\n"
        '    print("Please type a whole number.")\n'
        "    tickets = 0",
    ),
    (
        "p",
        "A try statement can have several except clauses, one per exception type, "
        "and one clause can catch several types as a tuple: "
        "except (ValueError, TypeError):. Writing except ValueError as err: binds "
        "the exception object to err, so print(err) shows its message.",
    ),
    (
        "p",
        "Catch only the exceptions you expect and know how to handle. A bare "
        "except: or except Exception: around a large block hides real bugs, "
        "including typos that cause NameError.",
    ),
    ("h2", "The else and finally clauses"),
    (
        "p",
        "A try statement may also have an else clause and a finally clause. The "
        "else block runs only if the try block raised no exception; it is the place "
        "for code that should run after a success but whose own errors should not "
        "be caught by the handlers above. The finally block runs in every case, "
        "whether an exception happened or not, and even if the block was left with "
        "return or break. It is used for clean-up such as closing a connection.",
    ),
    (
        "code",
        "try:\n"
        "    result = 10 / divisor\n"
        "except ZeroDivisionError:\n"
        '    print("Cannot divide by zero.")\n'
        "else:\n"
        '    print(f"Result: {result}")\n'
        "finally:\n"
        '    print("Calculation finished.")',
    ),
    (
        "p",
        'With divisor = 0 this prints the error message and then "Calculation '
        'finished."; with divisor = 4 it prints "Result: 2.5" and then '
        '"Calculation finished.". The required order is try, except, else, '
        "finally.",
    ),
    ("h1", "Raising exceptions"),
    (
        "p",
        "Your own functions can signal problems with the raise statement. Raise the "
        "most fitting built-in type and give a helpful message:",
    ),
    (
        "code",
        "def set_age(age):\n"
        "    if age < 0:\n"
        '        raise ValueError(f"age must not be negative, got {age}")\n'
        "    return age",
    ),
    (
        "p",
        "Raising early, with a clear message, is much better than letting a bad "
        "value travel through the program and cause a confusing error later. "
        "Inside an except block, a bare raise re-raises the exception being "
        "handled, which is useful after logging it.",
    ),
    ("h1", "Custom exceptions"),
    (
        "p",
        "For errors that belong to your program's own domain you can define a new "
        "exception type. A custom exception is a class that inherits from "
        "Exception (or from a more specific built-in exception). The class body "
        "can simply be a docstring.",
    ),
    (
        "code",
        "class InsufficientFundsError(Exception):\n"
        '    """Raised when a withdrawal exceeds the balance."""\n'
        "\n"
        "def withdraw(balance, amount):\n"
        "    if amount > balance:\n"
        "        raise InsufficientFundsError(\n"
        '            f"cannot withdraw {amount}, balance is {balance}")\n'
        "    return balance - amount\n"
        "\n"
        "try:\n"
        "    withdraw(50, 80)\n"
        "except InsufficientFundsError as err:\n"
        '    print("Sorry:", err)',
    ),
    (
        "p",
        "By convention the names of exception classes end in Error. Because the "
        "class inherits from Exception, an except Exception clause would also "
        "catch it; a handler for the specific class catches only this kind of "
        "problem.",
    ),
    ("h1", "Summary"),
    (
        "bullets",
        [
            "An unhandled exception stops the program and prints a traceback; read it from the bottom up.",
            "ValueError: right type, wrong value. TypeError: wrong type. KeyError: "
            "missing dictionary key. ZeroDivisionError: division by zero.",
            "try/except handles an error; else runs only on success; finally always runs.",
            "Use raise with a clear message to report invalid input.",
            "Define custom exceptions by subclassing Exception.",
        ],
    ),
]


def make_docx(path: Path) -> None:
    """Write the exceptions reading with real Title/Heading 1/Heading 2 styles."""
    from docx import Document
    from docx.shared import Pt

    doc = Document()
    doc.add_heading(DOCX_TITLE, level=0)  # uses the built-in "Title" style

    for kind, content in DOCX_BLOCKS:
        if kind == "h1":
            doc.add_heading(cast(str, content), level=1)
        elif kind == "h2":
            doc.add_heading(cast(str, content), level=2)
        elif kind == "p":
            doc.add_paragraph(cast(str, content))
        elif kind == "bullets":
            for item in content:
                doc.add_paragraph(item, style="List Bullet")
        elif kind == "code":
            para = doc.add_paragraph()
            text = cast(str, content)
            for i, line in enumerate(text.split("\n")):
                run = para.add_run(line)
                run.font.name = "Courier New"
                run.font.size = Pt(9.5)
                if i < text.count("\n"):
                    run.add_break()
        else:  # pragma: no cover
            raise ValueError(f"unknown block kind {kind!r}")

    props = doc.core_properties
    props.title = DOCX_TITLE
    props.author = AUTHOR
    props.subject = "Errors and exceptions"
    props.created = FIXED_DATE
    props.modified = FIXED_DATE
    props.last_modified_by = AUTHOR
    props.revision = 1
    doc.save(str(path))


# ---------------------------------------------------------------------------


def normalize_zip(path: Path) -> None:
    """Rewrite an Office zip with fixed member timestamps for stable bytes."""
    with zipfile.ZipFile(path) as src:
        members = [(info, src.read(info.filename)) for info in src.infolist()]
    tmp = path.with_suffix(path.suffix + ".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as dst:
        for info, data in members:
            fixed = zipfile.ZipInfo(info.filename, date_time=(2024, 1, 1, 0, 0, 0))
            fixed.compress_type = zipfile.ZIP_DEFLATED
            fixed.external_attr = 0o644 << 16
            dst.writestr(fixed, data)
    os.replace(tmp, path)


def main() -> int:
    targets = [
        (COURSE_DIR / "week02" / "loops_handout.pdf", make_pdf, False),
        (COURSE_DIR / "week04" / "dicts_and_sets_slides.pptx", make_pptx, True),
        (COURSE_DIR / "week05" / "errors_and_exceptions.docx", make_docx, True),
    ]
    for path, builder, is_zip in targets:
        path.parent.mkdir(parents=True, exist_ok=True)
        builder(path)
        if is_zip:
            normalize_zip(path)
        print(f"wrote {path.relative_to(REPO_ROOT)} ({path.stat().st_size} bytes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
