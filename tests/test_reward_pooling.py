"""Mean pooling for reward models: the head reads the mean of the real tokens' hidden states, padding
changes nothing, the setting survives saving, and training and explanations work through it."""

from __future__ import annotations

import pytest
import torch

from tests.test_ranking import marker_groups
from tests.tiny_models import tiny_classifier
from xil.models.text import save_classifier
from xil.ranking.config import RewardConfig
from xil.ranking.metrics import pairwise_accuracy
from xil.ranking.pooling import MeanPooledReward, with_pooling
from xil.ranking.reward import explain_preference, load_reward_model, train_reward


def test_mean_pooling_ignores_padding_and_matches_a_hand_computed_mean():
    model, tokenizer = tiny_classifier(num_labels=1)
    pooled = with_pooling(model, "mean").eval()
    ids = tokenizer(["a short answer"], return_tensors="pt")
    padded = tokenizer(["a short answer"], return_tensors="pt", padding="max_length", max_length=20)
    with torch.no_grad():
        short, long = pooled(**ids).logits, pooled(**padded).logits
        hidden = model.base_model(**ids).last_hidden_state.mean(1)
        by_hand = model.classifier(hidden)
    assert (
        short.shape == (1, 1) and torch.allclose(short, long, atol=1e-5) and torch.allclose(short, by_hand, atol=1e-5)
    )
    assert with_pooling(pooled, "cls") is model and with_pooling(model, None) is model  # a plain checkpoint: cls
    with pytest.raises(ValueError):
        with_pooling(model, "max")


def test_a_saved_mean_pooled_reward_model_loads_mean_pooled(tmp_path):
    model, tokenizer = tiny_classifier(num_labels=1)
    folder = save_classifier(with_pooling(model, "mean"), tokenizer, tmp_path / "reward")
    loaded, _ = load_reward_model(str(folder))
    assert isinstance(loaded, MeanPooledReward)
    assert not isinstance(load_reward_model(str(folder), pooling="cls")[0], MeanPooledReward)
    with pytest.raises(ValueError):
        RewardConfig(pooling="max")


def test_training_and_explanations_work_mean_pooled():
    train, held_out = marker_groups(48, seed=0), marker_groups(24, seed=1)
    model, tokenizer = tiny_classifier(num_labels=1, seed=0)
    model = with_pooling(model, "mean")
    cfg = RewardConfig(epochs=6, lr=3e-3, batch_prompts=8, max_length=32, freeze_embeddings=False, warmup=0.0)
    model, tokenizer, history = train_reward(cfg, train, init=(model, tokenizer))
    assert history[-1]["loss"] < history[0]["loss"]
    assert pairwise_accuracy(model, tokenizer, held_out, 32) > 0.9
    g = held_out[0]
    words = explain_preference(model, tokenizer, g["prompt"], g["candidates"][0], g["candidates"][2], max_length=32)
    assert max(words, key=lambda ws: ws[1])[0] == "excellent"
