"""How a reward model turns a sequence into one number: the classifier head on the [CLS] pooler (what
``AutoModelForSequenceClassification`` does) or on the mean of the last hidden states over the real
tokens, as MiniLM's sentence embeddings were trained (Reimers & Gurevych; measured for the reward job
in the README).

:class:`MeanPooledReward` wraps the Hugging Face classifier: the same call shape and ``.logits`` for
scoring, training and explanations, and ``save_pretrained`` records the pooling in the model's config
(``reward_pooling``), so a saved reward model loads with the pooling it was trained with.
"""

from __future__ import annotations

import torch
from torch import nn
from transformers.modeling_outputs import SequenceClassifierOutput

POOLINGS = ("cls", "mean")


class MeanPooledReward(nn.Module):
    """``logits = classifier(dropout(mean of the last hidden states where attention_mask is 1))``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        head = getattr(model, "classifier", None)
        if not isinstance(head, nn.Linear) or not hasattr(model, "base_model"):
            raise ValueError(
                f"mean pooling needs an encoder with a linear classifier head; {type(model).__name__} has none: "
                'use pooling="cls"'
            )
        self.model = model
        self.model.config.reward_pooling = "mean"

    @property
    def config(self):
        return self.model.config

    def get_input_embeddings(self) -> nn.Module:
        return self.model.get_input_embeddings()

    def save_pretrained(self, *args, **kwargs):
        return self.model.save_pretrained(*args, **kwargs)

    def forward(self, input_ids=None, attention_mask=None, inputs_embeds=None, **kwargs) -> SequenceClassifierOutput:
        shape = (input_ids if input_ids is not None else inputs_embeds).shape[:2]
        if attention_mask is None:
            attention_mask = torch.ones(shape, dtype=torch.long, device=self.model.device)
        hidden = self.model.base_model(
            input_ids=input_ids, attention_mask=attention_mask, inputs_embeds=inputs_embeds, **kwargs
        ).last_hidden_state
        weights = attention_mask[..., None].to(hidden.dtype)
        pooled = (hidden * weights).sum(1) / weights.sum(1).clamp(min=1)
        dropout = getattr(self.model, "dropout", nn.Identity())
        return SequenceClassifierOutput(logits=self.model.classifier(dropout(pooled)))


def with_pooling(model: nn.Module, pooling: str | None) -> nn.Module:
    """``model`` pooled as asked (None: as its config says; a checkpoint without the setting: ``cls``)."""
    pooling = pooling or getattr(model.config, "reward_pooling", "cls")
    if pooling not in POOLINGS:
        raise ValueError(f"pooling must be one of {POOLINGS}, not {pooling!r}")
    if isinstance(model, MeanPooledReward):
        model = model.model
    if pooling == "mean":
        return MeanPooledReward(model)
    model.config.reward_pooling = "cls"
    return model
