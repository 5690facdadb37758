"""Tiny randomly initialised transformers for the tests: no download, seconds on a CPU."""

from __future__ import annotations

from pathlib import Path

import torch

from xil.models.text import load_tokenizer


def tiny_classifier(num_labels: int = 2, seed: int = 0):
    """A randomly initialised two-layer BERT with MiniLM's tokenizer: fast, for tests."""
    from transformers import BertConfig, BertForSequenceClassification

    tokenizer = load_tokenizer()
    torch.manual_seed(seed)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
        num_labels=num_labels,
        attn_implementation="eager",
    )
    return BertForSequenceClassification(config).eval(), tokenizer


def tiny_causal_lm(path: str | Path, seed: int = 0) -> Path:
    """Save a randomly initialised two-layer GPT-2 (32 dims) with MiniLM's WordPiece vocabulary to
    ``path``: a causal LM that loads with ``AutoModelForCausalLM`` and needs no download, for tests.

    The tokenizer is MiniLM's without its [CLS] ... [SEP] template (a causal LM continues the text
    as is); [CLS] is BOS, [SEP] EOS, [PAD] the pad token. It writes nonsense, of course."""
    import copy

    from tokenizers import processors
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast
    from transformers.utils import logging as hf_logging

    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    backend = copy.deepcopy(load_tokenizer().backend_tokenizer)
    backend.post_processor = processors.TemplateProcessing(single="$A", pair="$A $B", special_tokens=[])
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend, bos_token="[CLS]", eos_token="[SEP]", pad_token="[PAD]", unk_token="[UNK]"
    )
    config = GPT2Config(
        vocab_size=len(tokenizer),
        n_positions=256,
        n_embd=32,
        n_layer=2,
        n_head=2,
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
    )
    torch.manual_seed(seed)
    hf_logging.disable_progress_bar()
    GPT2LMHeadModel(config).save_pretrained(path, safe_serialization=True)
    tokenizer.save_pretrained(path)
    return path
