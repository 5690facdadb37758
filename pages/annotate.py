"""Annotate: one example at a time, its prediction and explanation; mark regions, judge, save, next."""

from __future__ import annotations

import numpy as np
import streamlit as st

from pages import ui
from xil import services

BRUSHES = {"irrelevant": "Irrelevant", "relevant": "Relevant", "erase": "Erase"}

ui.setup("Annotate")
st.title("Annotate")
pid = ui.require_project()
versions = services.list_model_versions(pid)
if not versions:
    st.info("This project has no model yet: train one on the Train page (method: none).")
    st.stop()

annotator = st.session_state.get("annotator", "")
task = services.get_project(pid).task
if task == "ranking":
    st.info("This is a ranking project: its annotation happens on the Rank page.")
    st.page_link("pages/rank.py", label="Go to Rank", icon=":material/format_list_numbered:")
    st.stop()

top = st.columns([2, 2, 2])
with top[0]:
    version = ui.pick_version("Model version", versions, key="annotate_version")
methods = ui.explanation_methods(task, version.arch)
with top[1]:
    method = st.selectbox("Explanation", list(methods), format_func=methods.get, key=f"annotate_method_{task}")
with top[2]:
    strategy = st.selectbox(
        "Queue", list(services.STRATEGIES), format_func=services.STRATEGIES.get, key="annotate_strategy"
    )

done, total = services.annotation_progress(pid)
st.progress(done / total if total else 0.0, text=f"{done} of {total} training examples judged")

skipped = st.session_state.setdefault("skipped", [])
example_id = st.session_state.get("example_id")
if example_id is None and (wanted := st.query_params.get("example", "")).isdigit():
    example_id = int(wanted)
if example_id is None:
    queue = services.next_examples(pid, version.id, strategy, annotator, n=4, exclude=tuple(skipped))
    if not queue:
        st.success("Every training example has feedback. Train a new version on the Train page.")
        st.stop()
    example_id = queue[0]
    services.prefetch(version.id, queue[1:], method)
st.session_state["example_id"] = example_id
st.query_params["example"] = str(example_id)

try:
    view = services.explain_example(version.id, example_id, method)
    if view.project_id != pid:
        raise ValueError(f"example {example_id} belongs to another project")
except ValueError as exc:  # a stale example id in the URL, say
    st.session_state.pop("example_id", None)
    st.query_params.pop("example", None)
    st.error(f"{exc}; showing the next one instead.")
    st.rerun()
shape = view.image.shape[1:] if view.task == "image" else (len(view.words),)
unit = "pixels" if view.task == "image" else "words"

marks = st.session_state.setdefault("marks", {})
if example_id not in marks:
    draft = services.load_draft(annotator, example_id) if annotator else None
    marks[example_id] = (
        {"irrelevant": draft[0], "relevant": draft[1]}
        if draft
        else {
            "irrelevant": np.zeros(shape, dtype=bool),
            "relevant": np.zeros(shape, dtype=bool),
        }
    )
current = marks[example_id]
nonce = st.session_state.setdefault("canvas_nonce", 0)
chart_key = f"canvas-{example_id}-{nonce}"


def on_select() -> None:
    event = st.session_state.get(chart_key)
    points = event.selection.points if event else []
    selected = ui.selection_to_mask(points, shape)
    brush = st.session_state.get("brush", "irrelevant")
    for kind in ("irrelevant", "relevant"):
        if kind == brush:
            current[kind] = current[kind] | selected
        else:
            current[kind] = current[kind] & ~selected
    st.session_state["canvas_nonce"] += 1  # a fresh chart drops the old selection box
    if annotator:
        services.save_draft(annotator, example_id, current["irrelevant"], current["relevant"])


def on_pills(kind: str) -> None:
    chosen = np.zeros(shape, dtype=bool)
    chosen[list(st.session_state.get(f"{kind}-{example_id}-{nonce}") or [])] = True
    other = "relevant" if kind == "irrelevant" else "irrelevant"
    current[kind] = chosen
    if (current[other] & chosen).any():  # a word is one or the other; the latest choice wins
        current[other] = current[other] & ~chosen
        st.session_state["canvas_nonce"] += 1
    if annotator:
        services.save_draft(annotator, example_id, current["irrelevant"], current["relevant"])


def clear_marks() -> None:
    current["irrelevant"] = np.zeros(shape, dtype=bool)
    current["relevant"] = np.zeros(shape, dtype=bool)
    st.session_state["canvas_nonce"] += 1
    if annotator:
        services.discard_draft(annotator, example_id)


