"""Annotate: one example at a time, its prediction and explanation; mark regions, judge, save, next."""

from __future__ import annotations

import functools

import numpy as np
import streamlit as st

from pages import ui
from xil import services

BRUSHES = {"irrelevant": "Irrelevant", "relevant": "Relevant", "erase": "Erase"}
MAX_LABEL_PILLS = 12  # more classes: a select box (it can be searched)

ui.setup("Annotate")
st.title("Annotate")
pid = ui.require_project()
project = services.get_project(pid)
task = project.task
if task == "ranking":
    st.info("This is a ranking project: its annotation happens on the Rank page.")
    st.page_link("pages/rank.py", label="Go to Rank", icon=":material/format_list_numbered:")
    st.stop()
versions = services.list_model_versions(pid)
if not versions:
    st.info("This project has no model yet: its first one is queued when it is imported (see the Train page).")
    st.stop()

actor = ui.actor()
annotator = ui.annotator()


def change_overlap() -> None:
    services.set_overlap(pid, int(st.session_state[f"overlap-{pid}"]), actor=actor)


# Seeded from the database on every run (another annotator may have changed it); the callback runs first.
st.session_state[f"overlap-{pid}"] = project.overlap
st.sidebar.number_input(
    "Overlap: people per example",
    min_value=1,
    max_value=100,
    step=1,
    key=f"overlap-{pid}",
    on_change=change_overlap,
    disabled=not services.can(actor, pid, "manage"),
    help="How many people judge each example before it leaves everyone's queue. The example you have "
    f"open is held for you for {services.LEASE_MINUTES} minutes, so no one else is served it past that. "
    "An owner sets it.",
)

top = st.columns([2, 2, 2])
with top[0]:
    # one key per project: another project's versions are other objects
    version = ui.pick_version("Model version", versions, key=f"annotate_version_{pid}")
methods = services.explanation_methods(version.id)
with top[1]:
    method = st.selectbox("Explanation", list(methods), format_func=methods.get, key=f"annotate_method_{task}")
with top[2]:
    strategies = services.strategy_titles(task)
    strategy = st.selectbox("Queue", list(strategies), format_func=strategies.get, key="annotate_strategy")

progress = services.project_progress(pid)
needed = progress["judgements_needed"]
st.progress(
    progress["judgements_done"] / needed if needed else 0.0,
    text=f"{progress['complete']} of {progress['examples']} training examples have their "
    f"{project.overlap} judgement{'s' if project.overlap != 1 else ''}",
)
if annotator:
    mine_so_far = services.annotator_progress(pid, annotator)
    rate = mine_so_far["per_hour"]
    st.caption(
        f"You: {mine_so_far['done']} judged, {mine_so_far['left']} left for you"
        + (f" · {rate:.0f} per hour" if rate else "")
    )

# Skips of a named annotator are kept on the server, so a reload does not serve them again.
session_skips = st.session_state.setdefault("skipped", [])
skipped = tuple(dict.fromkeys([*session_skips, *services.skipped_examples(annotator, pid)]))


def show_skipped_again() -> None:
    session_skips.clear()
    services.unskip_examples(annotator, pid)


example_id = st.session_state.get("example_id")
if example_id is None and (wanted := st.query_params.get("example", "")).isdigit():
    example_id = int(wanted)
served = example_id is None  # the queue leases what it serves; an example reopened renews its lease here
if example_id is None:
    with st.spinner("Ordering the queue: the model explains every training example once per version..."):
        queue = services.next_examples(pid, version.id, strategy, annotator, n=4, exclude=skipped)
    if not queue and skipped:
        st.info(f"Every other training example has feedback; {len(skipped)} skipped.")
        st.button("Show the skipped examples again", on_click=show_skipped_again)
        st.stop()
    if not queue:
        if project.overlap > 1:
            st.success(
                f"No training example is waiting for you: each has its {project.overlap} judgements, is open "
                "on others' screens, or you judged it. Train a new version on the Train page."
            )
        else:
            st.success("Every training example has feedback. Train a new version on the Train page.")
        st.stop()
    example_id = queue[0]
    services.prefetch(version.id, queue[1:], method)
st.session_state["example_id"] = example_id
st.query_params["example"] = str(example_id)

