"""Train: choose a feedback method and settings, queue a job, watch it run."""

from __future__ import annotations

import plotly.graph_objects as go
import streamlit as st

from pages import ui
from xil import services

OWN_MODEL = "__own__"  # the Model choice that asks for an hf:, torchvision: or timm: name

ui.setup("Train")
ui.require_permission("train")
st.title("Train")
pid = ui.require_project()
actor = ui.actor()

done, _ = services.annotation_progress(pid)
task = services.get_project(pid).task
Config = services.config_class(pid)
PROCESSES = "Processes (data-parallel: one per GPU, or CPU processes)"
MACHINES = "Machines (each runs the processes; a worker on each joins)"
FEEDBACK = services.feedback_titles()
feedback = st.radio(
    "Feedback to train on",
    list(FEEDBACK),
    format_func=FEEDBACK.get,
    horizontal=True,
    key=f"train-feedback-{pid}",
    help=Config.help("feedback"),
)
WHAT = {"reward": "Reward model", "generator": "Generator (DPO)"}
what = (
    st.radio("What to train", list(WHAT), format_func=WHAT.get, horizontal=True, key=f"train-what-{pid}")
    if task == "ranking"
    else None
)
if what == "generator":
    DPOConfig = services.config_class(pid, "preference tuning")
    base = services.generation.base_generator(pid)
    with st.form("generator", enter_to_submit=False):  # Enter in a field must not queue a job
        st.caption(
            "Fine-tune the generator on the rankings with DPO (TRL): each pair says which answer should become "
            "more likely than the other, relative to the model it starts from. The new version answers on the "
            "Compare page and gives the next round of candidates on the Rank page."
        )
        generator = st.text_input(
            "Generator to start from",
            "",
            placeholder=f"Base generator ({base})" if base else "a local folder or a Hugging Face hub id",
            help=DPOConfig.help("generator"),
        )
        c1, c2, c3 = st.columns(3)
        lora = c1.toggle("LoRA adapter", True, help=DPOConfig.help("lora"))
        chat = c1.toggle(
            "Chat template",
            services.generation.sampling(pid).chat_template,
            help=DPOConfig.help("chat_template"),
        )
        epochs = c2.number_input("Epochs", 1, 100, DPOConfig.epochs, help=DPOConfig.help("epochs"))
        lr = c3.number_input("Learning rate", 1e-7, 1.0, DPOConfig.lr, format="%.6f", help=DPOConfig.help("lr"))
        c4, c5, c6 = st.columns(3)
        beta = c4.number_input("Beta", 0.001, 10.0, DPOConfig.beta, help=DPOConfig.help("beta"))
        sft_weight = c5.number_input("SFT weight", 0.0, 10.0, DPOConfig.sft_weight, help=DPOConfig.help("sft_weight"))
        batch_size = c6.number_input("Pairs per batch", 1, 512, DPOConfig.batch_size, help=DPOConfig.help("batch_size"))
        if st.form_submit_button("Queue generator job", type="primary"):
            try:
                cfg = DPOConfig(
                    generator=generator.strip(),
                    lora=lora,
                    epochs=int(epochs),
                    lr=float(lr),
                    beta=float(beta),
                    sft_weight=float(sft_weight),
                    batch_size=int(batch_size),
                    chat_template=chat,
                    feedback=feedback,
                )
                st.success(f"Queued job {services.queue_training(pid, cfg, actor=actor).id}.")
            except ValueError as exc:
                st.error(ui.md(str(exc)))  # the message can quote a generator path
if what == "reward":
    RewardConfig = Config
    with st.form("reward", enter_to_submit=False):
        st.caption(
            "A Bradley-Terry reward model from the rankings: each ranking of K answers gives up to C(K,2) "
            "preference pairs; all pairs of a prompt share one batch. Held-out prompts give its pairwise accuracy."
        )
        c1, c2, c3 = st.columns(3)
        backbone = c1.text_input("Backbone", RewardConfig.backbone, help=RewardConfig.help("backbone"))
        epochs = c2.number_input("Epochs", 1, 100, RewardConfig.epochs, help=RewardConfig.help("epochs"))
        lr = c3.number_input("Learning rate", 1e-6, 1.0, RewardConfig.lr, format="%.6f", help=RewardConfig.help("lr"))
        c4, c5, c6 = st.columns(3)
        batch_prompts = c4.number_input(
            "Prompts per batch", 1, 512, RewardConfig.batch_prompts, help=RewardConfig.help("batch_prompts")
        )
        max_length = c5.number_input(
            "Max tokens", 16, 1024, RewardConfig.max_length, help=RewardConfig.help("max_length")
        )
        margin = c6.number_input("Margin", 0.0, 10.0, 0.0, help=RewardConfig.help("margin"))
        p1, p2 = st.columns(2)
        processes = p1.number_input(PROCESSES, 1, 64, 1, help=RewardConfig.help("processes"))
        machines = p2.number_input(MACHINES, 1, 64, 1, help=RewardConfig.help("machines"))
        if st.form_submit_button("Queue reward-model job", type="primary"):
            cfg = RewardConfig(
                backbone=backbone.strip() or "minilm",
                epochs=int(epochs),
                lr=float(lr),
                batch_prompts=int(batch_prompts),
                max_length=int(max_length),
                margin=float(margin) or None,
                feedback=feedback,
                processes=int(processes),
                machines=int(machines),
            )
            try:
                st.success(f"Queued job {services.queue_training(pid, cfg, actor=actor).id}.")
            except ValueError as exc:
                st.error(ui.md(str(exc)))  # the message can quote a backbone path
