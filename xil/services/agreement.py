"""Work tier: how far a project's annotators agree, over the examples two or more of them judged.

Reads every annotator's *current* judgement of each example (a superseded one no longer counts) and
hands plain lists to the measures of :mod:`xil.agreement`. Which measures apply follows from what
the judgements hold (verdicts, pixel masks, marked words, ranks), so a project of any task gets the
ones that fit and ``None`` for the rest.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from sqlalchemy import select
from sqlmodel import col

from db import Example, Feedback, session_scope
from xil import agreement as measures
from xil.services.access import Actor, require
from xil.services.catalog import dataset, get_project
from xil.services.feedback_store import current_query, load_mask, word_marks
from xil.services.progress import visible_rows


def _ranks(row: Feedback) -> list[int | None] | None:
    """A ranking's ranks, or None when it states no order (all marked bad, or nothing ranked)."""
    payload = row.payload or {}
    if payload.get("all_bad") or not any(r is not None for r in payload.get("ranks", [])):
        return None
    return list(payload["ranks"])


def _image_units(project_id: int, examples: list[dict[str, Feedback]], names: list[str], kind: str) -> list:
    shape = dataset(project_id).shape[1:]
    return [
        [load_mask(getattr(fb, f"{kind}_path"), shape) if (fb := judged.get(name)) else None for name in names]
        for judged in examples
    ]