try:  # the service refuses an example or version of another project before explaining anything
    with st.spinner("Explaining the prediction..."):
        view = services.explain_example(version.id, example_id, method, project_id=pid)
except ValueError as exc:  # a stale example id in the URL, say
    st.session_state.pop("example_id", None)
    st.query_params.pop("example", None)
    st.session_state["flash"] = ("warning", f"{exc}; showing the next one instead.")
    st.rerun()
if annotator and not served and not services.lease(example_id, annotator):
    st.session_state.pop("example_id", None)  # its judgements are complete, or others have it open
    st.query_params.pop("example", None)
    st.session_state["flash"] = (
        "warning",
        f"{view.name} has its {project.overlap} annotator{'s' if project.overlap != 1 else ''} (judged or open "
        "on their screens); showing the next one instead.",
    )
    st.rerun()
shape = view.image.shape[1:] if view.task == "image" else (len(view.words),)
unit = "pixels" if view.task == "image" else "words"
mine = services.current_judgement(example_id, annotator) if annotator else None


def saved_marks(row) -> dict:
    """The marks of the annotator's saved judgement, so going back shows what was saved."""
    if view.task == "image":
        return {kind: services.load_mask(getattr(row, f"{kind}_path"), shape) for kind in ("irrelevant", "relevant")}
    chosen = {}
    for kind in ("irrelevant", "relevant"):
        chosen[kind] = np.zeros(shape, dtype=bool)
        chosen[kind][[i for i in (row.payload or {}).get(f"{kind}_words", []) if 0 <= i < shape[0]]] = True
    return chosen


marks = st.session_state.setdefault("marks", {})
if example_id not in marks:
    draft = services.load_draft(annotator, example_id) if annotator else None
    if draft:
        marks[example_id] = {"irrelevant": draft[0], "relevant": draft[1]}
    elif mine is not None:
        marks[example_id] = saved_marks(mine)
    else:
        marks[example_id] = {"irrelevant": np.zeros(shape, dtype=bool), "relevant": np.zeros(shape, dtype=bool)}
current = marks[example_id]
nonce = st.session_state.setdefault("canvas_nonce", 0)
chart_key = f"canvas-{example_id}-{nonce}"


def stale(rendered_for: int) -> bool:
    """A click on a widget of the example shown before (the page was still loading the next one):
    Streamlit runs the callback that widget was drawn with, whose marks are gone. Ignore it, say so."""
    if st.session_state.get("example_id") == rendered_for:
        return False
    st.session_state["flash"] = (
        "warning",
        "That click was on the previous example while the next one loaded: try again.",
    )
    return True


def on_select(rendered_for: int) -> None:
    if stale(rendered_for):
        return
    event = st.session_state.get(chart_key)
    selection = event.selection if event else {}
    points = selection.get("points", [])
    selected = ui.selection_to_mask(points, shape)
    if not selected.any():
        if selection.get("box") or selection.get("lasso"):  # a drag, not a cleared selection: say so
            st.session_state["drag_note"] = (
                "That drag marked no pixels: start and end it on the image, over the pixels to mark."
            )
        return
    brush = st.session_state.get("brush", "irrelevant")
    for kind in ("irrelevant", "relevant"):
        if kind == brush:
            current[kind] = current[kind] | selected
        else:
            current[kind] = current[kind] & ~selected
    st.session_state["canvas_nonce"] += 1  # a fresh chart drops the old selection box
    if annotator:
        services.save_draft(annotator, example_id, current["irrelevant"], current["relevant"])


def on_pills(kind: str, rendered_for: int) -> None:
    if stale(rendered_for):
        return
    chosen = np.zeros(shape, dtype=bool)
    chosen[list(st.session_state.get(f"{kind}-{example_id}-{nonce}") or [])] = True
    other = "relevant" if kind == "irrelevant" else "irrelevant"
    current[kind] = chosen
    if (current[other] & chosen).any():  # a word is one or the other; the latest choice wins
        current[other] = current[other] & ~chosen
        st.session_state["canvas_nonce"] += 1
    if annotator:
        services.save_draft(annotator, example_id, current["irrelevant"], current["relevant"])


def clear_marks(rendered_for: int) -> None:
    if stale(rendered_for):
        return
    current["irrelevant"] = np.zeros(shape, dtype=bool)
    current["relevant"] = np.zeros(shape, dtype=bool)
    st.session_state["canvas_nonce"] += 1
    if annotator:
        services.discard_draft(annotator, example_id)


