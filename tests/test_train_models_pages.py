"""The Train and Models pages as a new user meets them (issue 8): what a job will run, reward jobs,
cancelling, one name per method, numbers formatted for people, user text escaped."""

from __future__ import annotations

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from tests.conftest import PROJECT_ROOT
from tests.tiny_models import tiny_classifier
from xil import jobs, services
from xil.models.text import save_classifier
from xil.services import ranking
from xil.train import TrainConfig
from xil.train.text_config import TextTrainConfig

APP = str(PROJECT_ROOT / "streamlit_app.py")


@pytest.fixture(autouse=True)
def no_worker(monkeypatch):
    monkeypatch.setenv("XIL_START_WORKER", "0")


def open_page(project_id: int, page: str, annotator: str = "ada") -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    at.query_params["project"] = str(project_id)
    at.query_params["annotator"] = annotator
    at.run()
    at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def markdown_text(at: AppTest) -> str:
    """The page's Markdown with ui.md()'s escapes taken out again."""
    return "\n".join(m.value for m in at.markdown).replace("\\", "")


def test_image_train_page_says_what_will_run_and_locks_automatic_lambda(demo):
    at = open_page(demo.project_id, "train")
    assert at.selectbox[0].value == "rrr"
    [lam] = [n for n in at.number_input if n.label == "Lambda"]
    assert lam.disabled  # the default is ticked: the number is not set by hand
    assert any("Will run 30 epochs" in i.value and "lambda 10 per marked example" in i.value for i in at.info)
    [c for c in at.checkbox if c.label == "Default lambda (10)"][0].uncheck().run()
    [lam] = [n for n in at.number_input if n.label == "Lambda"]
    assert not lam.disabled
    lam.set_value(25.0).run()
    assert any("lambda 25." in i.value for i in at.info)
    at.selectbox[0].set_value("hint").run()  # HINT's lambda is automatic
    assert any("automatic lambda" in i.value for i in at.info)
    assert [c for c in at.checkbox if c.label == "Automatic lambda"]
    at.selectbox[0].set_value("ce").run()  # counterexamples: copies, no penalty weight to set
    assert not [n for n in at.number_input if n.label == "Lambda"]
    assert [c.label for c in at.checkbox] == ["Augment: random crop and flip"]  # no lambda to set
    assert any("no penalty weight" in i.value for i in at.info)
    at.selectbox[0].set_value("rrr").run()
    [b for b in at.button if b.label == "Queue training job"][0].click().run()
    [job] = services.list_jobs(demo.project_id)
    assert job.spec["config"]["method"] == "rrr" and job.spec["config"]["lambda_"] is None


def test_train_page_help_is_the_configs_own_documentation(demo):
    """Each setting's help is its paragraph in the config's *Parameters* docstring (one source)."""
    at = open_page(demo.project_id, "train")
    [epochs] = [n for n in at.number_input if n.label == "Epochs"]
    assert epochs.help == TrainConfig.help("epochs") and "passes over the training examples" in epochs.help


def test_plain_training_has_one_name(demo):
    at = open_page(demo.project_id, "train")
    method = at.selectbox[0]
    assert method.format_func("none") == "Plain (cross-entropy only)"
    method.set_value("none").run()
    [b for b in at.button if b.label == "Queue training job"][0].click().run()
    at.run()
    assert "Plain (cross-entropy only) on mlp" in markdown_text(at)
    assert list(at.dataframe[0].value["method"]) == ["Plain (cross-entropy only) on mlp"]
    models = open_page(demo.project_id, "models")
    assert list(models.dataframe[0].value["method"]) == ["Plain (cross-entropy only)"]


def test_cancel_says_cancelling_until_the_epoch_ends(demo):
    services.queue_training(demo.project_id, TrainConfig(method="none", epochs=5))
    job = jobs.claim("w1")
    jobs.JobContext(job.id, "w1").report(0.2, {"epoch": 1, "epochs": 5, "loss": 1.0, "ce": 1.0}, "epoch 1/5")
    at = open_page(demo.project_id, "train")
    [b for b in at.button if b.label == "Cancel"][0].click().run()
    assert services.get_job(job.id).cancel_requested
    assert "`cancelling`" in markdown_text(at)
    [progress] = at.get("progress")
    assert "cancelling" in progress.proto.text
    assert not [b for b in at.button if b.label == "Cancel"]  # asked once is enough
    assert list(at.dataframe[0].value["status"]) == ["cancelling"]


