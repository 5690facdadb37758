"""Team: how far the project's annotation is, who did what, how well the annotators agree, and (for
owners) the overlap setting and the audit log.

UI only. Annotators see their own row of every per-person table and chart; reviewers and owners see
everyone's (the services filter it, not this page).
"""

from __future__ import annotations

import html
import json

import plotly.graph_objects as go
import streamlit as st

from pages import ui
from xil import services

# (key in services.agreement's result, title, one line on what it measures), per task
MEASURES = {
    "verdict_alpha": ("Verdict α", "Krippendorff's alpha of the verdicts: 1 full agreement, 0 chance, below 0 worse."),
    "label_alpha": ("Label α", "Krippendorff's alpha of the labels (the corrected one, or the dataset's where kept)."),
    "mask_iou": ("Irrelevant-region IoU", "Mean overlap (intersection over union) of two people's irrelevant marks."),
    "mask_iou_relevant": (
        "Relevant-region IoU",
        "Mean overlap (intersection over union) of two people's relevant marks.",
    ),
    "token_alpha": ("Word-mark α", "Krippendorff's alpha of each word's mark (none, irrelevant, relevant)."),
    "token_f1": ("Irrelevant-word F1", "Mean F1 between two people's sets of words marked irrelevant."),
    "token_f1_relevant": ("Relevant-word F1", "Mean F1 between two people's sets of words marked relevant."),
    "ranking_kendall_w": ("Kendall's W", "Concordance of everyone's rankings of a prompt: 0 none, 1 identical."),
    "ranking_tau": ("Ranking τ", "Mean Kendall tau-b between two people's rankings: -1 reversed, 1 identical."),
}
TASK_MEASURES = {
    "image": ["verdict_alpha", "label_alpha", "mask_iou", "mask_iou_relevant"],
    "text": ["verdict_alpha", "label_alpha", "token_alpha", "token_f1", "token_f1_relevant"],
    "ranking": ["ranking_kendall_w", "ranking_tau"],
}
COLUMNS = 4


def number(value: float | None, digits: int = 3) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def when(value, seconds: bool = False) -> str:
    """A stored moment (UTC) as the tables show it."""
    return "—" if value is None else value.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def plot_name(name: str) -> str:
    return html.escape(name)  # Plotly reads tags (links among them) in labels


ui.setup("Team")
st.title("Team")
pid = ui.require_project()
actor = ui.actor()
project = services.get_project(pid)
try:
    people = services.team_progress(pid, actor)
    agreement = services.agreement(pid, actor=actor)
except services.PermissionDenied as exc:
    st.error(ui.md(str(exc)))
    st.stop()
sees_all = services.can(actor, pid, "see_all")

st.subheader("Progress")
progress = services.project_progress(pid)
c1, c2, c3, c4 = st.columns(4)
c1.metric("Judgements", f"{progress['judgements_done']:,} / {progress['judgements_needed']:,}")
c2.metric("Examples complete", f"{progress['complete']:,} / {progress['examples']:,}")
c3.metric("Judgements left", f"{progress['left']:,}")
c4.metric("Overlap", progress["overlap"], help="How many people judge each example before it leaves the queues.")
share = progress["judgements_done"] / progress["judgements_needed"] if progress["judgements_needed"] else 0.0
st.progress(min(share, 1.0), text=f"{share:.0%} of the judgements this project needs")

st.subheader("People")
if not sees_all:
    st.caption("Your own numbers: reviewers and owners see everyone's.")
if people:
    st.dataframe(
        [
            {
                "annotator": p["name"],
                "examples judged": p["done"],
                "per hour": number(p["per_hour"], 1),
                "last active (UTC)": when(p["last_active"]),
            }
            for p in people
        ],
        hide_index=True,
    )
    st.caption("Per hour: judgements per hour of active time (gaps between saves, each capped at five minutes).")
else:
    st.info("Nobody has judged an example of this project yet.")

st.subheader("Agreement")
st.caption(
    f"Over the {agreement['examples_with_overlap']:,} examples two or more people judged "
    "(raise the overlap to have more of them)."
)
keys = TASK_MEASURES.get(project.task, list(MEASURES))
for start in range(0, len(keys), COLUMNS):
    for column, key in zip(st.columns(COLUMNS), keys[start : start + COLUMNS], strict=False):
        title, explanation = MEASURES[key]
        column.metric(title, number(agreement[key]))
        column.caption(explanation)

annotators = agreement["annotators"]
if people:
    left, right = st.columns(2)
    names = [plot_name(p["name"]) for p in people]
    judged = go.Figure(go.Bar(x=names, y=[p["done"] for p in people], marker_color="#4c78a8"))
    judged.update_layout(title="Examples judged", height=320, margin=dict(l=10, r=10, t=40, b=10))
    left.plotly_chart(judged, key="team-judged")
    if any(a["agreement"] is not None or a["consensus"] is not None for a in annotators):
        names = [plot_name(a["name"]) for a in annotators]
        agree = go.Figure()
        agree.add_trace(go.Bar(x=names, y=[a["agreement"] for a in annotators], name="with the others"))
        agree.add_trace(go.Bar(x=names, y=[a["consensus"] for a in annotators], name="with the consensus"))
        agree.update_layout(
            title="Agreement",
            barmode="group",
            height=320,
            margin=dict(l=10, r=10, t=40, b=10),
            yaxis_range=[-1, 1] if project.task == "ranking" else [0, 1],  # tau, or a share
        )
        right.plotly_chart(agree, key="team-agreement")
        right.caption(
            "With the others: the share of shared examples where the verdict matches the others' majority "
            "(rankings: mean τ with each other person). With the consensus: the same against everyone's majority."
        )
    else:
        right.caption("Agreement per person shows once two people judged the same examples.")

st.subheader("Members")
members = services.accounts.members(pid)
if members:
    st.dataframe(
        [{"name": m["name"], "role": m["role"], "active": m["active"]} for m in members],
        hide_index=True,
    )
else:
    st.caption("No accounts are members of this project (the local studio needs none).")

if services.can(actor, pid, "manage"):
    st.subheader("Settings")
    with st.form("overlap"):
        overlap = st.number_input(
            "Overlap",
            min_value=1,
            max_value=100,
            value=int(project.overlap),
            step=1,
            help="How many people judge each example before it leaves everyone's queue; 2 or more gives "
            "the agreement measures examples to work on.",
        )
        if st.form_submit_button("Set overlap"):
            try:
                services.set_overlap(pid, int(overlap), actor=actor)
            except (services.PermissionDenied, ValueError) as exc:
                st.error(ui.md(str(exc)))
            else:
                st.session_state["team_message"] = f"The overlap is {int(overlap)} now."
                st.rerun()
    if message := st.session_state.pop("team_message", None):
        st.success(message)

    st.subheader("Audit log")
    try:
        events = services.audit_log(actor)
    except services.PermissionDenied:
        st.caption("The audit log is for studio owners.")
    else:
        st.caption("Every project's events, newest first (the studio's, not only this project's).")
        project_names = {p.id: p.name for p in services.list_projects()}
        st.dataframe(
            [
                {
                    "at (UTC)": when(e.at, seconds=True),
                    "who": e.actor,
                    "action": e.action,
                    "project": project_names.get(e.project_id, "" if e.project_id is None else str(e.project_id)),
                    "detail": json.dumps(e.detail, ensure_ascii=False) if e.detail else "",
                }
                for e in events
            ],
            hide_index=True,
        )
