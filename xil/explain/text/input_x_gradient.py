"""Input x Gradient on the word embeddings: sum_h e_h * d f_t / d e_h per token, signed, where f_t is
the target logit and e the token's word embedding (Shrikumar et al.; Denil et al. for text). One
forward and one backward pass."""

from __future__ import annotations

import torch

from xil.explain.text.common import content_mask

NAME = "input_x_gradient"
TITLE = "Input x Gradient"


def attribute(model, encoded, target):
    with torch.no_grad():
        embeds = model.get_input_embeddings()(encoded.input_ids)
    with torch.enable_grad():
        embeds.requires_grad_(True)
        logits = model(inputs_embeds=embeds, attention_mask=encoded.attention_mask).logits
        (grad,) = torch.autograd.grad(logits.gather(1, target[:, None]).sum(), embeds)
    return (embeds.detach() * grad).sum(dim=-1) * content_mask(encoded)
