"""Middle tier: saving an annotator's judgement of an example (verdict, label, marks), validated by
the project's task adapter before anything is stored."""

from __future__ import annotations

import numpy as np

from db import Feedback
from xil import storage
from xil.services import adapters
from xil.services.access import Actor, judge_name
from xil.services.catalog import dataset, get_example
from xil.services.feedback_store import VERDICTS, store_feedback
from xil.services.versions import get_model_version


def save_feedback(
    example_id: int,
    annotator: str,
    model_version_id: int | None,
    verdict: str | None = None,
    label: int | None = None,
    irrelevant: np.ndarray | None = None,
    relevant: np.ndarray | None = None,
    explanation_method: str | None = None,
    irrelevant_words: list[int] | None = None,
    relevant_words: list[int] | None = None,
    actor: Actor | None = None,
) -> Feedback:
    """Store a judgement; it supersedes this annotator's earlier one on the same example.

    Images take pixel masks (``irrelevant``, ``relevant``); texts take word indices
    (``irrelevant_words``, ``relevant_words``). A signed-in ``actor`` judges under their own name
    (``annotator`` is then ignored) and needs the judge permission on the project."""
    example = get_example(example_id)
    annotator = judge_name(actor, annotator, example.project_id)
    if verdict is not None and verdict not in VERDICTS:
        raise ValueError(f"verdict must be one of {VERDICTS}, got {verdict!r}")
    ds = dataset(example.project_id)
    if label is not None and not 0 <= int(label) < len(ds.class_names):
        raise ValueError(f"label {label} is not a class of this project (0..{len(ds.class_names) - 1})")
    if model_version_id is not None and get_model_version(model_version_id).project_id != example.project_id:
        raise ValueError(f"model version {model_version_id} belongs to another project than example {example_id}")
    marks = {
        "irrelevant": irrelevant,
        "relevant": relevant,
        "irrelevant_words": irrelevant_words,
        "relevant_words": relevant_words,
    }
    kind, payload, masks = adapters.for_project(example.project_id).rationale(ds, example, marks)
    if verdict == "wrong_reason" and label is None and not (masks or any(payload.values())):
        raise ValueError(
            "A wrong-reason verdict needs to say where the wrong reason is: mark the "
            + ("words" if payload else "pixels")
            + " the model should not (or should) use, or correct the label, then save again."
        )
    files: dict[str, str | None] = {}
    for name in ("irrelevant", "relevant"):  # stored only once every argument is known to be valid
        files[f"{name}_path"] = files[f"{name}_sha"] = None
        if name in masks:
            files[f"{name}_path"], files[f"{name}_sha"] = storage.put_array(masks[name], "masks")
    return store_feedback(
        example,
        annotator,
        model_version_id=model_version_id,
        verdict=verdict,
        label=None if label is None else int(label),
        explanation_method=explanation_method,
        kind=kind,
        payload=payload,
        **files,
    )