def advance() -> None:
    marks.pop(example_id, None)
    st.session_state.setdefault("back_trail", []).append(example_id)  # for "Back"
    st.session_state.pop("example_id", None)
    st.query_params.pop("example", None)


def back_target() -> int | None:
    """The example "Back" returns to: the last one left in this session, else (after a reload) the
    annotator's latest judgement."""
    trail = [i for i in st.session_state.get("back_trail", []) if i != example_id]
    if trail:
        return trail[-1]
    recent = services.recent_feedback(pid, annotator, limit=2) if annotator else []
    return next((f.example_id for f in recent if f.example_id != example_id), None)


def back(rendered_for: int) -> None:
    if stale(rendered_for):
        return
    target = back_target()
    if target is None:
        return
    trail = st.session_state.setdefault("back_trail", [])
    while trail and trail[-1] in (target, example_id):
        trail.pop()
    marks.pop(target, None)  # show what was saved, not what was on screen when it was left
    if target in session_skips:
        session_skips.remove(target)
    services.unskip_examples(annotator, pid, (target,))
    st.session_state["example_id"] = target
    st.query_params["example"] = str(target)


def marks_for_saving() -> dict:
    if view.task == "image":
        return {"irrelevant": current["irrelevant"], "relevant": current["relevant"]}
    return {
        "irrelevant_words": np.flatnonzero(current["irrelevant"]).tolist(),
        "relevant_words": np.flatnonzero(current["relevant"]).tolist(),
    }


