"""Models: versions side by side, and the same example explained by two of them."""

from __future__ import annotations

import streamlit as st

from pages import ui
from xil import services

ui.setup("Models")
st.title("Models")
pid = ui.require_project()
versions = services.list_model_versions(pid)
if not versions:
    st.info("No model versions yet.")
    st.stop()


def fmt(value) -> str:
    return "" if value is None else f"{value:.3f}"


METRICS = {
    "test_acc": "test accuracy",
    "wrong_reason": "wrong-reason (known shortcut)",
    "wrong_reason_feedback": "wrong-reason (your marks)",
    "plausibility": "plausibility",
    "token_f1": "token F1",
    "iou": "IoU",
    "auprc": "AUPRC",
    "comprehensiveness": "comprehensiveness",
    "sufficiency": "sufficiency",
    "pairwise_acc": "pairwise accuracy (held-out prompts)",
    "train_pairs": "training pairs",
    "eval_pairs": "held-out pairs",
    "lambda": "lambda",
}
shown = [key for key in METRICS if any(key in v.metrics for v in versions)]
st.dataframe(
    [
        {
            "version": v.version,
            "model": v.arch,
            "method": v.method,
            "feedback used": v.n_feedback,
            **{METRICS[key]: fmt(v.metrics.get(key)) for key in shown},
            "created": v.created_at.strftime("%Y-%m-%d %H:%M"),
        }
        for v in versions
    ],
    hide_index=True,
)
st.caption(
    "Wrong-reason score: share of attribution on the known shortcut (the decoy, or shortcut words) on the "
    "test split, or on what annotators marked irrelevant; lower is better. Plausibility: agreement of the "
    "top-attributed pixels or words with what annotators marked relevant (IoU; token F1 for texts)."
)

if services.get_project(pid).task == "ranking":
    st.caption("Reward models: their scores and explanations appear next to each prompt on the Rank page.")
    st.stop()
st.subheader("Same example, two versions")
task = services.get_project(pid).task
c1, c2, c3 = st.columns(3)
with c1:
    a = ui.pick_version("Left", versions, key="cmp_a", default_index=0)
with c2:
    b = ui.pick_version("Right", versions, key="cmp_b", default_index=-1)
methods = ui.explanation_methods(task, a.arch)
shared = [m for m in methods if m in ui.explanation_methods(task, b.arch)]
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
            f"**{ui.version_label(version)}** · predicted **{view.class_names[view.predicted]}** ({view.probs.max():.0%}), label {view.class_names[view.label]}"
        )
        if view.task == "image":
            st.plotly_chart(ui.explanation_figure(view, height=380), key=f"cmp-{side}")
        else:
            st.html(ui.word_heatmap(view))
