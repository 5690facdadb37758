"""Token-level explainers for transformer text classifiers and the text explanation metrics."""

from __future__ import annotations

import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from tests.tiny_models import tiny_classifier
from xil.explain import text_metrics
from xil.explain.text import REGISTRY, atman, explain_text, word_scores
from xil.explain.text import input_x_gradient as ixg
from xil.explain.text import layer_integrated_gradients as lig
from xil.explain.text import occlusion as occ
from xil.models.text import Encoded, encode

TEXTS = ["The coffee was wonderful. Posted from my tablet", "A waste of money"]


@pytest.fixture(scope="module")
def tiny():
    """The tiny random BERT with larger weights, so that its outputs depend visibly on the input."""
    model, tokenizer = tiny_classifier()
    torch.manual_seed(1)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Linear, nn.Embedding)):
                module.weight.normal_(0.0, 0.2)
    return model.eval(), tokenizer


@pytest.fixture(scope="module")
def batch(tiny) -> Encoded:
    return encode(tiny[1], TEXTS)


def target_logit(model, encoded: Encoded, input_ids: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        logits = model(input_ids=input_ids, attention_mask=encoded.attention_mask).logits
    return logits.gather(1, target[:, None]).squeeze(1)


def log_p(model, encoded: Encoded, target: torch.Tensor, **kwargs) -> torch.Tensor:
    kwargs.setdefault("attention_mask", encoded.attention_mask)
    with torch.no_grad():
        logits = model(**kwargs).logits
    return torch.log_softmax(logits, dim=1).gather(1, target[:, None]).squeeze(1)


class BagOfWords(nn.Module):
    """Hand-built classifier: one-dimensional word embeddings, logits = (0, sum of kept embeddings)."""

    def __init__(self, weights: list[float]) -> None:
        super().__init__()
        self.config = SimpleNamespace(pad_token_id=0)
        self.embed = nn.Embedding(len(weights), 1)
        with torch.no_grad():
            self.embed.weight.copy_(torch.tensor(weights)[:, None])

    def get_input_embeddings(self) -> nn.Module:
        return self.embed

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None):
        embeds = self.embed(input_ids) if inputs_embeds is None else inputs_embeds
        score = (embeds[..., 0] * attention_mask).sum(dim=1)
        return SimpleNamespace(logits=torch.stack([torch.zeros_like(score), score], dim=1))


# ids: 0 [PAD] (weight 0), 1 [CLS], 2 [SEP], 3 good (+2), 4 bad (-1), 5 neutral (+0.5)
BAG_WEIGHTS = [0.0, 0.3, 0.3, 2.0, -1.0, 0.5]
BAG = Encoded(
    input_ids=torch.tensor([[1, 3, 4, 5, 2], [1, 4, 2, 0, 0]]),
    attention_mask=torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]]),
    word_ids=torch.tensor([[-1, 0, 1, 2, -1], [-1, 0, -1, -1, -1]]),
)


def test_registry_has_the_four_methods():
    assert set(REGISTRY) == {"layer_integrated_gradients", "input_x_gradient", "occlusion", "atman"}
    assert all(e.title and e.name == name for name, e in REGISTRY.items())


@pytest.mark.parametrize("method", sorted(REGISTRY))
def test_shapes_special_tokens_and_default_target(tiny, batch, method):
    model, _ = tiny
    attr, probs = explain_text(model, batch, method)
    assert attr.shape == batch.input_ids.shape and attr.dtype == torch.float32
    assert probs.shape == (2, 2) and torch.allclose(probs.sum(dim=1), torch.ones(2))
    assert not attr.requires_grad and torch.isfinite(attr).all()
    assert (attr[batch.word_ids < 0] == 0).all()
    assert (attr[batch.word_ids >= 0] != 0).any()
    same, _ = explain_text(model, batch, method, target=probs.argmax(dim=1))
    assert torch.allclose(attr, same, atol=1e-6)
    other, _ = explain_text(model, batch, method, target=1 - probs.argmax(dim=1))
    assert not torch.allclose(attr, other)


def test_unknown_method_names_the_choices(tiny, batch):
    with pytest.raises(ValueError, match="atman"):
        explain_text(tiny[0], batch, "shap")