def agreement(project_id: int, actor: Actor | None = None) -> dict:
    """Agreement over the examples with two or more current judgements (see :mod:`xil.agreement` for
    every formula), as one JSON-ready dict:

    - ``examples_with_overlap``: examples two or more annotators judged;
    - ``verdict_alpha``, ``label_alpha``: Krippendorff's alpha (nominal) of the verdicts and of the
      labels (the corrected label, or the dataset's where the annotator kept it);
    - ``mask_iou``, ``mask_iou_relevant``: mean pairwise IoU of the irrelevant / relevant pixel masks;
    - ``token_alpha``: alpha over per-word marks; ``token_f1``, ``token_f1_relevant``: mean pairwise F1
      of the irrelevant / relevant marked words;
    - ``ranking_kendall_w``: Kendall's W per prompt (ties corrected), averaged over prompts;
      ``ranking_tau``: mean pairwise Kendall tau-b per prompt, averaged over prompts;
    - ``annotators``: per annotator ``name``, ``n`` (current judgements), ``per_hour`` (judgements per
      hour of active time: the gaps between consecutive saves of that annotator, superseded saves
      included, each capped at five minutes; None with fewer than two saves), ``overlap`` (examples
      shared with someone), ``agreement`` (share of those where the annotator's verdict equals the
      majority of the others'; for rankings the mean tau with each other annotator) and ``consensus``
      (the same against the majority vote of everyone; for rankings tau with the mean ranks).

    A measure is ``None`` where nothing applies or it is undefined. ``actor``: who asks; an annotator
    gets only their own row of ``annotators`` (the project-wide measures stay), a non-member
    PermissionDenied (None: the trusted operator, every row)."""
    project = get_project(project_id)
    require(actor, project.id, "judge")  # members only, before anything is read
    with session_scope() as session:
        current = list(session.scalars(current_query(project.id).order_by(col(Feedback.id))))
        saves = session.execute(
            select(Feedback.annotator, Feedback.created_at).where(Feedback.project_id == project.id)
        ).all()
        true_labels = dict(
            session.execute(
                select(Example.id, Example.label).where(col(Example.id).in_({r.example_id for r in current}))
            ).all()
        )
    names = sorted({r.annotator for r in current})
    by_example: dict[int, dict[str, Feedback]] = defaultdict(dict)
    for row in current:
        by_example[row.example_id][row.annotator] = row
    overlap = {e: judged for e, judged in sorted(by_example.items()) if len(judged) >= 2}
    examples = list(overlap.values())

    def column(value) -> list[list]:
        return [[value(fb) if (fb := judged.get(name)) else None for name in names] for judged in examples]

    judgements = [judged for judged in examples if any(fb.kind != "ranking" for fb in judged.values())]
    verdicts = column(lambda fb: fb.verdict)
    labels = column(
        lambda fb: None if fb.kind == "ranking" else fb.label if fb.label is not None else true_labels[fb.example_id]
    )
    images = [j for j in examples if any(fb.kind == "image_rationale" for fb in j.values())]
    texts = [j for j in examples if any(fb.kind == "text_rationale" for fb in j.values())]
    rankings = [j for j in examples if any(fb.kind == "ranking" for fb in j.values())]

    result: dict = {
        "project": project.id,
        "examples_with_overlap": len(examples),
        "verdict_alpha": measures.nominal_alpha(verdicts),
        "label_alpha": measures.nominal_alpha(labels) if judgements else None,
        "mask_iou": None,
        "mask_iou_relevant": None,
        "token_alpha": None,
        "token_f1": None,
        "token_f1_relevant": None,
        "ranking_kendall_w": None,
        "ranking_tau": None,
    }
    if images:
        result["mask_iou"] = measures.mean_pairwise_iou(_image_units(project.id, images, names, "irrelevant"))
        result["mask_iou_relevant"] = measures.mean_pairwise_iou(_image_units(project.id, images, names, "relevant"))
    if texts:
        ds = dataset(project.id)
        idx = _example_rows(texts)
        result["token_alpha"] = measures.word_mark_alpha(
            [
                [
                    measures.word_codes(
                        len(ds.words(idx[fb.example_id])),
                        word_marks(fb.payload or {}, "irrelevant"),
                        word_marks(fb.payload or {}, "relevant"),
                    )
                    if (fb := judged.get(name))
                    else None
                    for name in names
                ]
                for judged in texts
            ]
        )
        for key, kind in (("token_f1", "irrelevant"), ("token_f1_relevant", "relevant")):
            result[key] = measures.mean_pairwise_token_f1(
                [[word_marks(fb.payload or {}, kind) if (fb := j.get(name)) else None for name in names] for j in texts]
            )
    rank_units = [[_ranks(fb) if (fb := j.get(name)) else None for name in names] for j in rankings]
    if rankings:
        common = [measures.common_ranks(prompt) for prompt in rank_units]
        ws = [w for ranks in common if (w := measures.kendall_w(ranks)) is not None]
        taus = [t for ranks in common if (t := measures.mean_pairwise_tau(ranks)) is not None]
        result["ranking_kendall_w"] = float(np.mean(ws)) if ws else None
        result["ranking_tau"] = float(np.mean(taus)) if taus else None

    per_annotator = measures.annotator_agreement(verdicts)
    per_ranker = measures.ranking_agreement(rank_units)
    times: dict[str, list] = defaultdict(list)
    for name, created_at in saves:
        times[name].append(created_at)
    result["annotators"] = []
    for j, name in enumerate(names):
        n = sum(1 for r in current if r.annotator == name)
        shares = per_annotator[j] if j < len(per_annotator) else {}
        if shares.get("with_others") is None and j < len(per_ranker) and per_ranker[j]["units"]:
            shares = per_ranker[j]
        result["annotators"].append(
            {
                "name": name,
                "n": n,
                "per_hour": measures.per_hour(n, times[name]),
                "overlap": sum(1 for judged in examples if name in judged),
                "agreement": shares.get("with_others"),
                "consensus": shares.get("with_consensus"),
            }
        )
    result["annotators"] = visible_rows(actor, project.id, result["annotators"])
    return result


def _example_rows(examples: list[dict[str, Feedback]]) -> dict[int, int]:
    """Example id -> its row in the project's dataset file."""
    ids = {fb.example_id for judged in examples for fb in judged.values()}
    with session_scope() as session:
        return dict(session.execute(select(Example.id, Example.idx).where(col(Example.id).in_(ids))).all())
