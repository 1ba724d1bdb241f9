import logging
import math
import time

from core.retrieval import Hit, apply_floor, cosines, fuse_hits, rrf_fuse
from core.store import server_supports_bm25


def cosine(a, b):
    return cosines([a], b)[0]


def test_rrf_rewards_agreement():
    scores = rrf_fuse({"dense": ["a", "b", "c"], "bm25": ["b", "d"]}, k=60)
    assert max(scores, key=scores.get) == "b"
    assert scores["a"] == 1 / 61
    assert scores["d"] == 1 / 62


def test_fuse_hits_orders_by_fused_score_and_keeps_ranks():
    dense = [Hit("a", "A", {}, cosine=0.9), Hit("b", "B", {}, cosine=0.8)]
    bm25 = [Hit("b", "B", {}, cosine=0.8, bm25=7.0), Hit("c", "C", {}, cosine=0.1, bm25=3.0)]
    fused = fuse_hits({"dense": dense, "bm25": bm25})
    assert [h.id for h in fused] == ["b", "a", "c"]
    assert fused[0].ranks == {"dense": 2, "bm25": 1}
    assert fused[0].bm25 == 7.0


def test_floor_drops_junk():
    hits = [Hit("a", "", {}, cosine=0.6), Hit("b", "", {}, cosine=0.1)]
    assert [h.id for h in apply_floor(hits, 0.25)] == ["a"]


def test_bm25_support_by_version():
    assert server_supports_bm25("milvus_lite-3.2.2")
    assert server_supports_bm25("v2.5.4")
    assert server_supports_bm25("2.6.0")
    assert not server_supports_bm25("v2.3.9")
    assert not server_supports_bm25("v2.4.15")


def test_bm25_support_of_the_embedded_23_server():
    assert not server_supports_bm25("v2.3.5-lite")
    assert not server_supports_bm25("")


def test_weighted_rrf_lets_one_method_count_more():
    rankings = {"dense": ["a", "b"], "bm25": ["b", "a"]}
    plain = rrf_fuse(rankings)
    assert plain["a"] == plain["b"]
    weighted = rrf_fuse(rankings, weights={"dense": 1.0, "bm25": 0.5})
    assert weighted["a"] > weighted["b"]
    assert weighted["a"] == 1 / 61 + 0.5 / 62


def test_fusion_keeps_the_best_known_cosine():
    """A chunk found only by BM25 must keep the cosine computed for it, not lose it to a 0.0 default."""
    dense = [Hit("a", "A", {}, cosine=0.7)]
    bm25 = [Hit("c", "C", {}, cosine=0.4, bm25=2.0), Hit("a", "A", {}, cosine=0.7, bm25=1.0)]
    fused = {h.id: h for h in fuse_hits({"dense": dense, "bm25": bm25})}
    assert fused["c"].cosine == 0.4 and fused["a"].cosine == 0.7


def test_cosine_is_safe_on_zero_and_unnormalised_vectors():
    assert cosine([0.0, 0.0], [1.0, 0.0]) == 0.0
    assert math.isclose(cosine([2.0, 0.0], [1.0, 0.0]), 1.0)
    assert math.isclose(cosine([1.0, 0.0], [0.0, 3.0]), 0.0, abs_tol=1e-12)


class FakeClient:
    """Answers MilvusClient.search like Milvus Lite does: dense by cosine, 'BM25' by word overlap."""

    def __init__(self, rows):
        self.rows = rows
        self.calls = []

    def has_collection(self, name):
        return True

    def search(self, collection, data, anns_field, limit, filter, search_params, output_fields, consistency_level):
        self.calls.append(anns_field)
        query = data[0]
        if anns_field == "dense":
            scored = [(cosine(r["dense"], query), r) for r in self.rows]
        else:
            words = set(query.lower().split())
            scored = [(float(sum(w in words for w in r["text"].lower().split())), r) for r in self.rows]
            scored = [s for s in scored if s[0] > 0]
        scored.sort(key=lambda s: -s[0])
        out = []
        for score, row in scored[:limit]:
            entity = {f: row[f] for f in output_fields if f in row}
            out.append({"id": row["pk"], "distance": score, "entity": entity})
        return [out]


