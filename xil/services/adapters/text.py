"""The text task: marked words as rationales, a Hugging Face encoder fine-tuned with token-level
RRR, HINT or counterexamples, word attributions (Layer IG, input x gradient, occlusion, AtMan)."""

from __future__ import annotations

from typing import ClassVar

import numpy as np
import torch

from db import Example, Feedback, ModelVersion
from xil.explain.text import REGISTRY as TEXT_EXPLAINERS
from xil.explain.text import explain_text, word_scores
from xil.explain.text_metrics import auprc, comprehensiveness, iou, sufficiency, token_f1, wrong_reason
from xil.feedback.text import REGISTRY as TEXT_METHODS
from xil.models.text import encode, load_classifier
from xil.registry import Registry
from xil.services.adapters.base import Progress, classifier_progress_line, classifier_result_line
from xil.services.adapters.image import PLAIN_TITLE
from xil.services.catalog import dataset
from xil.services.feedback_store import feedback_words, word_marks
from xil.services.versions import load, save_model_folder
from xil.train.text_config import TextTrainConfig

EXPLAIN_MAX_LENGTH = 128


def _load_classifier(path: str):
    return load_classifier(path, device="cpu")


def validate_words(words: list[int] | None, n_words: int, kind: str) -> list[int]:
    marked = sorted({int(i) for i in words or []})
    bad = [i for i in marked if not 0 <= i < n_words]
    if bad:
        raise ValueError(f"{kind} word indices {bad} are outside this text's {n_words} words")
    return marked


def _word_attributions(model, tokenizer, ds, rows: list[int]) -> list[np.ndarray]:
    """Input x gradient per word of each of ``rows`` (one backward pass per batch)."""
    encoded = encode(tokenizer, [ds.texts[i] for i in rows], max_length=EXPLAIN_MAX_LENGTH)
    attr, _ = explain_text(model, encoded, "input_x_gradient")
    return [word_scores(attr[i], encoded.word_ids[i], len(ds.words(row))).numpy() for i, row in enumerate(rows)]


def _marks(words: list[np.ndarray], judged: list[tuple[int, Feedback]], kind: str) -> list[np.ndarray]:
    out = []
    for w, (_, fb) in zip(words, judged, strict=True):
        mask = np.zeros(len(w), dtype=bool)
        mask[word_marks(fb.payload, kind)] = True
        out.append(mask)
    return out


