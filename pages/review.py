"""Review: every annotator's judgement of an example side by side, disagreements first; accept, reject
or correct each one. Training can then use only accepted feedback, or the annotators' consensus."""

from __future__ import annotations

import numpy as np
import streamlit as st

from pages import ui
from xil import services

PAGE_SIZE = 5
VERDICTS = {"right_reason": "Right reason", "wrong_reason": "Wrong reason", None: "no verdict"}
STATUS_ICONS = {"pending": ":material/hourglass_empty:", "accepted": ":material/check:", "rejected": ":material/close:"}

ui.setup("Review")
ui.require_permission("review")
pid = ui.require_project()
st.title("Review")
actor = ui.actor()
reviewer = ui.annotator()  # the local operator's typed name; a signed-in reviewer's own
project = services.get_project(pid)
task = project.task
ds = services.dataset(pid)
class_names = list(getattr(ds, "class_names", []) or [])


def flash(kind: str, text: str) -> None:
    st.session_state["review_flash"] = (kind, text)


def review(feedback_id: int, status: str) -> None:
    try:
        services.set_review(feedback_id, status, actor=actor, reviewer=reviewer)
        flash("success", f"Feedback {feedback_id} {status}.")
    except (ValueError, services.PermissionDenied) as exc:
        flash("error", str(exc))


def correct(feedback_id: int) -> None:
    verdict = st.session_state.get(f"fix-verdict-{feedback_id}")
    label = st.session_state.get(f"fix-label-{feedback_id}")
    try:
        row = services.review.correct(feedback_id, actor=actor, verdict=verdict, label=label, reviewer=reviewer)
        flash("success", f"Corrected feedback {feedback_id}: the correction (feedback {row.id}) is accepted.")
    except (ValueError, services.PermissionDenied) as exc:
        flash("error", str(exc))


if message := st.session_state.pop("review_flash", None):
    kind, text = message
    (st.success if kind == "success" else st.error)(ui.md(text))

counts = services.review_counts(pid, actor=actor)
queue = services.review_queue(pid, actor=actor)
n_disagree = sum(item.disagree for item in queue)
st.caption(
    f"Current judgements: {counts['pending']} pending, {counts['accepted']} accepted, {counts['rejected']} "
    f"rejected. {len(queue)} example{'s' if len(queue) != 1 else ''} to review, {n_disagree} with a "
    "disagreement (shown first). Train on *accepted* feedback or on the *consensus* on the Train page."
)
if not queue:
    st.success("Nothing waits for a review: every current judgement is accepted or rejected.")
    st.stop()

