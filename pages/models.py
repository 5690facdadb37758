"""Models: versions side by side, and the same example explained by two of them."""

from __future__ import annotations

import streamlit as st

from pages import ui
from xil import services

ui.setup("Models")
st.title("Models")
pid = ui.project_id()
if pid is None:
    st.stop()
versions = services.list_model_versions(pid)
if not versions:
    st.info("No model versions yet.")
    st.stop()


def fmt(value) -> str:
    return "" if value is None else f"{value:.3f}"


st.dataframe(
    [
        {
            "version": v.version,
            "arch": v.arch,
            "method": v.method,
            "feedback used": v.n_feedback,
            "test accuracy": fmt(v.metrics.get("test_acc")),
            "wrong-reason (decoy)": fmt(v.metrics.get("wrong_reason")),
            "wrong-reason (your marks)": fmt(v.metrics.get("wrong_reason_feedback")),
            "plausibility": fmt(v.metrics.get("plausibility")),
            "lambda": fmt(v.metrics.get("lambda")),
            "created": v.created_at.strftime("%Y-%m-%d %H:%M"),
        }
        for v in versions
    ],
    hide_index=True,
)
st.caption(
    "Wrong-reason score: share of saliency on the decoy (test split) or on regions annotators marked "
    "irrelevant; lower is better. Plausibility: IoU of the top-attributed pixels with regions marked relevant."
)

st.subheader("Same example, two versions")
methods = ui.explanation_methods()
c1, c2, c3 = st.columns(3)
with c1:
    a = ui.pick_version("Left", versions, key="cmp_a", default_index=0)
with c2:
    b = ui.pick_version("Right", versions, key="cmp_b", default_index=-1)
shared = [m for m in methods if m != "grad_cam" or (a.arch == "cnn" and b.arch == "cnn")]
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
        st.plotly_chart(ui.explanation_figure(view, height=380), key=f"cmp-{side}")