class FakeEmbeddings:
    def embed_query(self, text):
        return [1.0, 0.0] if "dense" in text else [0.0, 1.0]


def fake_store(bm25_available=True, mode="hybrid"):
    """A CourseStore wired to FakeClient, without opening Milvus (the search logic is what is tested)."""
    from core.settings import Settings
    from core.store import CourseStore

    store = object.__new__(CourseStore)
    store.settings = Settings(_env_file=None, retrieval_mode=mode)
    store.embeddings = FakeEmbeddings()
    store.collection = "c"
    store.server_version = "v2.6.0" if bm25_available else "v2.3.5"
    store.bm25_available = bm25_available
    store._exists = True
    store._embedder_checked, store._embedder_problem = time.monotonic(), ""  # its vectors are its embeddings'
    store.client = FakeClient(
        [
            {"pk": "1", "text": "alpha words only", "dense": [1.0, 0.0], "source": "a.md"},
            {"pk": "2", "text": "beta keyword here", "dense": [0.6, 0.8], "source": "b.md"},
            {"pk": "3", "text": "gamma keyword keyword", "dense": [0.0, -1.0], "source": "c.md"},
        ]
    )
    return store


def test_hybrid_search_fuses_both_lists_and_scores_bm25_hits_by_cosine():
    store = fake_store()
    hits = store.search("dense keyword", 3, mode="hybrid", floor=-1.0)
    assert sorted(store.client.calls) == ["dense", "sparse"]  # no extra round trip for BM25 cosines
    by_id = {h.id: h for h in hits}
    assert by_id["2"].ranks == {"dense": 2, "bm25": 2}
    assert by_id["3"].cosine == 0.0 and by_id["3"].bm25 == 2.0  # cosine from the stored vector
    assert hits[-1].id == "1"  # found by one method only
    assert "dense" not in by_id["3"].metadata  # the vector is not leaked into citation metadata


def test_floor_applies_to_bm25_only_hits_too():
    store = fake_store()
    hits = store.search("dense keyword", 3, mode="hybrid", floor=0.25)
    assert "3" not in {h.id for h in hits}


def test_no_bm25_falls_back_to_dense_with_one_warning(caplog, monkeypatch):
    import core.store

    monkeypatch.setattr(core.store, "_WARNED", set())
    store = fake_store(bm25_available=False)
    with caplog.at_level(logging.WARNING, logger="core.store"):
        assert store.effective_mode("hybrid") == "dense"
        assert store.effective_mode("bm25") == "dense"
        store.search("dense keyword", 3, mode="hybrid", floor=-1.0)
        store.search("dense keyword", 3, floor=-1.0)
    assert store.client.calls == ["dense", "dense"]
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1 and "falling back to dense" in messages[0] and "v2.3.5" in messages[0]


def test_dense_only_deployment_is_not_warned(caplog, monkeypatch):
    import core.store

    monkeypatch.setattr(core.store, "_WARNED", set())
    store = fake_store(bm25_available=False, mode="dense")
    with caplog.at_level(logging.WARNING, logger="core.store"):
        assert store.effective_mode() == "dense"
    assert not caplog.records


def test_bm25_text_adds_where_the_chunk_sits():
    from langchain_core.documents import Document

    from core.store import bm25_text

    doc = Document(
        page_content="Return the value of the environment variable key.",
        metadata={"title": "os — Miscellaneous operating system interfaces", "headings": "Process Parameters",
                  "anchor": "os.getenv"},
    )  # fmt: skip
    text = bm25_text(doc)
    assert text.endswith(doc.page_content)
    assert "os getenv" in text and "Process Parameters" in text and text.startswith("os —")
    assert bm25_text(Document(page_content="plain", metadata={})) == "plain"


