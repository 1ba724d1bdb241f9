"""Plain-text, code and Markdown citations open at their lines: the Source carries them, the link names them,
and /files/ shows the file as numbered lines (`id="L12"`), the cited ones marked, long lines wrapping."""

from __future__ import annotations

import html
import re
import shutil

from core.sources import location, make_source
from tests.conftest import COURSE
from tests.unit.conftest import record_files

TEXT, CODE, NOTES = "week05/files_and_with.txt", "week01/hello.py", "week02/control_flow.md"


def _client(make_client, course, **env):
    client = make_client(**env)
    for name in (TEXT, CODE, NOTES):
        (course / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(COURSE / name, course / name)
    record_files(course, TEXT, CODE, NOTES)
    return client


def test_a_source_carries_its_lines_and_says_them():
    source = make_source(1, "text", {"source": TEXT, "line_start": 12, "line_end": 20}, 0.5)
    assert (source["line_start"], source["line_end"]) == (12, 20)
    assert location(source) == f"{TEXT}, lines 12-20"
    assert location({"source": CODE, "line_start": 7, "line_end": 7}) == f"{CODE}, line 7"
    old = make_source(1, "text", {"source": TEXT}, 0.5)  # ingested before pipeline 5
    assert (old["line_start"], old["line_end"]) == (0, 0) and location(old) == TEXT


def test_links_open_text_code_and_markdown_at_their_first_line(make_client, course):
    client = _client(make_client, course)
    sources = [
        {"n": 1, "source": TEXT, "line_start": 12, "line_end": 20},
        {"n": 2, "source": NOTES, "headings": "Control flow > Loops", "line_start": 30, "line_end": 41},
        {"n": 3, "source": NOTES, "headings": "Control flow > Loops"},  # no lines: its heading, rendered
        {"n": 4, "source": "week03/generators.ipynb", "cell": 4, "line_start": 3, "line_end": 5},
    ]
    links = client.post("/api/render", json={"answer": "[1] [2] [3] [4]", "sources": sources}).json()["links"]
    assert [link["href"] for link in links] == [
        f"/files/{TEXT}?lines=12-20#L12",
        f"/files/{NOTES}?lines=30-41#L30",
        f"/files/{NOTES}#h-loops",
        "/files/week03/generators.ipynb#cell-4",
    ]


def test_a_text_file_opens_as_numbered_lines_with_the_cited_ones_marked(make_client, course):
    client = _client(make_client, course)
    page = client.get(f"/files/{TEXT}?lines=12-14")
    assert page.status_code == 200 and "default-src 'none'" in page.headers["content-security-policy"]
    lines = (COURSE / TEXT).read_text(encoding="utf-8").split("\n")
    spans = re.findall(r'<span class="line( cited)?" id="L(\d+)">(.*?)\n</span>', page.text, re.S)
    assert [int(n) for _, n, _ in spans] == list(range(1, len(lines) + 1)), "every line, numbered as ingest does"
    assert [int(n) for cited, n, _ in spans if cited] == [12, 13, 14]
    for _, n, inner in spans:
        assert html.unescape(re.sub(r"<[^>]+>", "", inner)) == lines[int(n) - 1]
    assert client.get(f"/files/{TEXT}").text.count(" cited") == 0, "no lines named, none marked"
    assert client.get(f"/files/{TEXT}?lines=junk").status_code == 200


def test_code_keeps_its_highlighting_and_its_blank_edges(make_client, course):
    client = _client(make_client, course)
    page = client.get(f"/files/{CODE}?lines=1-2").text
    lines = (COURSE / CODE).read_text(encoding="utf-8").split("\n")
    assert page.count('class="line') == len(lines)
    assert '<span class="k">' in page or '<span class="kn">' in page, "Pygments' classes, styled by highlight.css"


def test_markdown_is_rendered_unless_a_link_names_its_lines(make_client, course):
    client = _client(make_client, course)
    rendered = client.get(f"/files/{NOTES}").text
    assert 'id="L1"' not in rendered and "<h1" in rendered
    lined = client.get(f"/files/{NOTES}?lines=3-4").text
    assert 'id="L1"' in lined and lined.count(" cited") == 2


def test_long_lines_wrap_and_cited_lines_are_marked_by_the_stylesheet(make_client):
    css = make_client().get("/static/highlight.css").text
    assert "pre.lines { white-space: pre-wrap;" in css and ".lines .line.cited" in css


def test_a_signed_link_keeps_its_lines(make_client, course):
    client = _client(make_client, course, MENTOR_API_KEY="student-key-7c1d")
    body = {"answer": "[1]", "sources": [{"n": 1, "source": TEXT, "line_start": 5, "line_end": 6}]}
    link = client.post("/api/render", json=body, headers={"X-API-Key": "student-key-7c1d"}).json()["links"][0]
    href = link["href"]
    assert "?exp=" in href and "&sig=" in href and href.endswith("&lines=5-6#L5")
    page = client.get(href.split("#")[0])
    assert page.status_code == 200 and page.text.count(" cited") == 2