if task != "ranking":  # classifiers: images and texts
    METHODS = services.method_titles(task)

    # No st.form: a form hides what its settings mean until it is submitted, and the line saying
    # what will run (epochs after min_steps, which lambda) must follow every change.
    st.caption(f"{done} training examples have feedback; label corrections apply to every method.")
    c1, c2, c3 = st.columns(3)
    default = "ce" if task == "text" else "rrr"  # what repaired the demo's shortcut best (README)
    method = c1.selectbox(
        "Method", list(METHODS), index=list(METHODS).index(default), format_func=METHODS.get, help=Config.help("method")
    )
    if task == "text":
        backbone = c2.text_input("Backbone", Config.backbone, help=Config.help("backbone"))
    else:
        ARCHS = {**services.architectures(), OWN_MODEL: "Your own (hf:, torchvision:, timm:)"}
        arch = c2.selectbox("Model", list(ARCHS), format_func=ARCHS.get, help=Config.help("arch"))
        if arch == OWN_MODEL:
            arch = c2.text_input("Architecture", "hf:", help=Config.help("arch")).strip()
    epochs_help = Config.help("epochs")
    epochs = c3.number_input("Epochs", 1, 500, Config.epochs, help=epochs_help)
    c4, c5, c6 = st.columns(3)
    lr = c4.number_input("Learning rate", 1e-6, 1.0, Config.lr, format="%.5f", help=Config.help("lr"))
    batch_size = c5.number_input("Batch size", 1, 4096, Config.batch_size, help=Config.help("batch_size"))
    if task == "text":
        max_length = c6.number_input("Max tokens", 8, 512, Config.max_length, help=Config.help("max_length"))
    else:
        augment = c6.checkbox("Augment: random crop and flip", help=Config.help("augment"))
    image_options: dict = {}
    if task != "text" and services.is_backbone(arch):
        b1, b2, b3 = st.columns(3)
        weights = b1.text_input("Weights file (optional)", "", help=Config.help("weights")).strip()
        size = b2.number_input("Image size (0: the model's own)", 0, 1024, 0, step=16, help=Config.help("image_size"))
        if note := services.upscaling_note(pid, int(size), method, arch):
            st.caption(note)
        head_only = b3.checkbox("Train only the head", help=Config.help("train_head_only"))
        image_options = {"weights": weights or None, "image_size": int(size) or None, "train_head_only": head_only}
    p1, p2 = st.columns(2)
    processes = p1.number_input(PROCESSES, 1, 64, 1, help=Config.help("processes"))
    machines = p2.number_input(MACHINES, 1, 64, 1, help=Config.help("machines"))
    lambda_: float | None = None
    if services.uses_lambda(task, method):  # counterexamples and plain training have no penalty weight
        fixed_default = services.default_lambda(task, method, None if task == "text" else arch)
        auto = st.checkbox(
            "Automatic lambda" if fixed_default is None else f"Default lambda ({fixed_default:g})",
            value=True,
            help="Scale the penalty to a multiple of the cross-entropy; the line below says when and how much."
            if fixed_default is None
            else "This method's measured default weight here (README, benchmarks); untick to set your own.",
        )
        lam = st.number_input("Lambda", 0.0, 1e9, fixed_default or 10.0, disabled=auto)
        lambda_ = None if auto else float(lam)
    common = {
        "method": method,
        "epochs": int(epochs),
        "lr": float(lr),
        "batch_size": int(batch_size),
        "lambda_": lambda_,
        "feedback": feedback,
        "processes": int(processes),
        "machines": int(machines),
    }
    try:  # a config checks itself: say what is wrong with these settings instead of a traceback
        if task == "text":
            cfg = Config(backbone=backbone.strip() or "minilm", max_length=int(max_length), **common)
        else:
            cfg = Config(arch=arch, augment=augment, **image_options, **common)
        services.check_training(pid, cfg)  # what needs the project: its images' size, paths
    except ValueError as exc:
        st.error(ui.md(str(exc)))
        cfg = None
    if cfg is not None:
        st.info(services.training_plan(pid, cfg))
    if st.button("Queue training job", type="primary", disabled=cfg is None) and cfg is not None:
        try:
            job = services.queue_training(pid, cfg, actor=actor)
            st.success(f"Queued job {job.id}. A worker picks it up in a moment.")
        except ValueError as exc:
            st.error(ui.md(str(exc)))  # the message can quote a backbone path


