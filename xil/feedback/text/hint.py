"""HINT on tokens: the reward of attribution on relevant words (Selvaraju et al. 2019, as in the XIL
typology of Friedrich et al. 2023), plus a sufficiency term that makes the model *use* only those
words. With ``R_n`` the tokens of the words marked relevant, ``W_n`` the word tokens of the text (no
special tokens, no padding) and input x gradient on the word embeddings as the attribution:

    a_nt = | sum_h e_nth * d/de_nth log p(y_n | x_n) |,      s_nt = a_nt / max_{t in W_n} a_nt

    attribution_n = mean_{t in W_n} ( s_nt - R_nt )^2                   (HINT: attribute to R, not elsewhere)
    sufficiency_n = sum_k ( log p(k | x_n) - log p(k | x_n restricted to R_n) )^2

    penalty_n = sufficiency_n + rho * attribution_n,        rho = ATTRIBUTION_WEIGHT (default 0)

``x_n restricted to R_n`` is the text with every word outside ``R_n`` removed (``HOW``, by default
left out of the attention mask; special tokens kept): the relevant words alone must give the
prediction the whole text gives (the "sufficiency" of a rationale in ERASER, DeYoung et al. 2020).
It is the "difference" form of :mod:`xil.feedback.text.rrr` with the irrelevant set taken as the
complement of the relevant one (where every word but a shortcut is marked relevant, the two ask the
same), and it is in the units of the cross-entropy, so the lambda is a fixed default, 3, like RRR's.
Examples without a relevant mark add nothing.

Why the second term: the attribution term alone was gamed like RRR's gradient variants. On the text
shortcut benchmark (2,000 training sentences, every word but the planted one marked relevant,
automatic lambda 0.84) the attribution on the shortcut fell to 0.9 % while the model kept using it
(training cross-entropy 0.03, test accuracy 0.479, the vanilla model's; at the default 1,000 / 500
size 0.502 with 100 % of the predictions flipping when the planted word is swapped).
With both terms (rho 0.1, lambda 3, "attention"; default benchmark size, 1,000 / 500 sentences,
48 tokens, 2 epochs, bf16 on the CPU, one seed; clean 0.766, vanilla 0.502): 0.562, 73 % of the
predictions still flipping, 0.8 % of the attribution on the planted word. The attribution term,
which asks every relevant word for the largest attribution, fights the sufficiency term through the
double backward (and the gradient clipping shares one norm between them), so its default weight is
0: HINT by default rewards the relevant words by what the model does with them, not by its
gradient. On the benchmark the sufficiency term alone is exactly RRR's "attention" difference
penalty (the same token removed, the same lambda), measured at 0.756 with 19.6 % flipping; a HINT
run at rho 0 or 0.01 was not measured in this change. Set ``ATTRIBUTION_WEIGHT`` (or pass
``attribution_weight``) for the classic term; it costs a double backward.
"""

from __future__ import annotations

from torch import Tensor

from xil.feedback.text.attributions import input_x_gradient, word_tokens
from xil.feedback.text.method import TextFeedbackMethod
from xil.feedback.text.removal import log_prob_gap, logits_without

HOW = "attention"  # how the words not marked relevant are removed (xil.feedback.text.removal)
ATTRIBUTION_WEIGHT = 0.0  # rho: the attribution term's weight beside the sufficiency term (0: skipped)
DEFAULT_LAMBDA = 3.0  # lambda_=None: this, times lambda_scale when set (the penalty is in CE units)


def attribution_terms(model, batch, y, token_mask) -> tuple[Tensor, Tensor]:
    """``(logits, mean_{t in W_n} (s_nt - R_nt)^2 per example)``, the classic HINT term."""
    logits, scores = input_x_gradient(model, batch, y)
    words = word_tokens(batch)
    attribution = scores.abs() * words
    scaled = attribution / attribution.amax(dim=1, keepdim=True).clamp_min(1e-12)
    per_example = ((scaled - token_mask) * words).pow(2).sum(dim=1) / words.sum(dim=1).clamp_min(1)
    return logits, per_example


def sufficiency_terms(model, batch, logits, token_mask, how: str | None = None) -> Tensor:
    """``sum_k (log p(k | x_n) - log p(k | x_n with the words outside R_n removed))^2`` per example."""
    other = word_tokens(batch) * (1 - token_mask)  # word tokens not marked relevant
    return log_prob_gap(logits, logits_without(model, batch, other, how or HOW))


def terms(model, batch, y, token_mask, how: str | None = None, attribution_weight: float | None = None):
    rho = ATTRIBUTION_WEIGHT if attribution_weight is None else attribution_weight
    has_mask = (token_mask * word_tokens(batch)).any(dim=1)
    if rho > 0:
        logits, attribution = attribution_terms(model, batch, y, token_mask)
    else:
        logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
    per_example = sufficiency_terms(model, batch, logits, token_mask, how)
    if rho > 0:
        per_example = per_example + rho * attribution.to(per_example.dtype)
    return logits, per_example * has_mask.to(per_example.dtype)


METHOD = TextFeedbackMethod(
    name="hint",
    title="HINT (reward relevant tokens)",
    mask="relevant",
    lambda_scale=1.0,
    default_lambda=DEFAULT_LAMBDA,
    terms=terms,
)