def test_word_scores_sum_pieces_into_words(tiny):
    encoded = encode(tiny[1], ["unbelievably good"])
    n_pieces = int((encoded.word_ids[0] == 0).sum())
    assert n_pieces > 1  # "unbelievably" is split into word pieces
    row = torch.arange(encoded.input_ids.shape[1], dtype=torch.float32)
    expected = [row[encoded.word_ids[0] == w].sum().item() for w in (0, 1)]
    assert word_scores(row, encoded.word_ids[0], 2).tolist() == pytest.approx(expected)


def test_layer_integrated_gradients_completeness(tiny, batch):
    model, _ = tiny
    target = torch.tensor([0, 1])
    attr = lig.attribute(model, batch, target)
    gap = target_logit(model, batch, batch.input_ids, target) - target_logit(
        model, batch, lig.baseline_ids(model, batch), target
    )
    assert attr.sum(dim=1).tolist() == pytest.approx(gap.tolist(), rel=0.05, abs=1e-3)
    assert (lig.baseline_ids(model, batch)[batch.word_ids < 0] == batch.input_ids[batch.word_ids < 0]).all()


def test_input_x_gradient_by_hand(tiny, batch):
    model, _ = tiny
    target = torch.tensor([1, 0])
    embeds = model.get_input_embeddings()(batch.input_ids).detach().requires_grad_(True)
    logits = model(inputs_embeds=embeds, attention_mask=batch.attention_mask).logits
    logits.gather(1, target[:, None]).sum().backward()
    expected = (embeds * embeds.grad).sum(dim=-1) * (batch.word_ids >= 0)
    assert torch.allclose(ixg.attribute(model, batch, target), expected, atol=1e-6)


def test_occlusion_is_the_log_probability_drop_of_a_blanked_token(tiny, batch):
    model, _ = tiny
    target = torch.tensor([1, 1])
    attr = occ.attribute(model, batch, target)
    embeds = model.get_input_embeddings()(batch.input_ids).detach()
    i = 2
    blanked = embeds.clone()
    blanked[:, i] = 0.0
    expected = log_p(model, batch, target, input_ids=batch.input_ids) - log_p(
        model, batch, target, inputs_embeds=blanked
    )
    assert attr[:, i].tolist() == pytest.approx(expected.tolist(), abs=1e-5)


def test_bag_of_words_signs_and_exact_values():
    """On a linear model every method's sign follows the word's weight; the gradient ones are exact."""
    model = BagOfWords(BAG_WEIGHTS)
    for method in ("layer_integrated_gradients", "input_x_gradient"):
        attr, _ = explain_text(model, BAG, method, target=torch.tensor([1, 1]))
        assert attr.flatten().tolist() == pytest.approx([0, 2.0, -1.0, 0.5, 0, 0, -1.0, 0, 0, 0], abs=1e-5)
    attr, probs = explain_text(model, BAG, "occlusion", target=torch.tensor([1, 1]))
    assert attr[0, 1] > attr[0, 3] > 0 > attr[0, 2] and attr[1, 1] < 0
    # logit 2.1 -> 0.1 when "good" is blanked: log sigmoid(2.1) - log sigmoid(0.1)
    assert attr[0, 1].item() == pytest.approx(math.log((1 + math.exp(-0.1)) / (1 + math.exp(-2.1))), abs=1e-5)
    assert probs[0, 1].item() == pytest.approx(1 / (1 + math.exp(-2.1)))


def test_atman_without_suppression_changes_nothing(tiny, batch):
    model, _ = tiny
    target = torch.tensor([0, 1])
    assert atman.attribute(model, batch, target, suppression=0.0).abs().max() < 1e-5
    scores = atman.attribute(model, batch, target)
    assert scores[batch.word_ids >= 0].abs().min() > 0
    assert (scores[batch.word_ids < 0] == 0).all()


def test_atman_full_suppression_is_hiding_the_word_from_attention(tiny, batch):
    model, _ = tiny
    target = torch.tensor([1, 0])
    scores = atman.attribute(model, batch, target, suppression=1 - 1e-12)
    for row, token in ((0, 4), (1, 3)):  # "wonderful." is two pieces ("wonderful", "."), "of" one
        pieces = batch.word_ids[row] == batch.word_ids[row, token]
        hidden = batch.attention_mask.clone()
        hidden[row, pieces] = 0
        expected = log_p(model, batch, target, input_ids=batch.input_ids) - log_p(
            model, batch, target, input_ids=batch.input_ids, attention_mask=hidden
        )
        assert scores[row, pieces].sum().item() == pytest.approx(expected[row].item(), abs=1e-4)
        assert torch.allclose(scores[row, pieces], scores[row, token])  # spread evenly over the pieces
    assert int((batch.word_ids[0] == 3).sum()) == 2


