"""What the student page shows of an answer and its sources: quoted numbers stay text, excerpts are Markdown
cut at a sentence or line with the cited sentence marked (issue 26)."""

from __future__ import annotations

import re

from views.render import render_answer, render_excerpt

NOTE = """---
title: Loops
---
# Loops

::: tip
A *for* loop repeats a block once per item. It stops after the last item.

```python
for i in range(3):
    print(i)
```

5. Use `break` to leave a loop early. The loop ends at once.
:::
"""


def test_a_quoted_sentence_beginning_with_a_number_stays_text():
    html = render_answer("Loops end.\n\n5. Use break to leave a loop [1].\n\n6) Or return [1].", {1: "/files/a.md"})
    assert "<ol" not in html and "<p>5. Use break" in html and "<p>6) Or return" in html
    listed = render_answer("Steps:\n\n1. Open it.\n2. Read it.\n\n```\n5. code\n```")
    assert "<ol>" in listed and "<li>Read it.</li>" in listed and "5. code" in listed, "a list from 1 stays a list"
    indexed = render_answer("`primes[1]` is `3`; so is primes[1] [1][2].", {1: "/f/a.md", 2: "/f/b.md"})
    assert "<code>primes[1]</code>" in indexed and "so is primes[1] <a" in indexed and 'data-n="2"' in indexed


def test_an_excerpt_is_markdown_without_front_matter_or_directives():
    html = render_excerpt(NOTE)
    assert "<h1>Loops</h1>" in html and "<em>for</em>" in html and '<pre class="hl">' in html
    assert "```" not in html and ":::" not in html and "title: Loops" not in html and "<ol" not in html


def test_an_excerpt_marks_the_cited_sentence_and_is_cut_at_a_sentence():
    text = NOTE + " ".join(f"Filler sentence number {i} is here." for i in range(60))
    html = render_excerpt(text, ["Use break to leave a loop early [1]."])
    assert '<mark class="cited">Use <code>break</code> to leave a loop early.</mark>' in html
    assert html.rstrip().endswith('<p class="cut" aria-label="excerpt continues">…</p>')
    last = html.split("Filler sentence number")[-1]
    assert last.split("</p>")[0].rstrip().endswith("is here."), "cut after a sentence, never inside a word"
    far = render_excerpt(text, ["Filler sentence number 55 is here."])
    assert '<mark class="cited">Filler sentence number 55 is here.</mark>' in far and far.startswith('<p class="cut"')


def test_an_excerpt_cut_inside_code_closes_the_fence_and_stays_safe():
    code = "```python\n" + "\n".join(f"x{i} = {i}" for i in range(200)) + "\n```\n<script>alert(1)</script>"
    html = render_excerpt(code, [])
    assert html.count("<pre") == 1 and "```" not in html and "<script" not in html


def test_the_excerpts_route_renders_each_source(make_client):
    client = make_client()
    body = {"sources": [{"n": 1, "text": NOTE, "cited": ["A for loop repeats a block once per item [1]."]}]}
    excerpts = client.post("/api/excerpts", json=body).json()["excerpts"]
    assert excerpts[0]["n"] == 1 and '<mark class="cited">A <em>for</em> loop' in excerpts[0]["html"]


def test_an_instructor_answers_see_also_link_is_signed_in_its_excerpt(make_client):
    """On /chat a cited instructor answer's "See also" link opens the course file in a tab that sends no key:
    signed, as every file link is; another source's links are left as they are."""
    client = make_client(MENTOR_API_KEY="student-key-3a9f")
    link = "[week03/generators.ipynb](/files/week03/generators.ipynb)"
    text = f"# Late work?\n\nLate work loses 10 percent a day.\n\nSee also: {link}"
    body = {"sources": [{"n": 1, "source": "instructor-answer-0123456789abcdef.md", "text": text},
                        {"n": 2, "source": "week01/notes.md", "text": text}]}  # fmt: skip
    excerpts = client.post("/api/excerpts", json=body, headers={"X-API-Key": "student-key-3a9f"}).json()["excerpts"]
    signed = re.search(r'href="(/files/week03/generators\.ipynb\?exp=\d+&amp;sig=[0-9a-f]+)"', excerpts[0]["html"])
    assert signed, excerpts[0]["html"]
    assert client.get(signed.group(1).replace("&amp;", "&")).status_code == 200, "opens without the key"
    assert 'href="/files/week03/generators.ipynb"' in excerpts[1]["html"]


def test_pdf_text_is_text_and_a_sentence_wrapped_over_lines_is_marked_whole():
    text = (
        "5. The while loop\nA loop whose condition never changes is an infinite loop; press Ctrl+C in\n"
        "the terminal to interrupt it.\n-----\n* not a list"
    )
    html = render_excerpt(text, ["A loop whose condition never changes is an infinite loop; press Ctrl+C in the "
                                 "terminal to interrupt it [1]."], "week02/loops_handout.pdf")  # fmt: skip
    assert "<ol" not in html and "<ul" not in html and "<h2" not in html and "<hr" not in html
    assert '<mark class="cited">A loop whose condition never changes is an infinite loop; press Ctrl+C in<br>' in html
    assert "interrupt it.</mark><br>-----" in html


def test_code_is_highlighted_not_read_as_markdown():
    html = render_excerpt("# a comment, not a heading\nx = 1\n", ["x = 1"], "week01/hello.py")
    assert html.startswith('<pre class="hl">') and "<h1" not in html and "<mark" not in html


def test_the_mark_lands_on_the_sentence_when_the_cut_starts_at_a_line_break():
    text = "\n".join(f"Line number {i} of the handout." for i in range(40)) + "\nA loop stops at break.\nEnd."
    html = render_excerpt(text, ["A loop stops at break."], "week02/loops_handout.pdf", limit=200)
    assert '<mark class="cited">A loop stops at break.</mark>' in html
