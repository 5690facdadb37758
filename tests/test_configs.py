"""Configs document every field and check every value where they are made; plugins declare themselves."""

from __future__ import annotations

from dataclasses import FrozenInstanceError, fields

import pytest

from xil import explain, feedback, models
from xil.explain import text as text_explain
from xil.feedback import text as text_feedback
from xil.feedback.method import FeedbackMethod
from xil.ranking.config import RewardConfig
from xil.ranking.generate import GenerationConfig
from xil.registry import Registry
from xil.settings import field_help
from xil.train import TrainConfig
from xil.train.text_config import TextTrainConfig

CONFIGS = [TrainConfig, TextTrainConfig, RewardConfig, GenerationConfig]


@pytest.mark.parametrize("cls", CONFIGS, ids=lambda c: c.__name__)
def test_every_field_has_help(cls):
    docs = field_help(cls)
    assert list(docs) == [f.name for f in fields(cls)]
    assert all(docs.values())


def test_field_help_joins_continuation_lines():
    assert TrainConfig.help("method").startswith('the feedback method: "none" (plain cross-entropy) or a name in')
    assert TrainConfig.help("method").endswith("(rrr, rrr_g, hint, ce).")
    assert TrainConfig.help("nonsense") == ""


def test_arch_is_a_registry_name_or_a_named_backbone():
    for name in models.REGISTRY:
        assert TrainConfig(arch=name, method="none").arch == name
    assert TrainConfig(arch="hf:org/model", method="rrr_g").arch == "hf:org/model"  # conv-ness known once built
    with pytest.raises(ValueError, match="needs a convolutional model"):
        TrainConfig(arch="vit_tiny_patch16_224", method="rrr_g")
    with pytest.raises(ValueError, match="unknown architecture"):
        TrainConfig(arch="resnet")


@pytest.mark.parametrize(
    "make,message",
    [
        (lambda: TrainConfig(weight_decay=-1), "weight_decay"),
        (lambda: TrainConfig(lambda_=-0.5), "lambda_ must be 0 or more"),
        (lambda: TrainConfig(lambda_scale=0), "lambda_scale must be positive"),
        (lambda: TrainConfig(ce_copies=0), "ce_copies"),
        (lambda: TextTrainConfig(method="rrr_g"), "unknown method 'rrr_g'"),
        (lambda: TextTrainConfig(max_length=4), "max length >= 8"),
        (lambda: TextTrainConfig(warmup=2), "warmup"),
        (lambda: RewardConfig(max_length=15), "at least 16 tokens"),
        (lambda: RewardConfig(lr=0), "learning rate positive"),
        (lambda: RewardConfig(margin=-1), "margin"),
        (lambda: GenerationConfig(top_p=0), "top_p"),
    ],
)
def test_bad_settings_fail_where_the_config_is_made(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_stored_configs_are_checked_when_rebuilt():
    with pytest.raises(ValueError, match="unknown method 'lasso'"):
        TrainConfig.from_dict({"method": "lasso"})


@pytest.mark.parametrize(
    "registry", [explain.REGISTRY, text_explain.REGISTRY, feedback.REGISTRY, text_feedback.REGISTRY, models.REGISTRY]
)
def test_registries_are_keyed_by_the_declared_name(registry):
    assert isinstance(registry, Registry) and len(registry) > 0
    assert all(name == entry.name for name, entry in registry.items())
    with pytest.raises(ValueError, match=f"unknown {registry.kind} 'nope'; choose from {registry.names()[0]}"):
        registry.lookup("nope")


def test_a_plugin_declaration_is_complete_and_frozen():
    with pytest.raises(TypeError, match="lambda_scale"):
        FeedbackMethod(name="x", title="X", mask="irrelevant", needs_conv=False, terms=len)  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="exactly one of terms"):
        FeedbackMethod(name="x", title="X", mask="irrelevant", needs_conv=False, lambda_scale=None)
    with pytest.raises(ValueError, match="mask must be one of"):
        FeedbackMethod(name="x", title="X", mask="wrong", needs_conv=False, lambda_scale=1.0, terms=len)  # type: ignore[arg-type]
    with pytest.raises(FrozenInstanceError):
        feedback.REGISTRY["rrr"].lambda_scale = 2.0  # type: ignore[misc]
    with pytest.raises(ValueError, match="two feedback methods are called 'rrr'"):
        Registry("feedback method", [feedback.REGISTRY["rrr"], feedback.REGISTRY["rrr"]])


def test_the_cli_lists_its_choices_from_the_registries():
    from typer.testing import CliRunner

    from xil.cli import app

    result = CliRunner().invoke(app, ["methods"])
    assert result.exit_code == 0
    for registry in (feedback.REGISTRY, text_feedback.REGISTRY, models.REGISTRY, explain.REGISTRY):
        assert all(entry.title in result.output for entry in registry.values())
    refused = CliRunner().invoke(app, ["train", "--method", "lasso"])
    assert refused.exit_code == 1 and "choose from none, rrr, rrr_g, hint, ce" in refused.output
