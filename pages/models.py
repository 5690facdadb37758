"""Models: versions side by side, and the same example explained by two of them."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st
from plotly.subplots import make_subplots

from pages import ui
from xil import services

ui.setup("Models")
st.title("Models")
pid = ui.require_project()
versions = services.list_model_versions(pid)
if not versions:
    st.info("No model versions yet.")
    st.stop()


project = services.get_project(pid)
task = project.task
# Columns of the first table, then (texts) a second one for explanation quality: in one table the
# text project's columns ran off the screen.
MAIN = {
    "test_acc": "test accuracy",
    "wrong_reason": "wrong-reason (known shortcut)",
    "wrong_reason_feedback": "wrong-reason (your marks)",
    "plausibility": "plausibility",
    "pairwise_acc": "pairwise accuracy (held-out prompts)",
    "preference_acc": "generator preference accuracy (held-out prompts)",
    "train_pairs": "training pairs",
    "eval_pairs": "held-out pairs",
    "lambda": "lambda",
}
EXPLANATIONS = {
    "token_f1": "token F1",
    "iou": "IoU",
    "auprc": "AUPRC",
    "comprehensiveness": "comprehensiveness",
    "sufficiency": "sufficiency",
}
CAPTIONS = {
    "wrong_reason": "Wrong-reason (known shortcut): share of attribution on the planted shortcut (the decoy, or "
    "shortcut words) on the test split; lower is better.",
    "wrong_reason_feedback": "Wrong-reason (your marks): share of attribution on what annotators marked "
    "irrelevant, every version measured on today's marks; lower is better.",
    "plausibility": "Plausibility: IoU of the top-attributed pixels with what annotators marked relevant.",
    "token_f1": "Token F1, IoU, AUPRC: agreement of the top-attributed words with what annotators marked relevant.",
    "comprehensiveness": "Comprehensiveness (higher is better) and sufficiency (lower is better): how much the "
    "prediction changes without, or with only, the top-attributed words (ERASER).",
    "pairwise_acc": "Pairwise accuracy: share of held-out preference pairs the reward model orders as annotators did.",
    "preference_acc": "Generator preference accuracy: share of held-out preference pairs whose chosen answer the "
    "DPO-tuned generator made more likely, relative to the model it started from, than the rejected one.",
    "lambda": "Lambda: the penalty weight the job ended with (automatic or fixed).",
}
metrics = {v.id: dict(v.metrics) for v in versions}
if task != "ranking":
    # every version against the current marks, the first one too: a blank cell compares with nothing
    with st.spinner("Measuring every version on the current marks..."):  # cached until the marks change
        for v in versions:
            metrics[v.id].pop("wrong_reason_feedback", None)
            score = services.wrong_reason_on_marks(v.id)
            if score is not None:
                metrics[v.id]["wrong_reason_feedback"] = score
if task == "text":
    metrics = {i: {k: x for k, x in m.items() if k != "plausibility"} for i, m in metrics.items()}  # = token F1


def table(columns: dict[str, str], with_details: bool) -> list[str]:
    """Show the columns some version has; return the metric keys shown."""
    shown = [key for key in columns if any(metrics[v.id].get(key) is not None for v in versions)]
    rows = []
    for v in versions:
        row: dict = {"version": v.version}
        if with_details:
            row |= {
                "model": v.arch,
                "method": services.method_title(v.method, task),
                "feedback used": v.n_feedback,
            }
        row |= {columns[key]: services.format_metric(key, metrics[v.id].get(key)) for key in shown}
        if with_details:
            row["created"] = v.created_at.strftime("%d %b %H:%M")
        rows.append(row)
    st.dataframe(rows, hide_index=True)
    return shown


shown = table(MAIN, with_details=True)
if task == "text" and any(metrics[v.id].get(key) is not None for v in versions for key in EXPLANATIONS):
    st.markdown("**Explanations**")
    shown += table(EXPLANATIONS, with_details=False)
if caption := " ".join(text for key, text in CAPTIONS.items() if key in shown):
    st.caption(caption)


def feedback_curve() -> go.Figure | None:
    """Test accuracy and wrong-reason score of each version against the feedback it was trained on, one
    line per method (the project's own interaction-efficiency curve); None with fewer than two points."""
    points = [v for v in versions if metrics[v.id].get("test_acc") is not None]
    if len(points) < 2:
        return None
    figure = make_subplots(rows=1, cols=2, subplot_titles=("test accuracy", "wrong-reason (known shortcut)"))
    for method in dict.fromkeys(v.method or "none" for v in points):
        mine = sorted((v for v in points if (v.method or "none") == method), key=lambda v: (v.n_feedback, v.version))
        name = services.method_title(method, task)
        x = [v.n_feedback for v in mine]
        text = [f"v{v.version}" for v in mine]
        for col, key in ((1, "test_acc"), (2, "wrong_reason")):
            y = [metrics[v.id].get(key) for v in mine]
            if all(value is None for value in y):
                continue
            figure.add_scatter(
                x=x,
                y=y,
                text=text,
                mode="lines+markers",
                name=name,
                legendgroup=name,
                showlegend=col == 1,
                hovertemplate="%{text}: %{y:.3f} with %{x} pieces of feedback",
                row=1,
                col=col,
            )
    figure.update_xaxes(title_text="pieces of feedback used")
    figure.update_layout(height=320, margin={"t": 40, "b": 10, "l": 10, "r": 10})
    return figure


if (curve := feedback_curve()) is not None:
    st.markdown("**What the feedback bought**")
    st.plotly_chart(curve, key="models-curve")
latest = versions[-1]
if hint := services.feedback_hint(task, latest.method, latest.n_feedback, project.source):
    st.info(hint)
if task != "ranking" and (n_bare := services.count_lacking_reason(pid)):  # saved before the Annotate page asked
    st.warning(
        f"{n_bare} wrong-reason verdict{'s' if n_bare > 1 else ''} without marks or a label correction: "
        "training leaves them out. Mark them on the Annotate page (Back finds your recent ones)."
    )

if task == "ranking":
    st.caption(
        "Reward models: their scores and explanations appear next to each prompt on the Rank page. Generators "
        "(DPO): they answer on the Rank page's generator panel and on the Compare page, blind, side by side."
    )
    st.stop()
st.subheader("Same example, two versions")
c1, c2, c3 = st.columns(3)
with c1:
    a = ui.pick_version("Left", versions, key="cmp_a", default_index=0)
with c2:
    b = ui.pick_version("Right", versions, key="cmp_b", default_index=-1)
methods = services.explanation_methods(a.id)
shared = [m for m in methods if m in services.explanation_methods(b.id)]
with c3:
    method = st.selectbox("Explanation", shared, format_func=methods.get, key="cmp_method")
examples = services.compare_candidates(pid)
example_id = st.selectbox(
    "Example", [e.id for e in examples], format_func={e.id: e.name for e in examples}.get, key="cmp_example"
)
left, right = st.columns(2)
for side, column, version in (("left", left, a), ("right", right, b)):
    view = services.explain_example(version.id, example_id, method)
    with column:
        st.markdown(
            f"**{ui.md(ui.version_label(version))}** · predicted **{ui.md(view.class_names[view.predicted])}** "
            f"({view.probs.max():.0%}), label {ui.md(view.class_names[view.label])}"
        )
        if view.task == "image":
            st.plotly_chart(ui.explanation_figure(view, height=380), key=f"cmp-{side}")
        else:
            st.html(ui.word_heatmap(view))
