"""RiT retrieval on the bundled MiniLM sentence encoder: paraphrases find their correction, unrelated
prompts find nothing, the revised prompt's format, persistence, and both encoder backends."""

from __future__ import annotations

import json

import numpy as np
import pytest

from xil.ranking.encoder import load_encoder
from xil.ranking.revision import RevisionIndex

EGG_PROMPT = "How do I hard-boil an egg?"
EGG_ANSWER = "Cover the eggs with cold water, bring to a boil, then rest them off the heat for 10 minutes."
HONEY_RULE = "Never recommend giving honey to babies under one year old."


@pytest.fixture(scope="module")
def index() -> RevisionIndex:
    index = RevisionIndex()
    index.add(EGG_ANSWER, "answer", source_prompt=EGG_PROMPT)
    index.add(HONEY_RULE, "rule")
    index.add("Do not advise mixing bleach with ammonia; the fumes are toxic.", "rule")
    return index


def test_a_paraphrase_retrieves_its_correction(index):
    hits = index.query("What's the right way to make hard boiled eggs?", threshold=0.6)
    assert hits and hits[0][0].text == EGG_ANSWER and hits[0][1] >= 0.6
    assert [c.text for c, _ in index.query("Can I give my baby some honey?", threshold=0.6)] == [HONEY_RULE]


def test_an_unrelated_prompt_retrieves_nothing(index):
    assert index.query("Who painted the Mona Lisa?", threshold=0.6) == []
    out = index.revise("Who painted the Mona Lisa?", threshold=0.6)
    assert out == {"prompt": "Who painted the Mona Lisa?", "retrieved": []}


def test_threshold_above_one_retrieves_nothing(index):
    assert index.query(EGG_PROMPT, threshold=1.01) == []  # even the stored key itself (cosine 1)
    assert index.query(EGG_PROMPT, threshold=0.99)[0][0].source_prompt == EGG_PROMPT


def test_revised_prompt_format_is_exact(index):
    query = "What's the right way to make hard boiled eggs?"
    out = index.revise(query, threshold=0.6)
    assert out["prompt"] == f"Question: {EGG_PROMPT} Answer: {EGG_ANSWER} Question: {query} Answer:"
    assert out["retrieved"][0]["kind"] == "answer" and out["retrieved"][0]["similarity"] >= 0.6
    query = "Is honey okay for a newborn?"
    assert index.revise(query, threshold=0.5)["prompt"] == f"{HONEY_RULE} Question: {query} Answer:"


def test_k_limits_and_orders_the_hits(index):
    hits = index.query(EGG_PROMPT, threshold=-1.0, k=2)
    assert len(hits) == 2 and hits[0][1] >= hits[1][1]


def test_add_validates_and_remove_drops(index):
    with pytest.raises(ValueError):
        index.add("   ")
    with pytest.raises(ValueError):
        index.add("text", kind="opinion")
    with pytest.raises(ValueError):
        index.add("an answer without its question", kind="answer")
    local = RevisionIndex(encoder=index.encoder)
    first = local.add(HONEY_RULE)
    second = local.add("Dogs must never be given chocolate.")
    local.remove(first)
    assert [c.id for c in local.items] == [second] and local.embeddings.shape[0] == 1
    assert local.query("Can I give honey to my baby?", threshold=0.6) == []
    with pytest.raises(KeyError):
        local.remove(first)


@pytest.mark.parametrize("to_file", [False, True])
def test_to_dict_round_trip(index, tmp_path, to_file):
    data = index.to_dict(tmp_path / "emb.npy" if to_file else None)
    data = json.loads(json.dumps(data))  # JSON-ready
    assert ("embeddings_path" in data) == to_file
    restored = RevisionIndex.from_dict(data)
    assert restored.items == index.items
    np.testing.assert_allclose(restored.embeddings, index.embeddings, atol=1e-6)
    query = "What's the right way to make hard boiled eggs?"
    assert restored.revise(query) == index.revise(query)
    assert restored.add("Another rule.") == len(index)  # ids continue, never reused


def test_sentence_transformers_backend_matches_mean_pooling():
    texts = [EGG_PROMPT, "Who painted the Mona Lisa?"]
    pooled = load_encoder("transformers").encode(texts)
    st = load_encoder("sentence-transformers").encode(texts)
    assert pooled.shape == st.shape == (2, 384)
    np.testing.assert_allclose(np.linalg.norm(pooled, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose((pooled * st).sum(axis=1), 1.0, atol=1e-4)
