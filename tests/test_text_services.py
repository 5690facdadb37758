"""The text adapter end to end on a tiny BERT: explain, queue, save word rationales, export, train."""

from __future__ import annotations

import numpy as np
import pytest

from tests.tiny_models import tiny_classifier
from xil import services
from xil.data.text import DEMO_SHORTCUT, demo_reviews
from xil.export import read_rows
from xil.models.text import save_classifier
from xil.services import adapters
from xil.train.text_config import TextTrainConfig


@pytest.fixture
def tiny_backbone(tmp_path) -> str:
    model, tokenizer = tiny_classifier(num_labels=2)
    return str(save_classifier(model, tokenizer, tmp_path / "tiny-bert"))


@pytest.fixture
def reviews(tiny_backbone):
    """The review demo as a project with a first (tiny, untrained) model version."""
    project = services.create_project("reviews", demo_reviews(), "demo-reviews")
    model, tokenizer = tiny_classifier(num_labels=2)
    cfg = TextTrainConfig(method="none", backbone=tiny_backbone)
    version = services.register_model(project.id, (model, tokenizer), cfg, {"test_acc": 0.5})
    return project, version


def test_text_project_examples_and_dataset(reviews):
    project, _ = reviews
    ds = services.dataset(project.id)
    assert project.task == "text" and len(ds) == services.status()["examples"]
    assert ds.shortcut_words == list(DEMO_SHORTCUT)


@pytest.mark.parametrize("method", ["layer_integrated_gradients", "input_x_gradient", "occlusion", "atman"])
def test_explain_example_gives_one_score_per_word(reviews, method):
    project, version = reviews
    example = services.next_examples(project.id, version.id, "random", "ada", n=1)[0]
    view = services.explain_example(version.id, example, method)
    assert view.task == "text" and view.image is None
    assert len(view.attribution) == len(view.words) and np.isfinite(view.attribution).all()
    assert view.probs.shape == (2,) and abs(view.probs.sum() - 1) < 1e-5
    again = services.explain_example(version.id, example, method)
    assert np.array_equal(again.attribution, view.attribution)


@pytest.mark.parametrize("strategy", ["suspicious", "least_confident", "random"])
def test_queue_strategies_on_text(reviews, strategy):
    project, version = reviews
    queue = services.next_examples(project.id, version.id, strategy, "ada", n=5)
    assert len(queue) == 5 and len(set(queue)) == 5
    services.save_feedback(queue[0], "ada", version.id, "right_reason")
    assert queue[0] not in services.next_examples(project.id, version.id, strategy, "ada", n=50)


def test_word_feedback_is_stored_validated_and_superseded(reviews):
    project, version = reviews
    example = services.next_examples(project.id, version.id, "random", "ada", n=1)[0]
    n_words = len(services.explain_example(version.id, example, "input_x_gradient").words)
    first = services.save_feedback(
        example, "ada", version.id, "wrong_reason", irrelevant_words=[n_words - 1, n_words - 1]
    )
    assert first.kind == "text_rationale" and first.payload == {"irrelevant_words": [n_words - 1], "relevant_words": []}
    second = services.save_feedback(
        example, "ada", version.id, "wrong_reason", irrelevant_words=[0], relevant_words=[1]
    )
    assert second.supersedes_id == first.id
    with pytest.raises(ValueError, match="outside"):
        services.save_feedback(example, "ada", version.id, irrelevant_words=[n_words])
    with pytest.raises(ValueError, match="not pixel masks"):
        services.save_feedback(example, "ada", version.id, irrelevant=np.ones((28, 28), dtype=bool))
    assert len(services.feedback_history(example)) == 2


def test_export_text_feedback(reviews, tmp_path):
    project, version = reviews
    example = services.next_examples(project.id, version.id, "random", "ada", n=1)[0]
    words = services.explain_example(version.id, example, "input_x_gradient").words
    services.save_feedback(example, "ada", version.id, "wrong_reason", irrelevant_words=[len(words) - 1])
    for fmt in ("jsonl", "parquet"):
        [row] = read_rows(services.export_feedback(project.id, tmp_path / f"out.{fmt}", fmt=fmt))
        assert row["text"] == " ".join(words)
        assert row["irrelevant_tokens"] == [words[-1]] and row["model_version"] == version.version


def test_text_training_job_uses_word_feedback(reviews, tiny_backbone):
    project, version = reviews
    ds = services.dataset(project.id)
    train_ids = services.next_examples(project.id, version.id, "random", "ada", n=8)
    for example_id in train_ids:
        view = services.explain_example(version.id, example_id, "input_x_gradient")
        shortcut = [i for i, w in enumerate(view.words) if w in ds.shortcut_words]
        services.save_feedback(example_id, "ada", version.id, "wrong_reason", irrelevant_words=shortcut)
    texts, labels, irrelevant, relevant, used = adapters.for_task("text").training_inputs(project.id)
    assert used == 8 and sum(bool(m) for m in irrelevant) == 8 and not any(relevant)
    job = services.queue_training(project.id, TextTrainConfig(method="rrr", backbone=tiny_backbone, epochs=1))
    assert services.run_worker(once=True) == 1
    job = services.get_job(job.id)
    assert job.status == "succeeded", job.error
    assert len(job.history) == 10  # epochs=1 is a floor: 150 texts in batches of 16 need 10 for 100 steps
    new = services.latest_model_version(project.id)
    assert new.version == 2 and new.method == "rrr" and new.n_feedback == 8 and new.parent_id == version.id
    assert 0 <= new.metrics["test_acc"] <= 1 and "wrong_reason" in new.metrics
    assert len(services.explain_example(new.id, train_ids[0], "atman").words) > 0


def test_text_training_rejects_image_settings(reviews):
    from xil.train import TrainConfig

    project, _ = reviews
    with pytest.raises(ValueError, match="TextTrainConfig"):
        services.queue_training(project.id, TrainConfig())
    with pytest.raises(ValueError, match="unknown method"):
        services.queue_training(project.id, TextTrainConfig(method="rrr_g"))
