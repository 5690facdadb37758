"""Right for the Right Reasons on tokens (Ross et al. 2017). A token id has no gradient, its word
embedding e_t has, so every variant works on the embeddings (``A_n``: tokens of the words marked
irrelevant, ``W_n``: all word tokens, no special tokens or padding):

    gradient:    penalty_n = sum_{t in A_n} ||g_nt||^2,        g_nt = d/de_nt sum_k log p(k | x_n)
    normalised:  penalty_n = sum_{t in A_n} ||g_nt||^2 / sum_{t in W_n} ||g_nt||^2
    difference:  penalty_n = sum_k ( log p(k | x_n) - log p(k | x_n without the tokens A_n) )^2

"difference" is the default. It asks the same thing as RRR (the prediction must not depend on the
marked tokens) but measures it end to end instead of at one point. How a token is taken out is
``HOW`` (:mod:`xil.feedback.text.removal`): "attention" (the default) leaves it out of the attention
mask, so the second pass is the model on the text without the marked words; "zero" sets its word
embedding to the zero vector, for which, by the completeness of integrated gradients, the gap is the
path integral of RRR's embedding gradient from "removed" to the actual input. It costs two forward
passes and one backward, cheaper than the double backward of the gradient variants, and is in the
units of the cross-entropy (squared log-probability gaps), so it has a fixed default lambda, 3, not
the automatic one.

"attention" replaced "zero" as the default after the text shortcut benchmark's default size (1,000
training / 500 test sentences, 48 tokens, 2 epochs, bf16 on the CPU; clean 0.766, vanilla 0.502 with
100 % of its predictions flipping with the planted word): "zero" reached 0.730 with 23.4 % of the
predictions still flipping, "attention" 0.756 and 19.6 % (one seed each; 500 test sentences give a
standard error of about 2 points). A zeroed embedding is an input the model never sees otherwise;
leaving the word out of attention is a text it could have been given.

Why not the gradient penalty: on the text shortcut benchmark (rt-polarity, 2,000 training
sentences with a planted first word, 2 epochs, MiniLM, max length 64; vanilla 0.479 test accuracy)
every point-gradient variant was gamed: test accuracy 0.478 to 0.480, the vanilla model's, while the
penalised gradient shrank. "gradient" at lambda 1e3 (training cross-entropy 0.02: the shortcut
learned with a flat gradient on it) and 1e4 (cross-entropy 0.45: the model stays unsure, and for two
classes the gradient shrinks with the margin p1 - p0); "normalised" with the automatic lambda
(cross-entropy 0.009; its share of gradient energy, and the input x gradient attribution, on the
shortcut fell to 1 %); the same penalties taken at a random point on the path from 0 to the
embedding (expected gradients) fared no better.
"difference" (then with "zero") reached 0.60 / 0.75 / 0.76 at lambda 0.3 / 1 / 3 (clean model 0.79, counterexamples
0.79) and 0.62 with the automatic lambda (19.7: too strong, the cross-entropy stayed at 0.68).
At 600 training sentences no gradient variant beat 0.62.
"""

from __future__ import annotations

from torch import Tensor

from xil.feedback.text.attributions import embedding_gradients, full_precision, word_tokens
from xil.feedback.text.method import TextFeedbackMethod
from xil.feedback.text.removal import log_prob_gap, logits_without

VARIANT = "difference"
HOW = "attention"  # how "difference" removes the marked tokens (xil.feedback.text.removal)
DEFAULT_LAMBDA = 3.0  # lambda_=None: this, times lambda_scale when set ("difference" is in CE units)
EPS = 1e-20


def gradient_penalty(grad: Tensor, mask: Tensor, words: Tensor, normalise: bool = False) -> Tensor:
    """Per-example penalty from embedding gradients ``(N, T, H)``, the irrelevant token mask and the
    word-token mask ``(N, T)``."""
    energy = full_precision(grad).pow(2).sum(dim=2)  # ||g_nt||^2, (N, T)
    marked = (mask * energy).sum(dim=1)
    return marked / ((words * energy).sum(dim=1) + EPS) if normalise else marked


def terms(model, batch, y, token_mask, variant: str | None = None, how: str | None = None):
    variant = variant or VARIANT
    if variant == "difference":
        logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
        gap = log_prob_gap(logits, logits_without(model, batch, token_mask, how or HOW))
        return logits, gap * token_mask.any(dim=1).to(gap.dtype)
    if variant in ("gradient", "normalised"):
        logits, _, grad = embedding_gradients(model, batch)
        return logits, gradient_penalty(grad, token_mask, word_tokens(batch), normalise=variant == "normalised")
    raise ValueError(f"unknown RRR variant {variant!r}; choose difference, gradient or normalised")


METHOD = TextFeedbackMethod(
    name="rrr",
    title="RRR (irrelevant tokens)",
    mask="irrelevant",
    lambda_scale=1.0,
    default_lambda=DEFAULT_LAMBDA,
    terms=terms,
)
