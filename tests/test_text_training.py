"""Token feedback losses (against finite differences), counterexamples, and the text training loop on a
tiny random BERT."""

from __future__ import annotations

import pytest
import torch

from tests.tiny_models import tiny_classifier
from xil.data.text import demo_reviews
from xil.feedback import text as text_feedback
from xil.feedback.text import counterexamples, hint, rrr
from xil.feedback.text.counterexamples import build_pool
from xil.models.text import encode, word_mask_to_tokens
from xil.train.text_config import TextTrainConfig
from xil.train.text_loop import Cancelled, evaluate_text, predict_text, train_text

TEXTS = ["the soup was wonderful", "this lamp stopped working today", "great"]
LABELS = torch.tensor([1, 0, 1])


@pytest.fixture(scope="module")
def tiny():
    return tiny_classifier(seed=0)


@pytest.fixture(scope="module")
def demo():
    ds = demo_reviews()
    idx = ds.indices("train")[:16]
    texts = [ds.texts[i] for i in idx]
    # the leaked signature ("Posted from my tablet/phone") is the last word
    irrelevant = [[len(t.split()) - 1] for t in texts]
    relevant = [list(range(len(t.split()) - 4)) for t in texts]
    return texts, ds.labels[idx], irrelevant, relevant, list(ds.shortcut_words)


def double_model(seed: int = 0):
    model, tokenizer = tiny_classifier(seed=seed)
    return model.double().eval(), tokenizer


def test_registry_names_every_text_method():
    assert set(text_feedback.REGISTRY) == {"rrr", "hint", "ce"}
    assert text_feedback.REGISTRY["hint"].mask == "relevant"
    assert text_feedback.REGISTRY["ce"].augment is not None and text_feedback.REGISTRY["ce"].terms is None
    assert text_feedback.REGISTRY["rrr"].terms is not None


# --- RRR ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("variant", ["difference", "gradient", "normalised"])
def test_rrr_zero_without_marks_positive_with_marks(tiny, variant):
    model, tokenizer = tiny
    batch = encode(tokenizer, TEXTS)
    _, empty = rrr.terms(model, batch, LABELS, torch.zeros(batch.word_ids.shape), variant=variant)
    assert torch.equal(empty, torch.zeros(3))
    mask = word_mask_to_tokens(batch.word_ids, [[0], [1, 2], []])
    logits, marked = rrr.terms(model, batch, LABELS, mask, variant=variant)
    assert logits.shape == (3, 2)
    assert (marked[:2] > 0).all() and marked[2] == 0


def test_rrr_difference_equals_hand_computed_log_probability_gap():
    model, tokenizer = double_model()
    batch = encode(tokenizer, TEXTS[:2])
    mask = word_mask_to_tokens(batch.word_ids, [[1], [0, 3]]).double()
    with torch.no_grad():
        embeddings = model.get_input_embeddings()(batch.input_ids)
        log_p = torch.log_softmax(model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits, 1)
        embeddings[mask.bool()] = 0  # the marked tokens' word embeddings removed
        log_q = torch.log_softmax(model(inputs_embeds=embeddings, attention_mask=batch.attention_mask).logits, 1)
    _, got = rrr.terms(model, batch, LABELS[:2], mask, variant="difference", how="zero")
    torch.testing.assert_close(got.detach(), (log_p - log_q).pow(2).sum(dim=1))


def finite_difference_embedding_gradients(model, batch, h: float = 1e-6) -> torch.Tensor:
    """d/de sum_k log p(k | x) by central differences on every word-embedding coordinate."""
    embeddings = model.get_input_embeddings()(batch.input_ids).detach()

    def score(e):
        with torch.no_grad():
            logits = model(inputs_embeds=e, attention_mask=batch.attention_mask).logits
            return torch.log_softmax(logits, dim=1).sum(dim=1)  # per example: rows are independent

    grad = torch.zeros_like(embeddings)
    for t in range(embeddings.shape[1]):
        for d in range(embeddings.shape[2]):
            step = torch.zeros_like(embeddings)
            step[:, t, d] = h
            grad[:, t, d] = (score(embeddings + step) - score(embeddings - step)) / (2 * h)
    return grad


def test_rrr_equals_hand_computed_embedding_gradient_norm():
    model, tokenizer = double_model()
    batch = encode(tokenizer, TEXTS[:2])
    mask = word_mask_to_tokens(batch.word_ids, [[1], [0, 3]]).double()
    energy = finite_difference_embedding_gradients(model, batch).pow(2).sum(dim=2)  # ||g_t||^2
    raw = (mask * energy).sum(dim=1)
    normalised = raw / ((batch.word_ids >= 0).double() * energy).sum(dim=1)
    for variant, expected in (("gradient", raw), ("normalised", normalised)):
        _, got = rrr.terms(model, batch, LABELS[:2], mask, variant=variant)
        torch.testing.assert_close(got.detach(), expected, rtol=1e-4, atol=1e-12)


