"""Train: choose a feedback method and settings, queue a job, watch it run."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from pages import ui
from xil import feedback, services
from xil.train import TrainConfig

ui.setup("Train")
st.title("Train")
pid = ui.require_project()

done, _ = services.annotation_progress(pid)
task = services.get_project(pid).task
if task == "ranking":
    from xil.ranking.config import RewardConfig

    with st.form("reward"):
        st.caption(
            "A Bradley-Terry reward model from the rankings: each ranking of K answers gives up to C(K,2) "
            "preference pairs; all pairs of a prompt share one batch. Held-out prompts give its pairwise accuracy."
        )
        c1, c2, c3 = st.columns(3)
        backbone = c1.text_input("Backbone", RewardConfig.backbone, help="minilm (bundled), a local folder or a hub id")
        epochs = c2.number_input("Epochs", 1, 100, RewardConfig.epochs)
        lr = c3.number_input("Learning rate", 1e-6, 1.0, RewardConfig.lr, format="%.6f")
        c4, c5, c6 = st.columns(3)
        batch_prompts = c4.number_input("Prompts per batch", 1, 512, RewardConfig.batch_prompts)
        max_length = c5.number_input("Max tokens", 16, 1024, RewardConfig.max_length)
        margin = c6.number_input("Margin", 0.0, 10.0, 0.0)
        if st.form_submit_button("Queue reward-model job", type="primary"):
            cfg = RewardConfig(
                backbone=backbone.strip() or "minilm",
                epochs=int(epochs),
                lr=float(lr),
                batch_prompts=int(batch_prompts),
                max_length=int(max_length),
                margin=float(margin) or None,
            )
            try:
                st.success(f"Queued job {services.queue_training(pid, cfg).id}.")
            except ValueError as exc:
                st.error(str(exc))
if task != "ranking":  # classifiers: images and texts
    if task == "text":
        from xil.feedback.text import REGISTRY as FEEDBACK_METHODS
        from xil.train.text_config import TextTrainConfig as Config
    else:
        FEEDBACK_METHODS = feedback.REGISTRY
        Config = TrainConfig
    METHODS = {"none": "Plain (cross-entropy only)", **{name: m.title for name, m in FEEDBACK_METHODS.items()}}

    with st.form("train"):
        st.caption(f"{done} training examples have feedback; label corrections apply to every method.")
        c1, c2, c3 = st.columns(3)
        default = "ce" if task == "text" else "rrr"  # what repaired the demo's shortcut best (README)
        method = c1.selectbox("Method", list(METHODS), index=list(METHODS).index(default), format_func=METHODS.get)
        if task == "text":
            backbone = c2.text_input(
                "Backbone", Config.backbone, help="minilm (bundled, offline), a local folder or a hub id"
            )
        else:
            arch = c2.selectbox(
                "Model", ["mlp", "cnn"], format_func={"mlp": "MLP (Ross et al.)", "cnn": "Small CNN"}.get
            )
        epochs_help = f"At least; a small dataset trains for {Config.min_steps} steps." if task == "text" else None
        epochs = c3.number_input("Epochs", 1, 500, Config.epochs, help=epochs_help)
        c4, c5, c6 = st.columns(3)
        lr = c4.number_input("Learning rate", 1e-6, 1.0, Config.lr, format="%.5f")
        batch_size = c5.number_input("Batch size", 1, 4096, Config.batch_size)
        if task == "text":
            max_length = c6.number_input("Max tokens", 8, 512, Config.max_length)
        auto = st.checkbox(
            "Automatic lambda", value=True, help="Scale the penalty to the cross-entropy after a warm-up epoch."
        )
        lam = st.number_input("Lambda (when not automatic)", 0.0, 1e9, 10.0)
        submitted = st.form_submit_button("Queue training job", type="primary")
    if submitted:
        common = {
            "method": method,
            "epochs": int(epochs),
            "lr": float(lr),
            "batch_size": int(batch_size),
            "lambda_": None if auto else float(lam),
        }
        if task == "text":
            cfg = Config(backbone=backbone.strip() or "minilm", max_length=int(max_length), **common)
        else:
            cfg = Config(arch=arch, **common)
        try:
            job = services.queue_training(pid, cfg)
            st.success(f"Queued job {job.id}. A worker picks it up in a moment.")
        except ValueError as exc:
            st.error(str(exc))


@st.fragment(run_every=2)
def jobs_panel() -> None:
    jobs = services.list_jobs(pid, limit=20)
    if not jobs:
        st.info("No training jobs yet.")
        return
    active = [j for j in jobs if j.status in ("queued", "running")]
    for job in active + [j for j in jobs if j not in active][:1]:
        cfg = job.spec.get("config", {})
        with st.container(border=True):
            st.markdown(
                f"**Job {job.id}** · {cfg.get('method')} on {cfg.get('arch') or cfg.get('backbone')} · `{job.status}`"
            )
            # the epochs a job runs are in its records: a small text dataset gets more than asked (min_steps)
            waiting = {"queued": "waiting for a worker", "running": "starting"}.get(job.status, "no epoch finished")
            done_text = f"epoch {len(job.history)} of {job.history[-1]['epochs']}" if job.history else waiting
            st.progress(job.progress, text=done_text)
            if job.history:
                epochs = [r["epoch"] for r in job.history]
                fig = go.Figure()
                fig.add_scatter(x=epochs, y=[r["loss"] for r in job.history], name="total loss")
                fig.add_scatter(x=epochs, y=[r["ce"] for r in job.history], name="cross-entropy")
                fig.update_layout(height=240, margin={"l": 0, "r": 0, "t": 10, "b": 0}, xaxis_title="epoch")
                st.plotly_chart(fig, key=f"loss-{job.id}")
            if job.status in ("queued", "running"):
                if st.button("Cancel", key=f"cancel-{job.id}"):
                    services.cancel_job(job.id)
                    st.rerun()
            if job.error:
                st.error(job.error.splitlines()[0])
            if job.status == "succeeded" and job.metrics:
                st.success(
                    f"New model version ready: test accuracy {job.metrics.get('test_acc', float('nan')):.1%}"
                    + (
                        f", wrong-reason score {job.metrics['wrong_reason']:.3f}"
                        if "wrong_reason" in job.metrics
                        else ""
                    )
                    + ". Compare it on the Models page, or annotate with it."
                )
            with st.expander("Log"):
                st.code(job.log_tail or "(empty)")
    st.dataframe(
        [
            {
                "job": j.id,
                "status": j.status,
                "method": j.spec.get("config", {}).get("method"),
                "model": j.spec.get("config", {}).get("arch") or j.spec.get("config", {}).get("backbone"),
                "progress": round(j.progress, 2),
                "created": j.created_at.strftime("%H:%M:%S"),
            }
            for j in jobs
        ],
        hide_index=True,
    )


jobs_panel()
