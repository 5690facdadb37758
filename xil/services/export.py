"""Export the feedback dataset: every row (superseded ones too, marked), with the model version
each piece of feedback judged, its review status and whether it agrees with the example's majority."""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

import numpy as np
from sqlalchemy import select
from sqlmodel import col

from db import Example, Feedback, ModelVersion, session_scope
from xil.export import mask_to_png, write_rows
from xil.export.writers import FORMATS, replacing
from xil.services import adapters
from xil.services.access import Actor, audit, require
from xil.services.catalog import dataset, get_project
from xil.services.feedback_store import in_consensus

MASK_MODES = ("array", "png")


def feedback_rows(project_id: int) -> list[dict]:
    """One row per piece of feedback: masks as nested 0/1 lists (images), or the text with the
    indices of the marked words (texts). ``review_status`` and ``reviewed_by`` say what a reviewer
    decided; ``in_consensus`` whether the row's verdict and label (a ranking: its order) equal the
    majority of the example's current judgements (True where the example has one)."""
    project = get_project(project_id)
    ds = dataset(project_id)
    fields = adapters.for_task(project.task).export_fields
    with session_scope() as session:
        result = session.execute(
            select(Feedback, Example, ModelVersion)
            .join(Example, col(Example.id) == Feedback.example_id)
            .outerjoin(ModelVersion, col(ModelVersion.id) == Feedback.model_version_id)
            .where(Feedback.project_id == project_id)
            .order_by(col(Feedback.id))
        ).all()
    superseded = {fb.supersedes_id for fb, _, _ in result if fb.supersedes_id}
    current: dict[int, list[Feedback]] = {}
    for fb, _, _ in result:
        if fb.id not in superseded:
            current.setdefault(fb.example_id, []).append(fb)
    rows = []
    for fb, example, version in result:
        rows.append(
            {
                "feedback_id": fb.id,
                "project": project.name,
                "example_id": example.id,
                "example_name": example.name,
                "split": example.split,
                "dataset_label": example.label,
                "label": fb.label if fb.label is not None else example.label,
                "label_corrected": fb.label is not None,
                "verdict": fb.verdict,
                "annotator": fb.annotator,
                "created_at": fb.created_at.isoformat(),
                "model_version_id": fb.model_version_id,
                "model_version": version.version if version else None,
                "explanation_method": fb.explanation_method,
                "supersedes_id": fb.supersedes_id,
                "current": fb.id not in superseded,
                "review_status": fb.review_status,
                "reviewed_by": fb.reviewed_by,
                "in_consensus": in_consensus(fb, current.get(example.id, []), example.label),
                **fields(ds, example, fb),
            }
        )
    return rows


def export_feedback(
    project_id: int, out: str | Path, fmt: str = "jsonl", masks: str = "array", actor: Actor | None = None
) -> Path:
    """Write the feedback dataset to ``out``. With ``masks="png"`` the result is a zip holding
    ``feedback.<fmt>`` (mask columns name PNG files) and ``masks/<feedback id>_<kind>.png``. Needs the
    export permission; audited."""
    require(actor, project_id, "export")
    if masks not in MASK_MODES:
        raise ValueError(f"masks must be one of {MASK_MODES}")
    if fmt not in FORMATS:
        raise ValueError(f"unknown export format {fmt!r}; choose from {FORMATS}")
    rows = feedback_rows(project_id)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    audit(actor, "feedback_exported", project_id, rows=len(rows), fmt=fmt, masks=masks)
    if masks == "array" or not any("irrelevant_mask" in row for row in rows):  # only images have masks to draw
        write_rows(rows, out, fmt)
        return out
    with (
        tempfile.TemporaryDirectory() as tmp,
        replacing(out) as partial,
        zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as archive,
    ):
        for row in rows:
            for kind in ("irrelevant", "relevant"):
                name = f"masks/{row['feedback_id']}_{kind}.png"
                archive.writestr(name, mask_to_png(np.array(row[f"{kind}_mask"], dtype=bool)))
                row[f"{kind}_mask"] = name
        table = Path(tmp) / f"feedback.{fmt}"
        write_rows(rows, table, fmt)
        archive.write(table, table.name)
    return out


# --- file naming: one name for the file written, the download button's label and the saved file ----


def export_file_name(project_name: str, rows: str, suffix: str) -> str:
    """``<project slug>-<rows><suffix>``, e.g. ``decoy-digits-demo-feedback.jsonl``; ``rows`` is
    ``feedback`` or ``preferences``. The slug keeps letters and digits only, so a project name is safe
    in a file name and in a button label (which Streamlit renders as Markdown)."""
    import re

    slug = re.sub(r"[^a-z0-9]+", "-", project_name.lower()).strip("-") or "project"
    return f"{slug}-{rows}{suffix}"