def test_a_failed_jobs_error_is_shown_as_text(demo):
    services.queue_training(demo.project_id, TrainConfig(method="none", epochs=1))
    job = jobs.claim("w1")
    jobs.fail(job.id, "w1", "could not load ![](http://127.0.0.1:9/x) <img src=x>\nTraceback ...")
    at = open_page(demo.project_id, "train")
    [error] = at.error
    assert "127" in error.value and not raw_markup(error.value)
    assert "the Log below" in error.value  # its traceback is there


def test_a_finished_job_sets_its_accuracy_beside_the_version_before(demo):
    cfg = TrainConfig(method="none", epochs=1)
    services.queue_training(demo.project_id, cfg)
    job = jobs.claim("w1")
    before = services.list_model_versions(demo.project_id)[-1].metrics["test_acc"]
    model = services.load_model(demo.version_id)
    version = services.register_model(demo.project_id, model, cfg, {"test_acc": 0.5})
    jobs.finish(job.id, "w1", {"test_acc": 0.5}, version.id)
    at = open_page(demo.project_id, "train")
    [done] = [s.value for s in at.success if "New model version ready" in s.value]
    assert f"test accuracy 50.0% (the version before it: {before:.1%})" in done


@pytest.fixture
def reviews(demo, tmp_path):
    """The review demo (text) with a tiny first model and no queued first MiniLM job."""
    services.seed_demo()
    [project] = [p for p in services.list_projects() if p.task == "text"]
    for job in services.list_jobs(project.id):
        services.cancel_job(job.id)
    model, tokenizer = tiny_classifier(num_labels=2)
    backbone = str(save_classifier(model, tokenizer, tmp_path / "tiny-bert"))
    cfg = TextTrainConfig(method="none", backbone=backbone)
    version = services.register_model(project.id, (model, tokenizer), cfg, {"test_acc": 0.5})
    return project, version, backbone


def test_text_train_page_shows_the_epochs_and_lambda_that_will_run(reviews):
    project, _, _ = reviews
    at = open_page(project.id, "train")
    assert at.selectbox[0].value == "ce"
    assert [n.value for n in at.number_input if n.label == "Epochs"] == [2]
    [plan] = [i.value for i in at.info if "Will run" in i.value]
    assert plan.startswith("Will run 10 epochs") and "2 asked" in plan and "no penalty weight" in plan
    assert not [n for n in at.number_input if n.label == "Lambda"]  # counterexamples have none
    at.selectbox[0].set_value("rrr").run()
    [default] = at.checkbox
    assert default.label == "Default lambda (3)" and default.value
    [lam] = [n for n in at.number_input if n.label == "Lambda"]
    assert lam.disabled and lam.value == 3.0
    assert any("lambda 3." in i.value for i in at.info)
    epochs = [n for n in at.number_input if n.label == "Epochs"][0]
    epochs.set_value(12).run()
    assert any(i.value.startswith("Will run 12 epochs") for i in at.info)


def test_ranking_train_page_shows_a_reward_job_and_its_result(demo, tmp_path):
    services.seed_demo(train=False)
    [project] = [p for p in services.list_projects() if p.task == "ranking"]
    for example in ranking.next_prompts(project.id, n=100):
        ranking.save_ranking(example, "ada", [1, 2, 3, 4])
    model, tokenizer = tiny_classifier(num_labels=1)
    backbone = str(save_classifier(model, tokenizer, tmp_path / "tiny-reward"))
    from xil.ranking.config import RewardConfig

    job = services.queue_training(project.id, RewardConfig(backbone=backbone, epochs=2, max_length=64))
    assert services.run_worker(once=True) == 1
    assert services.get_job(job.id).status == "succeeded"
    at = open_page(project.id, "train")  # the reward history has no cross-entropy: KeyError 'ce' before
    assert f"**Job {job.id}** · Bradley-Terry reward model on" in markdown_text(at)
    assert "None on" not in markdown_text(at)
    [progress] = at.get("progress")
    assert progress.proto.text == "epoch 2 of 2"
    assert len(at.get("plotly_chart")) == 1
    assert any("pairwise accuracy on held-out prompts" in s.value for s in at.success)
    models = open_page(project.id, "models")
    row = models.dataframe[0].value.iloc[0]
    pairs = services.latest_model_version(project.id).metrics["train_pairs"]
    assert row["training pairs"] == f"{pairs:,}" and "." not in row["training pairs"]
    assert row["method"] == "Bradley-Terry reward model"
    captions = " ".join(c.value for c in models.caption)
    assert "Wrong-reason" not in captions and "Plausibility" not in captions


