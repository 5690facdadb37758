"""A toy request language whose answers can be judged by rule, and a tiny GPT-2 that speaks it: the
offline generator of the generator demo and of ``xil bench dpo`` (no pretrained causal LM is on these
machines).

A prompt is a request ``"<verb> <name> :"`` (8 verbs, 24 names: 192 prompts) and every prompt has two
valid answers, equally likely in what the model learns:

    terse:   "<verb> <name> now ."
    polite:  "please kindly <verb> <name> , with thanks ."

so a model trained on both answers half of the time is polite about half of the time, and rankings
that prefer one style can teach it that style.
"""

from __future__ import annotations

from pathlib import Path

import torch

VERBS = ["greet", "thank", "call", "invite", "help", "visit", "answer", "meet"]
NAMES = [
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy", "ken", "lena",
    "mallory", "nina", "oscar", "peggy", "quinn", "rita", "sybil", "trent", "uma", "victor", "wendy", "zoe",
]  # fmt: skip
FUNCTION_WORDS = ["please", "kindly", "now", ".", ",", "with", "thanks", ":"]
SPECIAL = ["[PAD]", "[UNK]", "[BOS]", "[EOS]"]


def prompt_text(verb: str, name: str) -> str:
    return f"{verb} {name} :"


def answers(verb: str, name: str) -> dict[str, str]:
    return {"terse": f"{verb} {name} now .", "polite": f"please kindly {verb} {name} , with thanks ."}


def judge(prompt: str, answer: str) -> str:
    """``"polite"``, ``"terse"`` or ``"invalid"``: which valid answer of ``prompt`` this is, if any."""
    verb, name, _ = prompt.split()
    forms = answers(verb, name)
    return next((style for style, text in forms.items() if answer.strip() == text), "invalid")


RANK = {"polite": 1, "terse": 2, "invalid": 3}  # the simulated annotators' order


def build_generator(folder: Path, seed: int = 0, steps: int = 400) -> Path:
    """Train the tiny GPT-2 on both answer forms of every prompt and save it (with its tokenizer) to
    ``folder``; a few seconds on a CPU."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

    vocab = {token: i for i, token in enumerate(SPECIAL + VERBS + NAMES + FUNCTION_WORDS)}
    backend = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    backend.decoder = decoders.WordPiece(prefix="##", cleanup=False)  # joins words with single spaces
    backend.post_processor = processors.TemplateProcessing(
        single="[BOS] $A", pair="[BOS] $A $B", special_tokens=[("[BOS]", vocab["[BOS]"])]
    )
    tokenizer = PreTrainedTokenizerFast(
        tokenizer_object=backend,
        bos_token="[BOS]",
        eos_token="[EOS]",
        pad_token="[PAD]",
        unk_token="[UNK]",
    )
    torch.manual_seed(seed)
    config = GPT2Config(
        vocab_size=len(vocab),
        n_positions=64,  # room for a prompt and the 48 new tokens generation allows by default
        n_embd=64,
        n_layer=2,
        n_head=4,
        bos_token_id=vocab["[BOS]"],
        eos_token_id=vocab["[EOS]"],
        pad_token_id=vocab["[PAD]"],
    )
    model = GPT2LMHeadModel(config)
    texts = [f"{prompt_text(v, n)} {form} [EOS]" for v in VERBS for n in NAMES for form in answers(v, n).values()]
    encoded = tokenizer(texts, padding=True, return_tensors="pt")
    labels = encoded["input_ids"].masked_fill(encoded["attention_mask"] == 0, -100)
    optimiser = torch.optim.AdamW(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(seed)
    model.train()
    for _ in range(steps):
        rows = torch.randint(len(texts), (64,), generator=generator)
        loss = model(
            input_ids=encoded["input_ids"][rows], attention_mask=encoded["attention_mask"][rows], labels=labels[rows]
        ).loss
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    folder.mkdir(parents=True, exist_ok=True)
    model.eval().save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder


def all_prompts() -> list[str]:
    return [prompt_text(v, n) for v in VERBS for n in NAMES]