def test_sphinx_api_entries_are_sections_named_in_the_heading_path(tmp_path):
    """Each chunk of a long API entry must say which function it documents (for BM25 and for citations)."""
    from loaders.parsers import parse_html

    page = tmp_path / "os.html"
    page.write_text(
        "<html><body><div role='main'><h1>os module</h1><p>intro</p>"
        "<dl class='py function'><dt class='sig sig-object py' id='os.getenv'>"
        "<span class='sig-prename descclassname'>os.</span><span class='sig-name descname'>getenv</span>(key)</dt>"
        "<dd><p>Return the value of the environment variable.</p></dd></dl>"
        "<span class='target' id='func-list'></span><dl class='py class'>"
        "<dt class='sig sig-object py'><span class='sig-name descname'>list</span></dt>"
        "<dt class='sig sig-object py'><span class='sig-name descname'>list</span>(iterable)</dt>"
        "<dd><p>A mutable sequence.</p></dd></dl><p>after the entries</p>"
        "<dl><dt>term</dt><dd>a plain definition list</dd></dl></div></body></html>"
    )
    sections = parse_html(page).sections
    by_anchor = {}
    for section in sections:
        by_anchor.setdefault(section.anchor, section)  # the first section at each anchor
    assert by_anchor["os.getenv"].headings == ["os module", "os.getenv"]
    assert by_anchor["os.getenv"].text.startswith("os.getenv(key)")
    assert by_anchor["func-list"].headings[-1] == "list"
    assert "list(iterable)" in by_anchor["func-list"].text and "A mutable sequence." in by_anchor["func-list"].text
    tail = [s for s in sections if "after the entries" in s.text]
    assert tail and tail[0].headings == ["os module"]  # the entry's name ends with its <dl>


def test_keyword_text_adds_the_parts_of_dotted_and_snake_case_names():
    from core.retrieval import keyword_text

    text = keyword_text("Use os.getenv or pandas.read_csv here.")
    assert text.startswith("Use os.getenv or pandas.read_csv here.")
    assert text.split("\n")[-1].split() == ["os", "getenv", "pandas", "read", "csv"]
    assert keyword_text("plain words only") == "plain words only"


def test_bm25_counts_fully_only_when_the_question_names_an_identifier():
    from core.retrieval import FUSION_WEIGHTS, IDENTIFIER_FUSION_WEIGHTS, fusion_weights, identifier_names

    for named in (
        "what does os.getenv return",
        "why do I get a KeyError",
        "how is read_csv used",
        "what does len() do",
    ):
        assert identifier_names(named), named
        assert fusion_weights(named) == IDENTIFIER_FUSION_WEIGHTS
    for loose in ("how do I read an environment variable", "open the file 'data.csv' for reading", "List basics"):
        assert not identifier_names(loose), loose
        assert fusion_weights(loose) == FUSION_WEIGHTS
    assert FUSION_WEIGHTS["bm25"] < FUSION_WEIGHTS["dense"]


def test_bm25_counts_fully_only_for_a_name_its_hits_contain():
    from core.retrieval import FUSION_WEIGHTS, IDENTIFIER_FUSION_WEIGHTS, fusion_weights

    hits = ["os.getenv(key, default=None)\nReturn the value of the environment variable key.", "Lists are mutable."]
    assert fusion_weights("what does os.getenv return", hits) == IDENTIFIER_FUSION_WEIGHTS
    assert fusion_weights("what does getenv() return", hits) == IDENTIFIER_FUSION_WEIGHTS  # a part of os.getenv
    # The student's own name (no hit has it): BM25 is no better than for a loose question.
    assert fusion_weights("write `output_filename` to disk", hits) == FUSION_WEIGHTS
    assert fusion_weights("how do I read an environment variable", hits) == FUSION_WEIGHTS


def test_bm25_query_leaves_out_quoted_data_but_keeps_quoted_names_and_apostrophes():
    from core.retrieval import bm25_query, identifier_names

    # data the student works with: its words would match chunks by accident
    assert bm25_query("run the code in string \"print('Hello')\"").split() == ["run", "the", "code", "in", "string"]
    assert bm25_query("print 'hello world' twice").split() == ["print", "twice"]
    # a quoted name is the term the student asks about
    assert bm25_query("what does 'yield' do?").split() == ["what", "does", "yield", "do?"]
    assert bm25_query("dictionary from 'foo' and 'bar'").split() == ["dictionary", "from", "foo", "and", "bar"]
    assert bm25_query("'hello world'").split() == ["'hello", "world'"]  # nothing but a quoted value: keep it
    assert bm25_query("what's a tuple's length?") == "what's a tuple's length?"
    assert identifier_names("what's a KeyError's cause")  # apostrophes no longer hide the name