# per-epoch curves: classifier jobs record the cross-entropy, reward jobs the training pair accuracy
CURVES = {
    "loss": "total loss",
    "ce": "cross-entropy",
    "train_acc": "train pair accuracy",
    "pair_accuracy": "pair accuracy",
    "margin": "reward margin",
}


def job_title(job) -> str:
    cfg = job.spec.get("config", {})
    if job.spec.get("kind") == "preference tuning":
        return f"DPO of {cfg.get('generator') or 'the project generator'}"
    model = cfg.get("arch") or cfg.get("backbone")
    return f"{services.method_title(cfg.get('method'), task)} on {model}"


def job_status(job) -> str:
    # a running job stops only at the end of an epoch: until then it is "cancelling", not "running"
    return "cancelling" if job.status == "running" and job.cancel_requested else job.status


def result_text(metrics: dict) -> str:
    if "preference_acc" in metrics:
        return f"held-out pairs preferred as annotators did {metrics['preference_acc']:.1%}"
    if "pairwise_acc" in metrics:
        return f"pairwise accuracy on held-out prompts {metrics['pairwise_acc']:.1%}"
    if "test_acc" not in metrics:
        return f"{metrics.get('train_pairs', 0):,} training pairs, no held-out prompts ranked yet"
    text = f"test accuracy {metrics['test_acc']:.1%}"
    if "wrong_reason" in metrics:
        text += f", wrong-reason score {metrics['wrong_reason']:.3f}"
    return text


def compared_with_before(job) -> str:
    """The test accuracy of the version before the job's, beside the job's own (or "")."""
    versions = [v for v in services.list_model_versions(pid) if v.id < (job.model_version_id or 0)]
    if "test_acc" not in job.metrics or not versions or "test_acc" not in versions[-1].metrics:
        return ""
    return f" (the version before it: {versions[-1].metrics['test_acc']:.1%})"


@st.fragment(run_every=2)
def jobs_panel() -> None:
    jobs = services.list_jobs(pid, limit=20)
    if not jobs:
        st.info("No training jobs yet.")
        return
    active = [j for j in jobs if j.status in ("queued", "running")]
    for job in active + [j for j in jobs if j not in active][:1]:
        status = job_status(job)
        with st.container(border=True):
            st.markdown(f"**Job {job.id}** · {ui.md(job_title(job))} · `{status}`")
            # the epochs a job runs are in its records: a small text dataset gets more than asked (min_steps)
            waiting = {"queued": "waiting for a worker", "running": "starting"}.get(job.status, "no epoch finished")
            if job.status == "queued" and (ahead := services.jobs_ahead(job.id)):
                waiting += f": {ahead}"
            done_text = f"epoch {len(job.history)} of {job.history[-1]['epochs']}" if job.history else waiting
            if status == "cancelling":
                done_text += " · cancelling: the job stops at the end of this epoch"
            st.progress(job.progress, text=done_text)
            if job.history:
                epochs = [r["epoch"] for r in job.history]
                fig = go.Figure()
                for key, name in CURVES.items():
                    if all(key in r for r in job.history):
                        fig.add_scatter(x=epochs, y=[r[key] for r in job.history], name=name)
                fig.update_layout(height=240, margin={"l": 0, "r": 0, "t": 10, "b": 0}, xaxis_title="epoch")
                fig.update_xaxes(dtick=max(1, -(-len(epochs) // 10)))  # whole epochs, at most about ten ticks
                st.plotly_chart(fig, key=f"loss-{job.id}")
            if status in ("queued", "running"):
                if st.button("Cancel", key=f"cancel-{job.id}"):
                    services.cancel_job(job.id, actor=actor)
                    st.rerun()
            if job.error:
                first, *rest = job.error.splitlines()
                where = " (the traceback is in the Log below)" if rest else ""  # an unexpected error has one
                st.error(ui.md(first) + where)  # a failed job can quote user text
            if job.status == "succeeded" and job.metrics:
                st.success(
                    f"New model version ready: {result_text(job.metrics)}{compared_with_before(job)}. "
                    + (
                        "Its scores show on the Rank page; a generator answers on the Compare page."
                        if task == "ranking"
                        else "Compare it on the Models page, or annotate with it."
                    )
                )
            with st.expander("Log"):
                st.code(job.log_tail or "(empty)", language=None)
    st.dataframe(
        [
            {
                "job": j.id,
                "status": job_status(j),
                "method": job_title(j),
                "progress": f"{j.progress:.0%}",
                "created": j.created_at.strftime("%H:%M:%S"),
            }
            for j in jobs
        ],
        hide_index=True,
    )


jobs_panel()