@pytest.mark.parametrize("variant", ["gradient", "normalised", "difference"])
def test_rrr_parameter_gradient_matches_finite_difference(variant):
    """The gradient penalties are trained through a double backward; check d penalty / d (one weight)."""
    model, tokenizer = double_model(seed=1)
    batch = encode(tokenizer, TEXTS[:2])
    mask = word_mask_to_tokens(batch.word_ids, [[0, 2], [1]]).double()
    weight = model.bert.encoder.layer[0].attention.self.query.weight

    def penalty():
        return rrr.terms(model, batch, LABELS[:2], mask, variant=variant)[1].sum()

    (analytic,) = torch.autograd.grad(penalty(), weight)
    h = 1e-6
    for i, j in [(0, 0), (3, 5), (17, 30)]:
        values = []
        for shift in (h, -h):
            with torch.no_grad():
                weight[i, j] += shift
            values.append(penalty().detach())  # outside no_grad: the penalty itself needs autograd
            with torch.no_grad():
                weight[i, j] -= shift
        torch.testing.assert_close(analytic[i, j], (values[0] - values[1]) / (2 * h), rtol=1e-4, atol=1e-10)


# --- HINT --------------------------------------------------------------------------------------


def test_hint_adds_nothing_without_relevant_marks(tiny):
    model, tokenizer = tiny
    batch = encode(tokenizer, TEXTS)
    _, none = hint.terms(model, batch, LABELS, torch.zeros(batch.word_ids.shape))
    assert torch.equal(none, torch.zeros(3))
    mask = word_mask_to_tokens(batch.word_ids, [[], [0, 1], []])
    _, some = hint.terms(model, batch, LABELS, mask)
    assert some[0] == 0 and some[2] == 0 and some[1] > 0


def test_hint_matches_hand_computed_attribution():
    model, tokenizer = double_model()
    batch = encode(tokenizer, TEXTS[:2])
    mask = word_mask_to_tokens(batch.word_ids, [[1, 2], [0]]).double()
    embeddings = model.get_input_embeddings()(batch.input_ids).detach().requires_grad_(True)
    logits = model(inputs_embeds=embeddings, attention_mask=batch.attention_mask).logits
    (grad,) = torch.autograd.grad(torch.log_softmax(logits, 1).gather(1, LABELS[:2, None]).sum(), embeddings)
    expected = []
    for n in range(2):
        keep = batch.word_ids[n] >= 0
        a = (grad[n] * embeddings[n]).sum(dim=1).abs()[keep]
        expected.append(((a / a.max()) - mask[n][keep]).pow(2).mean())
    _, got = hint.attribution_terms(model, batch, LABELS[:2], mask)  # the sufficiency term: test_text_hint.py
    torch.testing.assert_close(got.detach(), torch.stack(expected).detach())


# --- counterexamples ---------------------------------------------------------------------------


def test_counterexamples_swap_exactly_the_marked_tokens_from_the_other_label_pool(tiny):
    _, tokenizer = tiny
    texts = ["spielberg made a fine film", "hitchcock ruined it", "spielberg again lovely", "hitchcock dull"]
    labels = torch.tensor([1, 0, 1, 0])
    batch = encode(tokenizer, texts)
    words = [[0], [0], [0, 2], []]
    mask = word_mask_to_tokens(batch.word_ids, words)
    pool = build_pool(batch.input_ids, mask, labels)
    assert len(pool) == int(mask.sum())
    spielberg, hitchcock, lovely = tokenizer.convert_tokens_to_ids(["spielberg", "hitchcock", "lovely"])
    out, y = counterexamples.augment(batch, labels, mask, pool, torch.Generator().manual_seed(0))
    assert len(out) == 4 + 3 and torch.equal(y, torch.tensor([1, 0, 1, 0, 1, 0, 1]))
    assert torch.equal(out.input_ids[:4], batch.input_ids)  # originals untouched
    keep = torch.tensor([0, 1, 2])
    counter = out.input_ids[4:]
    marked = mask[keep].bool()
    assert torch.equal(counter[~marked], batch.input_ids[keep][~marked])  # nothing else changes
    assert torch.equal(out.attention_mask[4:], batch.attention_mask[keep])
    # label-1 texts get tokens marked in label-0 texts and the other way round
    assert set(counter[0][marked[0]].tolist()) <= {hitchcock}
    assert set(counter[2][marked[2]].tolist()) <= {hitchcock}
    assert set(counter[1][marked[1]].tolist()) <= {spielberg, lovely}


def test_counterexamples_leave_unmarked_batches_alone(tiny):
    _, tokenizer = tiny
    batch = encode(tokenizer, TEXTS)
    mask = torch.zeros(batch.word_ids.shape)
    pool = build_pool(batch.input_ids, word_mask_to_tokens(batch.word_ids, [[0], [0], []]), LABELS)
    out, y = counterexamples.augment(batch, LABELS, mask, pool)
    assert out is batch and y is LABELS