def test_atman_needs_no_gradients(tiny, batch, monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("AtMan must not run a backward pass")

    monkeypatch.setattr(torch.autograd, "grad", refuse)
    monkeypatch.setattr(torch.autograd, "backward", refuse)
    model, _ = tiny
    with torch.no_grad():
        attr, _ = explain_text(model, batch, "atman")
    with torch.inference_mode():
        again, _ = explain_text(model, batch, "atman")
    assert not attr.requires_grad and torch.allclose(attr, again)
    with pytest.raises(ValueError):
        atman.attribute(model, batch, torch.tensor([0, 0]), suppression=1.0)


def test_wrong_reason_share_on_marked_tokens():
    attr = [np.array([1.0, -3.0, 0.0, 4.0]), np.array([2.0, 2.0]), np.array([0.5, 0.5, 1.0])]
    marked = [np.array([0, 1, 0, 0]), np.array([0, 0]), np.array([1, 1, 0])]
    assert text_metrics.wrong_reason(attr, marked) == pytest.approx((3 / 8 + 1 / 2) / 2)
    assert math.isnan(text_metrics.wrong_reason([np.ones(2)], [np.zeros(2)]))


def test_plausibility_token_f1_iou_auprc_by_hand():
    attr = np.array([[0.9, -0.8, 0.7, 0.2, 0.1], [0.0, 0.3, -0.2, 0.1, 0.05]])
    rationale = np.array([[1, 0, 1, 0, 0], [0, 1, 1, 1, 0]])
    # row 0: top-2 = {0, 1}, overlap 1 -> F1 1/2, IoU 1/3; row 1: top-3 = {1, 2, 3} = rationale
    assert text_metrics.token_f1(attr, rationale) == pytest.approx((1 / 2 + 1) / 2)
    assert text_metrics.iou(attr, rationale) == pytest.approx((1 / 3 + 1) / 2)
    assert text_metrics.auprc(attr, rationale) == pytest.approx((0.5 * 1 + 0.5 * 2 / 3 + 1.0) / 2)
    # `valid` drops positions (e.g. [CLS]/[SEP]) before ranking: without the -0.8 row 0 ranks right
    valid = np.array([[1, 0, 1, 1, 1], [1, 1, 1, 1, 1]])
    assert text_metrics.token_f1(attr, rationale, valid) == pytest.approx(1.0)
    assert text_metrics.iou(attr, rationale, valid) == pytest.approx(1.0)


def test_average_precision_matches_scikit_learn_with_ties():
    from sklearn.metrics import average_precision_score

    rng = np.random.default_rng(0)
    for _ in range(20):
        scores = rng.integers(0, 4, size=12).astype(float)  # many ties
        labels = rng.integers(0, 2, size=12)
        if labels.any():
            assert text_metrics.average_precision(scores, labels) == pytest.approx(
                average_precision_score(labels, scores)
            )
    assert text_metrics.average_precision([0.5, 0.5, 0.5, 0.1], [1, 0, 1, 0]) == pytest.approx(2 / 3)


def test_faithfulness_full_removal_and_finite(tiny, batch):
    model, _ = tiny
    attr, probs = explain_text(model, batch, "occlusion")
    target = probs.argmax(dim=1)
    content = batch.word_ids >= 0
    embeds = model.get_input_embeddings()(batch.input_ids).detach()
    p_x = log_p(model, batch, target, inputs_embeds=embeds).exp()
    p_empty = log_p(model, batch, target, inputs_embeds=embeds * ~content[..., None]).exp()
    comp = text_metrics.comprehensiveness(model, batch, attr, fractions=1.0)
    assert comp.tolist() == pytest.approx((p_x - p_empty).tolist(), abs=1e-5)
    assert text_metrics.sufficiency(model, batch, attr, fractions=(1.0,)) == pytest.approx([0, 0], abs=1e-5)
    random = torch.randn(attr.shape, generator=torch.Generator().manual_seed(0))
    for scores in (attr, random):
        for metric in (text_metrics.comprehensiveness, text_metrics.sufficiency):
            values = metric(model, batch, scores, target)
            assert values.shape == (2,) and np.isfinite(values).all()


def test_faithfulness_prefers_the_right_attribution_on_a_linear_model():
    model = BagOfWords(BAG_WEIGHTS)
    right = torch.tensor([[0, 2.0, -1.0, 0.5, 0], [0, -1.0, 0, 0, 0]])
    comp_right = text_metrics.comprehensiveness(model, BAG, right, torch.tensor([1, 1]), fractions=0.3)
    comp_wrong = text_metrics.comprehensiveness(model, BAG, -right, torch.tensor([1, 1]), fractions=0.3)
    suff_right = text_metrics.sufficiency(model, BAG, right, torch.tensor([1, 1]), fractions=0.3)
    suff_wrong = text_metrics.sufficiency(model, BAG, -right, torch.tensor([1, 1]), fractions=0.3)
    # text 0, k = 1: removing "good" (+2) vs removing "bad" (-1)
    assert comp_right[0] > 0 > comp_wrong[0]
    assert suff_right[0] < suff_wrong[0]


def test_minilm_all_methods():
    from xil.models.text import load_classifier

    model, tokenizer = load_classifier(num_labels=2)
    encoded = encode(tokenizer, ["The soup was lovely from start to finish", "It broke after a week"])
    for method in REGISTRY:
        attr, probs = explain_text(model, encoded, method)
        assert attr.shape == encoded.input_ids.shape and probs.shape == (2, 2)
        assert torch.isfinite(attr).all() and (attr[encoded.word_ids < 0] == 0).all()
        assert (attr[encoded.word_ids >= 0] != 0).any()
        words = word_scores(attr[0], encoded.word_ids[0], 8)
        assert words.shape == (8,) and words.sum().item() == pytest.approx(attr[0].sum().item(), abs=1e-5)


def test_chunking_does_not_change_scores(tiny, batch):
    model, _ = tiny
    target = torch.tensor([1, 0])
    assert torch.allclose(
        atman.attribute(model, batch, target, chunk=3), atman.attribute(model, batch, target), atol=1e-6
    )
    attr = occ.attribute(model, batch, target)
    from xil.explain.text.common import content_mask, removed_log_probs

    rows, cols = content_mask(batch).nonzero(as_tuple=True)
    removed = torch.zeros(len(rows), batch.input_ids.shape[1], dtype=torch.bool)
    removed[torch.arange(len(rows)), cols] = True
    small = removed_log_probs(model, batch, target, rows, removed, chunk=2)
    assert torch.allclose(removed_log_probs(model, batch, target, rows, removed), small, atol=1e-6)
    assert attr[rows, cols].abs().min() > 0


def test_explanation_precision_follows_the_setting(tiny, batch, monkeypatch):
    model, _ = tiny
    target = torch.tensor([1, 0])
    monkeypatch.setenv("XIL_PRECISION", "float32")
    reference, probs = explain_text(model, batch, "layer_integrated_gradients", target=target)
    assert torch.equal(reference, lig.attribute(model, batch, target).float())
    monkeypatch.setenv("XIL_PRECISION", "bfloat16")
    reduced, reduced_probs = explain_text(model, batch, "layer_integrated_gradients", target=target)
    assert not torch.equal(reduced, reference)  # it did compute in bfloat16 ...
    content = batch.word_ids >= 0
    assert torch.corrcoef(torch.stack([reduced[content], reference[content]]))[0, 1] > 0.99  # ... closely
    assert torch.equal(reduced_probs, probs)  # the prediction is never reduced
    monkeypatch.setenv("XIL_PRECISION", "float16")
    with pytest.raises(ValueError, match="XIL_PRECISION"):
        explain_text(model, batch, "atman")


@pytest.mark.slow
def test_text_latency_benchmark_reports_every_explainer(monkeypatch):
    from xil.bench.text_latency import explain_latency_text, peak_mb

    monkeypatch.setenv("XIL_PRECISION", "float32")
    result = explain_latency_text(repeats=1, length=32, memory=False)
    assert set(result["explain_ms_text"]) == set(REGISTRY) and all(v > 0 for v in result["explain_ms_text"].values())
    assert result["explain_precision_text"] == "float32" and result["explain_peak_mb_text"] == {}
    assert peak_mb("atman", 32) > 0  # a fresh process that loads the model and explains twice


def test_an_empty_text_gets_no_attribution(tiny):
    model, tokenizer = tiny
    encoded = encode(tokenizer, ["", "A waste of money"])
    for method in REGISTRY:
        attr, _ = explain_text(model, encoded, method)
        assert (attr[0] == 0).all() and (attr[1] != 0).any(), method
    only_empty = encode(tokenizer, [""])
    assert (atman.attribute(model, only_empty, torch.tensor([0])) == 0).all()