class TextAdapter:
    task: ClassVar[str] = "text"
    config_class: ClassVar[type] = TextTrainConfig
    config_classes: ClassVar[tuple[type, ...]] = (TextTrainConfig,)
    methods: ClassVar[Registry] = TEXT_METHODS

    def first_config(self) -> TextTrainConfig:
        return TextTrainConfig(method="none")

    def check(self, project_id: int, cfg) -> None:
        if not isinstance(cfg, TextTrainConfig):
            raise ValueError("a text project trains with TextTrainConfig settings")

    def training_inputs(
        self, project_id: int, slice: str = "all"
    ) -> tuple[list[str], np.ndarray, list[list[int]], list[list[int]], int]:
        """Training texts with label corrections applied, the marked words of each (of the feedback
        ``slice``: all, accepted or consensus), and how many pieces of feedback went in."""
        ds = dataset(project_id)
        train_idx = ds.indices("train")
        position = {int(row): i for i, row in enumerate(train_idx)}
        texts = [ds.texts[i] for i in train_idx]
        labels = ds.labels[train_idx].copy()
        irrelevant: list[list[int]] = [[] for _ in texts]
        relevant: list[list[int]] = [[] for _ in texts]
        used = 0
        for row, fb in feedback_words(project_id, slice):
            if row not in position:
                continue
            used += 1
            i = position[row]
            irrelevant[i] = word_marks(fb.payload, "irrelevant")
            relevant[i] = word_marks(fb.payload, "relevant")
            if fb.label is not None:
                labels[i] = fb.label
        return texts, labels, irrelevant, relevant, used

    def train_inputs(self, project_id: int, cfg: TextTrainConfig) -> tuple:
        return self.training_inputs(project_id, cfg.feedback)

    def train(self, project_id: int, cfg: TextTrainConfig, progress: Progress, log, inputs=None):
        from xil.train.text_loop import train_text

        texts, labels, irrelevant, relevant, n_feedback = (
            inputs if inputs is not None else self.train_inputs(project_id, cfg)
        )
        log(
            f"fine-tuning {cfg.backbone} with {cfg.method} on {len(texts)} texts, {n_feedback} with feedback"
            + ("" if cfg.feedback == "all" else f" ({cfg.feedback})")
        )
        n_classes = len(dataset(project_id).class_names)
        model, tokenizer, history = train_text(
            cfg, texts, labels, irrelevant, relevant, n_classes=n_classes, progress=progress
        )
        return (model.cpu(), tokenizer), history, n_feedback

    def evaluate(self, project_id: int, artifact, cfg: TextTrainConfig | None = None, n_faithfulness: int = 64) -> dict:
        """Test accuracy; wrong-reason score on the dataset's known shortcut words and on annotators'
        irrelevant words; plausibility (token F1, IoU, AUPRC) against annotators' relevant words;
        faithfulness (comprehensiveness, sufficiency; ERASER) on up to ``n_faithfulness`` test texts. The
        annotators' marks are those of the config's feedback slice."""
        from xil.train.text_loop import evaluate_text

        model, tokenizer = artifact
        ds = dataset(project_id)
        model.eval()
        test = ds.indices("test")
        texts = [ds.texts[i] for i in test]
        result = evaluate_text(model, tokenizer, texts, ds.labels[test], ds.shortcut_words or None)
        metrics = {"test_acc": result["acc"]}
        if "shortcut_attr" in result:
            metrics["wrong_reason"] = result["shortcut_attr"]
        sample = texts[:n_faithfulness]
        if sample:
            encoded = encode(tokenizer, sample, max_length=EXPLAIN_MAX_LENGTH)
            attr, _ = explain_text(model, encoded, "input_x_gradient")
            metrics["comprehensiveness"] = float(np.mean(comprehensiveness(model, encoded, attr)))
            metrics["sufficiency"] = float(np.mean(sufficiency(model, encoded, attr)))
        judged = feedback_words(project_id, getattr(cfg, "feedback", "all"))
        if judged:
            words = _word_attributions(model, tokenizer, ds, [row for row, _ in judged])
            irrelevant, relevant = _marks(words, judged, "irrelevant"), _marks(words, judged, "relevant")
            if any(m.any() for m in irrelevant):
                metrics["wrong_reason_feedback"] = wrong_reason(words, irrelevant)
            if any(m.any() for m in relevant):
                metrics["token_f1"] = token_f1(words, relevant)
                metrics["iou"] = iou(words, relevant)
                metrics["auprc"] = auprc(words, relevant)
                metrics["plausibility"] = metrics["token_f1"]
        return metrics

    def save(self, project_id: int, artifact, cfg: TextTrainConfig) -> tuple[str, str, str, str]:
        model, tokenizer = artifact
        rel, sha = save_model_folder(model.cpu(), tokenizer, "text")
        return rel, sha, cfg.backbone, cfg.method

    def load_file(self, path: str, cfg: TextTrainConfig):
        return _load_classifier(path)

    def load(self, row: ModelVersion):
        """``(model, tokenizer)``, cached."""
        return load(row, _load_classifier)

    progress_line = staticmethod(classifier_progress_line)
    result_line = staticmethod(classifier_result_line)

    def explanation_methods(self, row: ModelVersion) -> dict[str, str]:
        return {name: e.title for name, e in TEXT_EXPLAINERS.items()}

    def training_methods(self) -> dict[str, str]:
        return {"none": PLAIN_TITLE, **{name: m.title for name, m in self.methods.items()}}

    def content(self, ds, idx: int) -> dict:
        return {"words": ds.words(idx)}

    def explain(self, row: ModelVersion, ds, idx: int, method: str) -> tuple[np.ndarray, np.ndarray]:
        """``(one score per word, class probabilities)`` for text ``idx``."""
        model, tokenizer = self.load(row)
        encoded = encode(tokenizer, [ds.texts[idx]], max_length=EXPLAIN_MAX_LENGTH)
        tokens, probs = explain_text(model, encoded, method)
        scores = word_scores(tokens[0], encoded.word_ids[0], len(ds.words(idx)))
        return scores.numpy().astype(np.float32), probs[0].numpy()

    def _batches(self, row: ModelVersion, ds):
        model, tokenizer = self.load(row)
        for start in range(0, len(ds), 32):
            texts = ds.texts[start : start + 32]
            yield start, model, encode(tokenizer, texts, max_length=EXPLAIN_MAX_LENGTH)

    def queue_scores(self, row: ModelVersion, ds, strategy: str) -> np.ndarray:
        """Suspicious: the largest share of attribution on a single word (a model that decides on one
        word is often using a shortcut); least confident: 1 - max probability."""
        scores = np.zeros(len(ds), dtype=np.float64)
        for start, model, encoded in self._batches(row, ds):
            n = len(encoded.input_ids)
            if strategy == "least_confident":
                with torch.no_grad():
                    logits = model(input_ids=encoded.input_ids, attention_mask=encoded.attention_mask).logits
                scores[start : start + n] = 1 - torch.softmax(logits, 1).max(1).values.numpy()
            else:
                tokens, _ = explain_text(model, encoded, "input_x_gradient")
                share = tokens.abs() / tokens.abs().sum(1, keepdim=True).clamp_min(1e-12)
                scores[start : start + n] = share.max(1).values.numpy()
        return scores

    def predicted_classes(self, row: ModelVersion, ds) -> np.ndarray:
        predicted = np.zeros(len(ds), dtype=np.int64)
        for start, model, encoded in self._batches(row, ds):
            with torch.no_grad():
                logits = model(input_ids=encoded.input_ids, attention_mask=encoded.attention_mask).logits
            predicted[start : start + len(logits)] = logits.argmax(1).numpy()
        return predicted

    def rationale(self, ds, example: Example, marks: dict) -> tuple[str, dict, dict[str, np.ndarray]]:
        if marks.get("irrelevant") is not None or marks.get("relevant") is not None:
            raise ValueError("a text takes marked words (irrelevant_words, relevant_words), not pixel masks")
        n_words = len(ds.words(example.idx))
        payload = {
            f"{kind}_words": validate_words(marks.get(f"{kind}_words"), n_words, kind)
            for kind in ("irrelevant", "relevant")
        }
        return "text_rationale", payload, {}

    def export_fields(self, ds, example: Example, fb: Feedback) -> dict:
        words = ds.words(example.idx)
        irrelevant, relevant = word_marks(fb.payload, "irrelevant"), word_marks(fb.payload, "relevant")
        return {
            "text": ds.texts[example.idx],
            "irrelevant_words": irrelevant,
            "relevant_words": relevant,
            "irrelevant_tokens": [words[i] for i in irrelevant],
            "relevant_tokens": [words[i] for i in relevant],
        }

    def wrong_reason_on_marks(self, row: ModelVersion) -> float | None:
        judged = [(r, fb) for r, fb in feedback_words(row.project_id) if word_marks(fb.payload, "irrelevant")]
        if not judged:
            return None
        model, tokenizer = self.load(row)
        words = _word_attributions(model, tokenizer, dataset(row.project_id), [r for r, _ in judged])
        return float(wrong_reason(words, _marks(words, judged, "irrelevant")))