# --- training loop -----------------------------------------------------------------------------


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
@pytest.mark.parametrize("method", ["none", "rrr", "hint", "ce"])
def test_train_text_runs_each_method(demo, method, precision, monkeypatch):
    monkeypatch.setenv("XIL_PRECISION", precision)
    texts, labels, irrelevant, relevant, shortcut = demo
    seen = []
    cfg = TextTrainConfig(method=method, epochs=1, min_steps=0, batch_size=8, device="cpu")
    model, tokenizer, history = train_text(
        cfg, texts, labels, irrelevant, relevant, 2, progress=seen.append, init=tiny_classifier()
    )
    assert not model.training and len(history) == 1 and seen == history
    record = history[0]
    assert {"epoch", "epochs", "loss", "ce", "penalty", "seconds", "lambda_"} <= set(record)
    if method == "rrr":  # a fixed default: its penalty is in cross-entropy units
        assert record["lambda_"] == text_feedback.REGISTRY["rrr"].default_lambda and record["penalty"] > 0
    elif method == "hint":  # a fixed default too (sufficiency gap plus weighted attribution)
        assert record["lambda_"] == text_feedback.REGISTRY["hint"].default_lambda and record["penalty"] > 0
    else:
        assert record["lambda_"] is None and record["penalty"] == 0
    probs = predict_text(model, tokenizer, texts, batch_size=5)
    assert probs.shape == (16, 2)
    assert abs(float(probs.sum(axis=1).mean()) - 1) < 1e-5
    metrics = evaluate_text(model, tokenizer, texts, labels, shortcut)
    assert 0 <= metrics["acc"] <= 1 and 0 < metrics["shortcut_attr"] < 1


def test_train_text_fixed_lambda_and_scale(demo):
    texts, labels, irrelevant, relevant, _ = demo
    cfg = TextTrainConfig(method="rrr", epochs=1, min_steps=0, batch_size=8, lambda_=3.0, device="cpu")
    *_, history = train_text(cfg, texts, labels, irrelevant, relevant, 2, init=tiny_classifier())
    assert history[0]["lambda_"] == 3.0 and history[0]["loss"] > history[0]["ce"]
    cfg = TextTrainConfig(method="rrr", epochs=1, min_steps=0, batch_size=8, lambda_scale=0.5, device="cpu")
    *_, history = train_text(cfg, texts, labels, irrelevant, relevant, 2, init=tiny_classifier())
    assert history[0]["lambda_"] == 0.5 * text_feedback.REGISTRY["rrr"].default_lambda


def test_progress_returning_false_cancels(demo):
    texts, labels, *_ = demo
    cfg = TextTrainConfig(method="none", epochs=3, min_steps=0, batch_size=8, device="cpu")
    seen = []
    init = tiny_classifier()

    def progress(record):
        seen.append(record)
        return False

    with pytest.raises(Cancelled):
        train_text(cfg, texts, labels, None, None, 2, progress=progress, init=init)
    assert len(seen) == 1
    assert init[0].get_input_embeddings().weight.requires_grad  # the frozen table is given back as it was


def test_unknown_method_and_mismatched_head_are_rejected(demo):
    texts, labels, *_ = demo
    with pytest.raises(ValueError, match="unknown feedback method"):
        train_text(TextTrainConfig(method="rrr_g"), texts, labels, None, None, 2, init=tiny_classifier())
    with pytest.raises(ValueError, match="outputs"):
        train_text(TextTrainConfig(device="cpu"), texts, labels, None, None, 3, init=tiny_classifier())


def test_config_round_trips_and_rejects_unknown_keys():
    cfg = TextTrainConfig(method="ce", ce_copies=2, lambda_=0.5)
    assert TextTrainConfig.from_dict(cfg.to_dict()) == cfg
    with pytest.raises(ValueError, match="unknown training settings"):
        TextTrainConfig.from_dict({**cfg.to_dict(), "arch": "mlp"})


def test_small_datasets_train_for_the_minimum_number_of_steps():
    cfg = TextTrainConfig(epochs=2, batch_size=16, min_steps=100)
    assert cfg.epochs_for(150) == 10  # 10 batches per epoch
    assert cfg.epochs_for(1000) == 2  # 63 batches: two epochs are already 126 steps
    assert cfg.epochs_for(1) == 100
    assert TextTrainConfig(epochs=3, min_steps=0).epochs_for(5) == 3


@pytest.mark.slow
def test_text_shortcut_benchmark_runs_end_to_end_on_a_tiny_backbone(tmp_path):
    from conftest import SHARED_DATA

    from xil.bench import text_shortcut
    from xil.models.text import save_classifier

    folder = SHARED_DATA / "rt-polarity"
    if not (folder / "rt-polarity.pos").exists():
        pytest.skip(f"{folder} not found (the shared data folder is absent)")
    backbone = str(save_classifier(*tiny_classifier(num_labels=2), tmp_path / "tiny"))
    result = text_shortcut.run(folder, n=60, epochs=1, max_length=16, methods=("ce",), backbone=backbone)
    assert result["backbone"] == backbone and result["n_train"] + result["n_test"] == 60
    assert result["epochs"] == TextTrainConfig(epochs=1).epochs_for(result["n_train"]) > 1
    assert set(result["methods"]) == {"ce"} and 0 <= result["methods"]["ce"]["acc"] <= 1
    assert 0 <= result["vanilla_shortcut_attr"] <= 1 and result["precision"] == "float32"
