"""Text HINT: the attribution reward on relevant words plus the sufficiency term that makes the model
use only them (xil/feedback/text/hint.py), and the token removals it shares with RRR."""

from __future__ import annotations

import copy

import pytest
import torch

from tests.tiny_models import tiny_classifier
from xil.feedback.text import hint
from xil.feedback.text.removal import HOWS, logits_without
from xil.models.text import Encoded, encode, word_mask_to_tokens

TEXTS = ["the soup was wonderful", "this lamp stopped working today"]
LABELS = torch.tensor([1, 0])


def double_model(seed: int = 0):
    model, tokenizer = tiny_classifier(seed=seed)
    return model.double().eval(), tokenizer


def unread(batch: Encoded, model, tokens: torch.Tensor, how: str) -> tuple[Encoded, object]:
    """A batch and model in which the prediction cannot depend on ``tokens`` under removal ``how``:
    their word embeddings are zero (for "zero"), or nothing attends to them (for "attention")."""
    if how == "attention":
        return Encoded(batch.input_ids, batch.attention_mask * (~tokens.bool()).long(), batch.word_ids), model
    model = copy.deepcopy(model)
    with torch.no_grad():
        model.get_input_embeddings().weight[batch.input_ids[tokens.bool()]] = 0
    return batch, model


@pytest.mark.parametrize("rho", [0.0, 0.1])
@pytest.mark.parametrize("how", ["zero", "attention"])
def test_hint_is_higher_when_the_prediction_depends_on_a_word_not_marked_relevant(how, rho):
    model, tokenizer = double_model()
    with torch.no_grad():  # a random tiny model barely moves its logits; a larger head makes the gap visible
        model.classifier.weight.mul_(100)
    batch = encode(tokenizer, TEXTS[:1])
    relevant = word_mask_to_tokens(batch.word_ids, [[0, 1, 2]]).double()  # "wonderful" is not relevant
    other = (batch.word_ids >= 0).double() * (1 - relevant)
    _, uses = hint.terms(model, batch, LABELS[:1], relevant, how=how, attribution_weight=rho)
    ignoring_batch, ignoring_model = unread(batch, model, other, how)
    logits, ignores = hint.terms(ignoring_model, ignoring_batch, LABELS[:1], relevant, how=how, attribution_weight=rho)
    sufficiency = hint.sufficiency_terms(ignoring_model, ignoring_batch, logits, relevant, how)
    assert float(sufficiency.detach()) < 1e-20  # removing a word the model does not read changes nothing
    assert float(uses.detach()) > float(ignores.detach()) + 1e-6


def test_hint_is_the_hand_computed_sufficiency_gap_plus_the_weighted_attribution():
    model, tokenizer = double_model()
    batch = encode(tokenizer, TEXTS)
    relevant = word_mask_to_tokens(batch.word_ids, [[1, 2], [0, 4]]).double()
    with torch.no_grad():
        log_p = torch.log_softmax(model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits, 1)
        embeddings = model.get_input_embeddings()(batch.input_ids)
        embeddings[((batch.word_ids >= 0) & ~relevant.bool())] = 0  # every word not marked relevant removed
        log_q = torch.log_softmax(model(inputs_embeds=embeddings, attention_mask=batch.attention_mask).logits, 1)
    gap = (log_p - log_q).pow(2).sum(dim=1)
    _, attribution = hint.attribution_terms(model, batch, LABELS, relevant)
    _, got = hint.terms(model, batch, LABELS, relevant, how="zero", attribution_weight=0.25)
    torch.testing.assert_close(got.detach(), gap + 0.25 * attribution.detach())
    _, plain = hint.terms(model, batch, LABELS, relevant, how="zero", attribution_weight=0.0)
    torch.testing.assert_close(plain.detach(), gap)


@pytest.mark.parametrize("how", HOWS)
def test_hint_parameter_gradient_flows_and_matches_finite_difference(how):
    model, tokenizer = double_model(seed=1)
    batch = encode(tokenizer, TEXTS)
    relevant = word_mask_to_tokens(batch.word_ids, [[0, 3], [1, 2]]).double()
    weight = model.bert.encoder.layer[0].attention.self.query.weight

    def penalty():
        return hint.terms(model, batch, LABELS, relevant, how=how, attribution_weight=0.5)[1].sum()

    (analytic,) = torch.autograd.grad(penalty(), weight)
    assert torch.isfinite(analytic).all() and analytic.abs().sum() > 0
    h = 1e-6
    for i, j in [(0, 0), (3, 5), (17, 30)]:
        values = []
        for shift in (h, -h):
            with torch.no_grad():
                weight[i, j] += shift
            values.append(penalty().detach())
            with torch.no_grad():
                weight[i, j] -= shift
        torch.testing.assert_close(analytic[i, j], (values[0] - values[1]) / (2 * h), rtol=1e-4, atol=1e-10)


def test_hint_adds_nothing_for_texts_without_relevant_marks_or_with_every_word_relevant():
    model, tokenizer = double_model()
    batch = encode(tokenizer, TEXTS)
    _, none = hint.terms(model, batch, LABELS, torch.zeros(batch.word_ids.shape, dtype=torch.float64))
    assert torch.equal(none, torch.zeros(2, dtype=none.dtype))
    everything = (batch.word_ids >= 0).double()
    suff = hint.sufficiency_terms(model, batch, model(**_inputs(batch)).logits, everything)
    assert torch.equal(suff, torch.zeros(2, dtype=suff.dtype))  # nothing outside R to remove


def _inputs(batch: Encoded) -> dict:
    return {"input_ids": batch.input_ids, "attention_mask": batch.attention_mask}


def test_removals_leave_the_logits_alone_when_nothing_is_dropped_and_reject_unknown_ones():
    model, tokenizer = double_model()
    batch = encode(tokenizer, TEXTS)
    with torch.no_grad():
        full = model(**_inputs(batch)).logits
        for how in HOWS:
            torch.testing.assert_close(logits_without(model, batch, torch.zeros(batch.word_ids.shape), how), full)
    with pytest.raises(ValueError, match="unknown way"):
        logits_without(model, batch, torch.zeros(batch.word_ids.shape), "delete")


def test_rrr_difference_removes_the_marked_words_from_attention_by_default():
    from xil.feedback.text import rrr

    model, tokenizer = double_model()
    batch = encode(tokenizer, TEXTS)
    mask = word_mask_to_tokens(batch.word_ids, [[1], [0, 3]]).double()
    with torch.no_grad():
        log_p = torch.log_softmax(model(**_inputs(batch)).logits, 1)
        kept = batch.attention_mask * (~mask.bool()).long()  # nothing attends to the marked tokens
        log_q = torch.log_softmax(model(input_ids=batch.input_ids, attention_mask=kept).logits, 1)
    assert rrr.HOW == "attention"
    _, got = rrr.terms(model, batch, LABELS, mask, variant="difference")
    torch.testing.assert_close(got.detach(), (log_p - log_q).pow(2).sum(dim=1))