def save(verdict: str, rendered_for: int) -> None:
    if stale(rendered_for):
        return
    if not annotator:
        st.session_state["flash"] = ("error", "Enter your name as annotator in the sidebar before saving.")
        return
    label = st.session_state.get(f"label_fix-{example_id}")
    try:
        row = services.save_feedback(
            example_id,
            annotator,
            version.id,
            actor=actor,
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


def skip(rendered_for: int) -> None:
    if stale(rendered_for):
        return
    session_skips.append(example_id)
    if annotator:
        services.skip_example(annotator, pid, example_id)
    advance()


flash = st.session_state.pop("flash", None)
drag_note = st.session_state.pop("drag_note", None)
# Every element above the buttons is drawn on every run, in the same order: a message inserted
# above them (a "Saved" banner) moved the chart under the pointer and, while the page reran, showed
# the old buttons beside the new ones. Messages go to fixed slots instead.
left, right = st.columns([3, 2], gap="large")
with left:
    show_heat = st.toggle("Show explanation", value=True, key="show_heat")
    if view.task == "image":
        fig = ui.explanation_figure(view, current["irrelevant"], current["relevant"], show_heat, selectable=True)
        st.plotly_chart(
            fig,
            key=chart_key,
            on_select=functools.partial(on_select, example_id),
            selection_mode=("box", "lasso"),
            config={"displaylogo": False, "modeBarButtonsToRemove": ["toImage"]},
        )
        if drag_note:
            st.warning(drag_note)
        else:
            st.caption("Drag a box (or pick lasso in the toolbar above the image) to mark pixels with the brush.")
    else:
        st.html(ui.word_heatmap(view, current["irrelevant"], current["relevant"], show_heat))
        for kind, title in (("irrelevant", "Irrelevant words (should not matter)"), ("relevant", "Relevant words")):
            st.pills(
                title,
                list(range(len(view.words))),
                format_func=lambda i: ui.md(view.words[i]),  # pill labels are Markdown
                selection_mode="multi",
                default=np.flatnonzero(current[kind]).tolist(),
                key=f"{kind}-{example_id}-{nonce}",
                on_change=on_pills,
                args=(kind, example_id),
                wrap=True,  # in a column Streamlit would scroll them sideways, hiding the text's end
            )
with right:
    st.markdown(
        f"**{ui.md(view.name)}** · label **{ui.md(view.class_names[view.label])}** · "
        f"predicted **{ui.md(view.class_names[view.predicted])}** ({view.probs.max():.0%})"
    )
    st.plotly_chart(ui.probability_figure(view), key=f"probs-{example_id}", config={"displayModeBar": False})
    if view.task == "image":
        st.segmented_control("Brush", list(BRUSHES), format_func=BRUSHES.get, default="irrelevant", key="brush")
    n_irr, n_rel = int(current["irrelevant"].sum()), int(current["relevant"].sum())
    st.caption(
        f"Marked: {n_irr} irrelevant (magenta), {n_rel} relevant (green) {unit} · "
        f"judged by {services.judged_by(example_id)} of {project.overlap}"
    )
    label_options, label_key = list(range(len(view.class_names))), f"label_fix-{example_id}"
    start = mine.label if mine is not None and mine.label is not None else view.label
    if len(label_options) <= MAX_LABEL_PILLS:  # buttons: after a click the verdict keys still work (a select
        st.pills(  # box keeps the focus and takes a "2" as typing)
            "Correct label",
            label_options,
            default=start,
            format_func=lambda i: ui.md(view.class_names[i]) + (" (dataset label)" if i == view.label else ""),
            key=label_key,
            required=True,  # one label is always chosen: clicking it again does not clear it
            wrap=True,  # in a column Streamlit would scroll them sideways, hiding some classes
        )
    else:
        st.selectbox(
            "Correct label",
            label_options,
            index=start,
            format_func=lambda i: view.class_names[i] + (" (dataset label)" if i == view.label else ""),
            key=label_key,
        )
    b1, b2 = st.columns(2)
    b1.button(
        "Wrong reason", type="primary", on_click=save, args=("wrong_reason", example_id), shortcut="2", width="stretch"
    )
    b2.button("Right reason", on_click=save, args=("right_reason", example_id), shortcut="1", width="stretch")
    b3, b4, b5 = st.columns(3)
    b3.button(
        "Clear", on_click=clear_marks, args=(example_id,), help="Clear the marks (X)", shortcut="X", width="stretch"
    )
    b4.button("Skip", on_click=skip, args=(example_id,), shortcut="S", width="stretch")
    b5.button("Back", on_click=back, args=(example_id,), shortcut="B", width="stretch", disabled=back_target() is None)
    status = st.empty()  # the one place for "Saved", "needs marks" and the like; always drawn
    if flash:
        getattr(status, flash[0])(ui.md(flash[1]))
    elif mine is not None:
        status.info(
            f"You judged this one: {mine.verdict or 'no verdict'}"
            + (f", label {ui.md(view.class_names[mine.label])}" if mine.label is not None else "")
            + f" (feedback #{mine.id}). Saving again replaces it; the old judgement stays in the history."
        )
    elif n_irr or n_rel or st.session_state.get(f"label_fix-{example_id}") not in (None, view.label):
        status.caption("Wrong reason saves these marks and the label; Right reason accepts the explanation as it is.")
    else:
        status.caption("A wrong-reason verdict needs marks (what the model should not, or should, use) or a label.")
    st.caption(
        "Both verdict buttons save the marks and the label, then show the next example. "
        "Keys: 1 right reason · 2 wrong reason · X clear · S skip · B back to the previous one"
    )
    history = services.feedback_history(example_id)
    if not services.can(actor, pid, "see_all"):  # an annotator sees their own judgements only
        history = [f for f in history if f.annotator == annotator]
    if history:
        with st.expander(f"History of this example ({len(history)})"):
            st.dataframe(
                [
                    {
                        "id": f.id,
                        "annotator": f.annotator,
                        "verdict": f.verdict,
                        "label": "" if f.label is None else view.class_names[f.label],
                        "model version id": f.model_version_id,
                        "supersedes": f.supersedes_id,
                        "at": f.created_at.strftime("%Y-%m-%d %H:%M"),
                    }
                    for f in history
                ],
                hide_index=True,
            )
    if annotator and (recent := services.recent_feedback(pid, annotator, limit=20)):
        with st.expander(f"Your recent judgements ({len(recent)})"):
            st.caption("Newest first; Back (B) steps through them.")
            names = services.example_names([f.example_id for f in recent])
            st.dataframe(
                [
                    {
                        "example": names.get(f.example_id, str(f.example_id)),
                        "verdict": f.verdict,
                        "label": "" if f.label is None else view.class_names[f.label],
                        "feedback id": f.id,
                    }
                    for f in recent
                ],
                hide_index=True,
            )
