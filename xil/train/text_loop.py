"""The training loop for transformer text classifiers with optional token feedback.

Texts are tokenised once (whitespace words, padded to the longest), then cut per batch to the longest
text in it (dynamic padding); batches are drawn from length-sorted buckets of shuffled texts so that
little padding is computed. AdamW with linear warm-up and decay, gradient clipping at norm 1, bf16
autocast where the device has it (:mod:`xil.precision`), and no per-step host sync: losses are summed on the device and read once per epoch.

Lambda (``lambda_=None``): a method whose penalty is in the units of the cross-entropy names a fixed
``default_lambda`` (RRR's "difference" penalty and HINT's sufficiency plus attribution penalty: 3).
Otherwise it is automatic as in the image loop, ``lambda = lambda_scale * CE / penalty`` over a
warm-up with the penalty measured but not applied; the
warm-up here is the learning-rate warm-up (10 % of the steps), not a whole epoch: a fine-tuned
transformer learns a planted shortcut within its first epoch, and with the default two epochs a
warm-up epoch would leave the penalty only the second, decaying-rate half of training.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from xil import config as xil_config
from xil.explain.text import gradients
from xil.feedback import text as text_feedback
from xil.feedback.text.counterexamples import build_pool
from xil.models.text import Encoded, encode, load_classifier, word_mask_to_tokens
from xil.precision import autocast
from xil.train import parallel
from xil.train.loop import Cancelled
from xil.train.optim import adamw_with_warmup, embeddings_frozen, length_bucketed_batches
from xil.train.text_config import TextTrainConfig

CLIP_NORM: float | None = 1.0  # gradient-norm clipping (None: off)

__all__ = ["Cancelled", "evaluate_text", "predict_text", "train_text"]


def _to(t: Tensor, device: str) -> Tensor:
    """Host to device without a sync: through pinned memory, non-blocking (the batches are cut on the
    host, where their widths are known without asking the device)."""
    if device.startswith("cuda"):
        return t.pin_memory().to(device, non_blocking=True)
    return t.to(device)


def _cut(enc: Encoded, idx: Tensor, lengths: Tensor) -> tuple[Encoded, int]:
    width = int(lengths[idx].max())
    return Encoded(enc.input_ids[idx, :width], enc.attention_mask[idx, :width], enc.word_ids[idx, :width]), width


def _cat(a: Encoded, b: Encoded) -> Encoded:
    return Encoded(
        torch.cat([a.input_ids, b.input_ids]),
        torch.cat([a.attention_mask, b.attention_mask]),
        torch.cat([a.word_ids, b.word_ids]),
    )


def _resolve_method(name: str) -> text_feedback.TextFeedbackMethod | None:
    if name == "none":
        return None
    method = text_feedback.REGISTRY.get(name)
    if method is None:
        raise ValueError(f"unknown feedback method {name!r}; choose from none, {', '.join(text_feedback.REGISTRY)}")
    return method


def train_text(
    cfg: TextTrainConfig,
    texts: list[str],
    labels: Sequence[int] | np.ndarray | Tensor,
    irrelevant_words: list[list[int]] | None,
    relevant_words: list[list[int]] | None,
    n_classes: int,
    progress: Callable[[dict], bool | None] | None = None,
    init: tuple[nn.Module, object] | None = None,
) -> tuple[nn.Module, object, list[dict]]:
    """Fine-tune a classifier; ``*_words`` are the marked word indices per text (whitespace words).

    ``init=(model, tokenizer)`` starts from that model instead of ``cfg.backbone``. ``progress`` gets
    one dict per epoch (epoch, epochs, loss, ce, penalty, seconds, lambda_) and may return False to
    cancel (:class:`Cancelled`). Returns ``(model in eval mode, tokenizer, history)``."""
    method = _resolve_method(cfg.method)
    if len(texts) == 0:
        raise ValueError("no texts to train on")
    group = parallel.processes(cfg.device)  # one of several processes (xil/train/parallel.py), or None
    device = group.device if group is not None else xil_config.device(cfg.device)
    torch.manual_seed(cfg.seed)
    generator = torch.Generator().manual_seed(cfg.seed)  # the order of texts: the same in every process
    augmenter = generator if group is None else group.augmenter(cfg.seed)
    if init is None:
        model, tokenizer = load_classifier(cfg.backbone, num_labels=n_classes, device=device)
    else:
        model, tokenizer = init
        if model.config.num_labels != n_classes:
            raise ValueError(f"the initial model has {model.config.num_labels} outputs, the data {n_classes} classes")
    model = model.to(device).train()
    if group is not None:
        group.sync_parameters(model)
    enc = encode(tokenizer, list(texts), cfg.max_length)
    lengths = enc.attention_mask.sum(dim=1)
    y = torch.as_tensor(np.asarray(labels), dtype=torch.long)
    if len(y) != len(texts):
        raise ValueError("texts and labels must have the same length")
    mask = pool = None
    if method is not None:
        words = irrelevant_words if method.mask == "irrelevant" else relevant_words
        mask = word_mask_to_tokens(enc.word_ids, words) if words is not None else torch.zeros(enc.word_ids.shape)
        if len(mask) != len(texts):
            raise ValueError(f"{method.mask} marks must be given for every text (an empty list for none)")
        if method.augment is not None:
            pool = build_pool(enc.input_ids, mask, y)

    n_batches = -(-len(texts) // cfg.batch_size)
    epochs = cfg.epochs_for(len(texts))
    lam = cfg.lambda_
    if lam is None and method is not None and method.fixed_lambda() is not None:
        lam = method.fixed_lambda() * (cfg.lambda_scale if cfg.lambda_scale is not None else 1.0)
    automatic = method is not None and method.terms is not None and lam is None
    auto_steps = max(1, int(cfg.warmup * max(1, epochs * n_batches)))  # the warm-up steps
    warm = torch.zeros(2, device=device)  # ce, penalty summed over the automatic-lambda warm-up
    step = 0
    history: list[dict] = []
    with embeddings_frozen(model, cfg.freeze_embeddings):
        optimiser, schedule = adamw_with_warmup(model, cfg.lr, cfg.weight_decay, cfg.warmup, epochs * n_batches)
        for epoch in range(1, epochs + 1):
            started = time.perf_counter()
            totals = torch.zeros(3, device=device)  # loss, ce, penalty, summed over texts
            for idx in length_bucketed_batches(lengths, cfg.batch_size, generator):
                step += 1
                optimiser.zero_grad(set_to_none=True)
                if group is not None:
                    idx = group.share(idx)  # may be empty (a small last batch): it still joins the average
                terms = torch.zeros(3, device=device)  # loss, ce, penalty
                if len(idx):
                    loss, ce, penalty = _batch_loss(
                        model, method, cfg, enc, lengths, y, mask, pool, idx, lam, augmenter, device
                    )
                    loss.backward()
                    terms = torch.stack([loss.detach(), ce.detach(), penalty.detach()])
                if group is not None:
                    group.average_gradients(_trainable(optimiser), len(idx))
                if CLIP_NORM is not None:
                    torch.nn.utils.clip_grad_norm_(optimiser.param_groups[0]["params"], CLIP_NORM)
                optimiser.step()
                schedule.step()
                totals += terms * len(idx)
                if automatic and lam is None:
                    warm += terms[1:]
                    if step == auto_steps:  # the one host sync of the automatic lambda
                        warm_ce, warm_penalty = (warm if group is None else group.sum(warm)).tolist()
                        if warm_penalty > 0:
                            scale = cfg.lambda_scale if cfg.lambda_scale is not None else method.lambda_scale
                            lam = scale * warm_ce / warm_penalty
            if group is not None:
                totals = group.sum(totals)
            record = dict(zip(("loss", "ce", "penalty"), (totals / len(texts)).tolist(), strict=True))
            record.update(epoch=epoch, epochs=epochs, seconds=time.perf_counter() - started, lambda_=lam)
            history.append(record)
            stop = progress is not None and (group is None or group.is_main) and progress(record) is False
            if stop if group is None else group.any(stop):
                raise Cancelled(f"cancelled after epoch {epoch}")
    return model.eval(), tokenizer, history


def _batch_loss(model, method, cfg, enc, lengths, y, mask, pool, idx, lam, generator, device) -> tuple[Tensor, ...]:
    """``(loss, cross-entropy, penalty)`` of the texts ``idx`` (with their counterexamples)."""
    batch, width = _cut(enc, idx, lengths)
    yb = y[idx]
    mb = mask[idx, :width] if mask is not None else None
    if method is not None and method.augment is not None:
        # on the CPU, before the copy to the device: the number of counterexamples is data-dependent
        b0, y0 = batch, yb  # each copy augments the original batch, whose rows the mask matches
        for _ in range(cfg.ce_copies):
            augmented, ya = method.augment(b0, y0, mb, pool, generator)
            batch, yb = _cat(batch, augmented[len(y0) :]), torch.cat([yb, ya[len(y0) :]])
    batch = Encoded(*(_to(t, device) for t in (batch.input_ids, batch.attention_mask, batch.word_ids)))
    yb = _to(yb, device)
    penalty = torch.zeros((), device=device)
    with autocast(device):
        if method is not None and method.terms is not None:
            logits, per_example = method.terms(model, batch, yb, _to(mb, device))
            penalty = per_example.float().mean()
        else:
            logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
        ce = F.cross_entropy(logits.float(), yb)
    return ce + (lam or 0.0) * penalty, ce, penalty


def _trainable(optimiser: torch.optim.Optimizer) -> list[nn.Parameter]:
    return [p for group in optimiser.param_groups for p in group["params"]]


def _eval_batches(enc: Encoded, batch_size: int):
    lengths = enc.attention_mask.sum(dim=1)
    order = torch.argsort(lengths, descending=True)
    for idx in order.split(batch_size):
        yield idx, _cut(enc, idx, lengths)[0]


def predict_text(
    model: nn.Module, tokenizer, texts: list[str], max_length: int = 64, batch_size: int = 64
) -> np.ndarray:
    """Class probabilities ``(N, C)`` as float32."""
    device = next(model.parameters()).device
    model.eval()
    enc = encode(tokenizer, list(texts), max_length)
    out = torch.zeros(len(texts), model.config.num_labels)
    with torch.no_grad(), autocast(device.type):
        for idx, batch in _eval_batches(enc, batch_size):
            batch = batch.to(device)
            logits = model(input_ids=batch.input_ids, attention_mask=batch.attention_mask).logits
            out[idx] = torch.softmax(logits.float(), dim=1).cpu()
    return out.numpy()


def input_x_gradient(model: nn.Module, batch: Encoded, target: Tensor) -> Tensor:
    """``(N, T)`` |sum_h e_th * d logit_target / d e_th| on the word embeddings (no graph kept)."""
    _, scores = gradients.input_x_gradient(
        model, batch.input_ids, gradients.target_logit(target), attention_mask=batch.attention_mask
    )
    return scores.abs()


def _marked_words(texts: list[str], words: Sequence[str]) -> list[list[int]]:
    wanted = {w.lower() for w in words}
    return [[i for i, w in enumerate(t.split()) if w.lower().strip(".,!?;:'\"()") in wanted] for t in texts]


def evaluate_text(
    model: nn.Module,
    tokenizer,
    texts: list[str],
    labels: Sequence[int] | np.ndarray,
    shortcut_words: Sequence[str] | None = None,
    max_length: int = 64,
    batch_size: int = 64,
) -> dict:
    """``{"acc"}``, plus ``"shortcut_attr"`` when shortcut words are given: the mean share of
    |input x gradient| (for the predicted class, on the word embeddings) that falls on the tokens of
    those words, over the texts that contain one."""
    probs = predict_text(model, tokenizer, texts, max_length, batch_size)
    labels = np.asarray(labels)
    result = {"acc": float((probs.argmax(axis=1) == labels).mean()) if len(labels) else 0.0}
    if shortcut_words:
        device = next(model.parameters()).device
        enc = encode(tokenizer, list(texts), max_length)
        shortcut = word_mask_to_tokens(enc.word_ids, _marked_words(list(texts), shortcut_words))
        predicted = torch.from_numpy(probs.argmax(axis=1))
        shares = []
        for idx, batch in _eval_batches(enc, batch_size):
            with autocast(device.type):
                attr = input_x_gradient(model, batch.to(device), predicted[idx].to(device)).float().cpu()
            attr = attr * (batch.word_ids >= 0)
            marked = shortcut[idx, : attr.shape[1]]
            has = marked.any(dim=1)
            shares.append(((attr * marked).sum(1) / attr.sum(1).clamp_min(1e-12))[has])
        shares_t = torch.cat(shares) if shares else torch.zeros(0)
        result["shortcut_attr"] = float(shares_t.mean()) if len(shares_t) else None
    return result
