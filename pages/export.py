"""Export: the feedback dataset as JSONL or Parquet, masks as arrays or PNG files."""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from pages import ui
from xil import services

ui.setup("Export")
ui.require_permission("export")
st.title("Export")
pid = ui.require_project()
actor = ui.actor()
project = services.get_project(pid)
n = services.annotation_progress(pid)[0]
st.caption(
    "Every piece of feedback, superseded ones included (column `current`), with the model version it judged, "
    "its review (`review_status`, `reviewed_by`) and whether it agrees with the example's majority (`in_consensus`)."
)
c1, c2 = st.columns(2)
fmt = c1.radio(
    "Format", ["jsonl", "parquet"], horizontal=True, format_func={"jsonl": "JSONL", "parquet": "Parquet"}.get
)
task = project.task
if task == "image":
    masks = c2.radio(
        "Masks",
        ["array", "png"],
        horizontal=True,
        format_func={"array": "Arrays in the rows", "png": "PNG files (zip)"}.get,
    )
elif task == "ranking":
    masks = "array"
    pairs = c2.radio(
        "Rows",
        ["rankings", "pairs", "comparisons"],
        horizontal=True,
        format_func={
            "rankings": "Rankings",
            "pairs": "Preference pairs (TRL: prompt, chosen, rejected)",
            "comparisons": "Blind comparisons (Compare page; JSONL)",
        }.get,
    )
else:
    masks = "array"
if st.button("Prepare export", type="primary", disabled=n == 0):
    suffix = ".zip" if masks == "png" else f".{fmt}"
    rows = (
        {"pairs": "preferences", "comparisons": "comparisons"}.get(pairs, "feedback")
        if task == "ranking"
        else "feedback"
    )
    if rows == "comparisons":
        suffix = ".jsonl"
    # one name for the file, the button's label and the downloaded file (they differed)
    name = services.export_file_name(project.name, rows, suffix)
    with tempfile.TemporaryDirectory() as tmp:
        if rows == "preferences":
            from xil.services import ranking

            path = ranking.export_preferences(pid, Path(tmp) / name, actor=ui.actor())
        elif rows == "comparisons":
            path = services.comparison.export_comparisons(pid, Path(tmp) / name, actor=actor)
        else:
            path = services.export_feedback(pid, Path(tmp) / name, fmt=fmt, masks=masks, actor=actor)
        st.session_state["export"] = (pid, name, path.read_bytes())
if n == 0:
    st.info("No feedback yet: annotate some examples first.")
if (export := st.session_state.get("export")) and export[0] == pid:  # not another project's file
    _, name, payload = export
    st.download_button(f"Download {name} ({len(payload) / 1024:.0f} KB)", payload, file_name=name)