pages = -(-len(queue) // PAGE_SIZE)
page = 1
if pages > 1:
    page = int(st.number_input("Page", 1, pages, 1, key=f"review-page-{pid}"))
shown = queue[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]


def label_text(label: int | None) -> str:
    if label is None:
        return "no label"
    return class_names[label] if 0 <= label < len(class_names) else str(label)


def view_of(row, example_id: int):
    """The example as the annotator saw it: their model version and explanation (the latest version
    where the judgement names none)."""
    version_id = row.model_version_id
    if version_id is None:
        latest = services.latest_model_version(pid)
        if latest is None:
            return None
        version_id = latest.id
    methods = services.explanation_methods(version_id)
    method = row.explanation_method if row.explanation_method in methods else next(iter(methods), None)
    if method is None:
        return None
    return services.explain_example(version_id, example_id, method, project_id=pid)


def show_content(row, item) -> None:
    """The image with this annotator's marks, or the text with their marked words."""
    if task == "ranking":
        return
    try:
        view = view_of(row, item.example_id)
    except ValueError as exc:
        st.warning(ui.md(str(exc)))
        return
    if view is None:
        st.caption("No model version to show the example with.")
        return
    if view.task == "image":
        shape = view.image.shape[1:]
        irrelevant = services.load_mask(row.irrelevant_path, shape)
        relevant = services.load_mask(row.relevant_path, shape)
        st.plotly_chart(
            ui.explanation_figure(view, irrelevant, relevant, height=260), key=f"review-fig-{row.feedback_id}"
        )
    else:
        n = len(view.words)
        irrelevant, relevant = np.zeros(n, dtype=bool), np.zeros(n, dtype=bool)
        irrelevant[[i for i in row.irrelevant_words if 0 <= i < n]] = True
        relevant[[i for i in row.relevant_words if 0 <= i < n]] = True
        st.html(ui.word_heatmap(view, irrelevant, relevant))


def show_ranking(item) -> None:
    """The prompt and its candidates, with every annotator's rank."""
    idx = services.get_example(item.example_id).idx
    st.markdown(f"**Prompt:** {ui.md(ds.prompts[idx])}")
    table = []
    for i, candidate in enumerate(ds.candidates[idx]):
        entry = {"candidate": candidate}
        for row in item.rows:
            ranks = row.payload.get("ranks") or []
            entry[row.annotator] = "bad" if row.payload.get("all_bad") else (ranks[i] if i < len(ranks) else None)
        table.append(entry)
    st.dataframe(table, hide_index=True)
    for row in item.rows:
        if correction := row.payload.get("correction"):
            st.markdown(f"**{ui.md(row.annotator)}'s better answer:** {ui.md(correction)}")


def correction_form(row) -> None:
    fid = row.feedback_id
    with st.popover("Correct", width="stretch"):
        verdicts = ["right_reason", "wrong_reason"]
        st.selectbox(
            "Verdict",
            verdicts,
            index=verdicts.index(row.verdict) if row.verdict in verdicts else 0,
            format_func=VERDICTS.get,
            key=f"fix-verdict-{fid}",
        )
        options = [None, *range(len(class_names))]
        st.selectbox(
            "Label",
            options,
            index=options.index(row.label) if row.label in options else 0,
            format_func=lambda k: "keep the dataset's label" if k is None else label_text(k),
            key=f"fix-label-{fid}",
        )
        st.caption("A correction is a new judgement under your name that replaces this one; it keeps the marks.")
        st.button("Save correction", key=f"fix-save-{fid}", on_click=correct, args=(fid,), type="primary")


for item in shown:
    with st.container(border=True):
        majority = any(r.in_consensus for r in item.rows)  # none: a tie, no majority to agree with
        badge = " · :orange[**disagreement**]" if item.disagree else ""
        if item.disagree and not majority:
            badge += " (a tie: no majority)"
        label = "" if task == "ranking" else f" · dataset label **{ui.md(label_text(item.label))}**"
        st.markdown(f"#### {ui.md(item.name)}{label}{badge}")
        if task == "ranking":
            show_ranking(item)
        columns = st.columns(max(len(item.rows), 2))
        for column, row in zip(columns, item.rows, strict=False):
            fid = row.feedback_id
            with column:
                status = f"{STATUS_ICONS.get(row.review_status, '')} {row.review_status}"
                if row.reviewed_by:
                    status += f" by {ui.md(row.reviewed_by)}"
                st.markdown(f"**{ui.md(row.annotator)}** · {status}")
                if task != "ranking":
                    fixed = "" if row.label is None else " (corrected)"
                    st.markdown(
                        f"{VERDICTS.get(row.verdict, ui.md(row.verdict))} · label "
                        f"**{ui.md(label_text(row.effective_label))}**{fixed}"
                    )
                st.caption(ui.md(row.marks) + ("" if row.in_consensus or not majority else " · not the majority"))
                show_content(row, item)
                b1, b2, b3 = st.columns(3)
                b1.button(
                    "Accept",
                    key=f"accept-{fid}",
                    on_click=review,
                    args=(fid, "accepted"),
                    disabled=row.review_status == "accepted",
                    width="stretch",
                )
                b2.button(
                    "Reject",
                    key=f"reject-{fid}",
                    on_click=review,
                    args=(fid, "rejected"),
                    disabled=row.review_status == "rejected",
                    width="stretch",
                )
                if task != "ranking":
                    with b3:
                        correction_form(row)