def _register_like(demo, method: str, n_feedback: int, metrics: dict):
    """A second image version as a training job would register it (the first model's weights)."""
    from xil.services import register_model

    model = services.load_model(demo.version_id)
    return register_model(demo.project_id, model, TrainConfig(method=method), metrics, n_feedback, demo.version_id)


def test_models_page_compares_every_version_on_todays_marks(demo):
    examples = services.next_examples(demo.project_id, demo.version_id, n=3)
    mask = np.zeros((28, 28), dtype=bool)
    mask[:4, :4] = True
    for example in examples:
        services.save_feedback(example, "ada", demo.version_id, "wrong_reason", irrelevant=mask)
    _register_like(demo, "rrr", 3, {"test_acc": 0.783, "wrong_reason": 0.05, "lambda": 43035.61})
    at = open_page(demo.project_id, "models")
    table = at.dataframe[0].value
    marks = list(table["wrong-reason (your marks)"])
    assert len(marks) == 2 and all(m != "" for m in marks)  # the first version too
    assert marks[0] == marks[1]  # same weights, same marks: the same score
    assert list(table["lambda"]) == ["", "43,036"]
    assert "wrong-reason (known shortcut)" in table.columns
    assert list(table["method"]) == ["Plain (cross-entropy only)", "RRR (input gradients)"]
    captions = " ".join(c.value for c in at.caption)
    assert "your marks" in captions and "Plausibility" not in captions  # no relevant marks, no such column
    assert "plausibility" not in table.columns
    [hint] = [i.value for i in at.info if "judged examples" in i.value]
    assert "3 judged examples" in hint and "about 20 judged examples" in hint and "0.78" in hint


def test_models_page_splits_the_text_table_and_escapes_class_names(demo, tmp_path):
    hostile = ["![](http://127.0.0.1:9/x)", "<img src=x>"]
    rows = "".join(f'{{"text": "a review number {i}", "label": "{hostile[i % 2]}"}}\n' for i in range(20))
    data = tmp_path / "hostile.jsonl"
    data.write_text(rows, encoding="utf-8")
    project, report = services.import_text(data, name="hostile")
    assert project is not None, report
    model, tokenizer = tiny_classifier(num_labels=2)
    metrics = {"test_acc": 0.5, "token_f1": 0.25, "iou": 0.2, "auprc": 0.3, "comprehensiveness": 0.1}
    metrics |= {"sufficiency": 0.05, "plausibility": 0.25, "lambda": 0.00123}
    plain = {"test_acc": 0.5, "lambda": None}  # a plain job stores lambda None: no empty column for it
    services.register_model(project.id, (model, tokenizer), TextTrainConfig(method="none"), plain)
    services.register_model(project.id, (model, tokenizer), TextTrainConfig(method="rrr"), metrics)
    at = open_page(project.id, "models")
    main, explanations = (d.value for d in at.dataframe[:2])
    assert "sufficiency" in explanations.columns and "sufficiency" not in main.columns
    assert list(main["lambda"]) == ["", "0.00123"]
    assert list(main["method"]) == ["Plain (cross-entropy only)", "RRR (irrelevant tokens)"]
    shown = "\n".join(m.value for m in at.markdown)
    assert "\\<img src\\=x\\>" in shown or "\\!\\[\\]\\(http\\:" in shown  # the class name, as text
    assert not raw_markup(shown)