def advance() -> None:
    marks.pop(example_id, None)
    st.session_state.pop("example_id", None)
    st.query_params.pop("example", None)


def marks_for_saving() -> dict:
    if view.task == "image":
        return {"irrelevant": current["irrelevant"], "relevant": current["relevant"]}
    return {
        "irrelevant_words": np.flatnonzero(current["irrelevant"]).tolist(),
        "relevant_words": np.flatnonzero(current["relevant"]).tolist(),
    }


def save(verdict: str) -> None:
    if not annotator:
        st.session_state["flash"] = ("error", "Enter your name as annotator in the sidebar before saving.")
        return
    label = st.session_state.get(f"label_fix-{example_id}")
    try:
        row = services.save_feedback(
            example_id,
            annotator,
            version.id,
            verdict=verdict,
            label=None if label in (None, view.label) else int(label),
            explanation_method=method,
            **marks_for_saving(),
        )
    except ValueError as exc:
        st.session_state["flash"] = ("error", str(exc))
        return
    services.discard_draft(annotator, example_id)
    st.session_state["flash"] = ("success", f"Saved feedback #{row.id} on {view.name}.")
    advance()


def skip() -> None:
    skipped.append(example_id)
    advance()


if flash := st.session_state.pop("flash", None):
    getattr(st, flash[0])(flash[1])

left, right = st.columns([3, 2], gap="large")
with left:
    show_heat = st.toggle("Show explanation", value=True, key="show_heat")
    if view.task == "image":
        fig = ui.explanation_figure(view, current["irrelevant"], current["relevant"], show_heat, selectable=True)
        st.plotly_chart(
            fig,
            key=chart_key,
            on_select=on_select,
            selection_mode=("box", "lasso"),
            config={"displaylogo": False, "modeBarButtonsToRemove": ["toImage"]},
        )
        st.caption("Drag a box (or pick lasso in the chart's toolbar) to mark pixels with the brush on the right.")
    else:
        st.html(ui.word_heatmap(view, current["irrelevant"], current["relevant"], show_heat))
        for kind, title in (("irrelevant", "Irrelevant words (should not matter)"), ("relevant", "Relevant words")):
            st.pills(
                title,
                list(range(len(view.words))),
                format_func=lambda i: view.words[i],
                selection_mode="multi",
                default=np.flatnonzero(current[kind]).tolist(),
                key=f"{kind}-{example_id}-{nonce}",
                on_change=on_pills,
                args=(kind,),
                wrap=True,  # in a column Streamlit would scroll them sideways, hiding the text's end
            )
with right:
    st.markdown(
        f"**{view.name}** · label **{view.class_names[view.label]}** · predicted **{view.class_names[view.predicted]}** ({view.probs.max():.0%})"
    )
    st.plotly_chart(ui.probability_figure(view), key=f"probs-{example_id}", config={"displayModeBar": False})
    if view.task == "image":
        st.segmented_control("Brush", list(BRUSHES), format_func=BRUSHES.get, default="irrelevant", key="brush")
    n_irr, n_rel = int(current["irrelevant"].sum()), int(current["relevant"].sum())
    st.caption(f"Marked: {n_irr} irrelevant (magenta), {n_rel} relevant (green) {unit}")
    st.selectbox(
        "Correct label",
        list(range(len(view.class_names))),
        index=view.label,
        format_func=lambda i: view.class_names[i] + (" (dataset label)" if i == view.label else ""),
        key=f"label_fix-{example_id}",
    )
    b1, b2 = st.columns(2)
    b1.button("Wrong reason", type="primary", on_click=save, args=("wrong_reason",), shortcut="2", width="stretch")
    b2.button("Right reason", on_click=save, args=("right_reason",), shortcut="1", width="stretch")
    b3, b4 = st.columns(2)
    b3.button("Clear marks", on_click=clear_marks, shortcut="X", width="stretch")
    b4.button("Skip", on_click=skip, shortcut="S", width="stretch")
    st.caption(
        "Both verdict buttons save the marks and the label, then show the next example. Keys: 1 right reason · 2 wrong reason · X clear · S skip"
    )
    history = services.feedback_history(example_id)
    if history:
        with st.expander(f"History of this example ({len(history)})"):
            st.dataframe(
                [
                    {
                        "id": f.id,
                        "annotator": f.annotator,
                        "verdict": f.verdict,
                        "label": f.label,
                        "model version id": f.model_version_id,
                        "supersedes": f.supersedes_id,
                        "at": f.created_at.strftime("%Y-%m-%d %H:%M"),
                    }
                    for f in history
                ],
                hide_index=True,
            )
