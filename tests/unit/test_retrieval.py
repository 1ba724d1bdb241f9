from core.retrieval import Hit, apply_floor, fuse_hits, rrf_fuse
from core.store import server_supports_bm25


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