def raw_markup(markdown: str) -> list[str]:
    """Image links and HTML tags that Markdown would render: ones not escaped by ui.md()."""
    import re

    return re.findall(r"(?<!\\)!(?<!\\)\[|(?<!\\)<img", markdown)


def test_image_train_page_queues_a_backbone_with_its_options(demo, tmp_path):
    at = open_page(demo.project_id, "train")
    model = [s for s in at.selectbox if s.label == "Model"][0]
    assert {"ResNet-18", "ConvNeXt-T", "ViT-Ti/16", "Your own (hf:, torchvision:, timm:)"} <= set(model.options)
    model.set_value("resnet18").run()
    upscaled = [c.value for c in at.caption if "upscaled" in c.value]
    assert upscaled and "28x28" in upscaled[0] and "train at 28" in upscaled[0]  # the demo's digits
    [size] = [n for n in at.number_input if n.label.startswith("Image size")]
    size.set_value(32).run()
    assert not [c for c in at.caption if "upscaled" in c.value]
    [head] = [c for c in at.checkbox if c.label == "Train only the head"]
    head.check().run()
    [c for c in at.checkbox if c.label.startswith("Augment")][0].check().run()
    [weights] = [t for t in at.text_input if t.label.startswith("Weights file")]
    weights.set_value(str(tmp_path / "missing.safetensors")).run()
    assert any("outside the data folders" in e.value or "not found" in e.value for e in at.error)
    assert [b for b in at.button if b.label == "Queue training job"][0].disabled  # said before queuing
    [weights] = [t for t in at.text_input if t.label.startswith("Weights file")]
    weights.set_value("").run()
    [b for b in at.button if b.label == "Queue training job"][0].click().run()
    [job] = services.list_jobs(demo.project_id)
    config = job.spec["config"]
    assert (config["arch"], config["image_size"], config["train_head_only"], config["weights"]) == (
        "resnet18",
        32,
        True,
        None,
    )
    assert config["augment"] is True


def test_image_train_page_refuses_rrr_g_on_a_map_too_coarse_before_queuing(demo):
    at = open_page(demo.project_id, "train")
    [s for s in at.selectbox if s.label == "Method"][0].set_value("rrr_g").run()
    [s for s in at.selectbox if s.label == "Model"][0].set_value("resnet18_half").run()
    [upscaled] = [c.value for c in at.caption if "upscaled" in c.value]
    assert "train at 28" not in upscaled and "too coarse for RRR-G" in upscaled  # no advice it would refuse
    [size] = [n for n in at.number_input if n.label.startswith("Image size")]
    size.set_value(64).run()  # a ResNet's last stage: 2x2 cells at 64 pixels
    assert any("2x2 map at 64x64 pixels: too coarse" in e.value.replace("\\", "") for e in at.error)
    [queue] = [b for b in at.button if b.label == "Queue training job"]
    assert queue.disabled
    size.set_value(128).run()  # 4x4 cells
    assert not at.error
    [b for b in at.button if b.label == "Queue training job"][0].click().run()
    [job] = services.list_jobs(demo.project_id)
    assert (job.spec["config"]["method"], job.spec["config"]["image_size"]) == ("rrr_g", 128)


def test_image_train_page_takes_your_own_model_by_name(demo):
    at = open_page(demo.project_id, "train")
    [s for s in at.selectbox if s.label == "Model"][0].set_value("__own__").run()
    [name] = [t for t in at.text_input if t.label == "Architecture"]
    assert name.value == "hf:"
    assert any("unknown backbone" in e.value for e in at.error)  # no name yet: said, not a traceback
    name.set_value("timm:resnet18").run()
    assert not at.exception


def test_feedback_hints_speak_only_for_the_projects_they_measured():
    assert "about 20 judged examples" in services.feedback_hint("image", "rrr", 3, "decoy-digits")
    assert services.feedback_hint("image", "rrr", 3, "decoy-cifar10") is None  # not what was measured
    assert services.feedback_hint("image", "rrr", 3, "image-folder") is None
    assert services.feedback_hint("image", "rrr", 500, "decoy-digits") is None  # enough feedback
