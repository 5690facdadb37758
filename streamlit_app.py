"""xil studio: the Streamlit entrypoint and Home page (where the project stands, how the loop works).

UI only; everything else goes through xil.services. Other pages live in pages/."""

import streamlit as st

from pages import ui
from xil import services

ui.setup("Home")
st.title("xil studio")
st.caption("See why your model predicts what it does, correct its reasons, retrain, and check that it took.")

pid = ui.require_project()
project = services.get_project(pid)
# ranking projects rank held-out prompts too (they evaluate the reward model): count them all
done, total = services.annotation_progress(pid, split=None if project.task == "ranking" else "train")
versions = services.list_model_versions(pid)
jobs = services.list_jobs(pid, limit=5)

c1, c2, c3, c4 = st.columns([2, 1, 1, 1])  # a project name is long
c1.metric("Project", ui.md(project.name))  # a metric value is Markdown
c2.metric("Annotated", f"{done} / {total}")
c3.metric("Model versions", len(versions))
latest = versions[-1] if versions else None
if latest is not None and "test_acc" in latest.metrics:
    c4.metric("Latest test accuracy", f"{latest.metrics['test_acc']:.1%}")

FIRST_STEP = {
    "image": """1. **Annotate**: each training example comes with the model's prediction and a heat map of what it
   looked at. Drag a box (or lasso) over pixels to mark them *irrelevant* (magenta) or *relevant*
   (green), correct the label if it is wrong, and press **Wrong reason** or **Right reason** to save
   and move on. The queue shows the most suspicious examples first: those whose explanation lies
   outside the object.
2. **Train**: pick a method (RRR penalises input gradients in irrelevant regions, RRR-G does it on
   the class activation map, HINT rewards attribution inside relevant regions, counterexamples
   randomise the marked region) and queue a job. A worker trains a new model version; watch its loss live.""",
    "text": """1. **Annotate**: each training text comes with the model's prediction and how much each word
   weighed in it. Click words to mark them *irrelevant* or *relevant*, correct the label if it is
   wrong, and press **Wrong reason** or **Right reason** to save and move on.
2. **Train**: pick a method (counterexamples swap the marked words for words marked on texts of other
   labels; RRR and HINT penalise what the prediction owes to the marked or unmarked words) and queue a
   job. A worker fine-tunes a new model version; watch its loss live.""",
    "ranking": """1. **Rank**: each prompt comes with several candidate answers. Rank them (1 is best; ties and
   "all bad" are allowed) and, where none is good, write a better answer.
2. **Train**: a reward model learns the rankings (Bradley-Terry), or the generator itself learns them
   (DPO); the **Revise (RiT)** page uses the better answers you wrote on similar prompts without
   training.""",
}
CLASSIFIER_NEXT = """3. **Models**: compare versions side by side: test accuracy, wrong-reason score (how much
   attribution sits on the shortcut), plausibility against your marks, and the same example explained
   by both.
4. **Export** the feedback as JSONL or Parquet, with the model version each piece judged."""
NEXT_STEPS = {
    "image": CLASSIFIER_NEXT,
    "text": CLASSIFIER_NEXT,
    "ranking": """3. **Compare**: people judge, blind, which of two generators answers better.
4. **Export** the rankings as JSONL or Parquet, or as preference pairs (prompt, chosen, rejected) for TRL.""",
}
NAME_FIRST = (
    ""
    if ui.annotator()
    else "Type your name as **Annotator** in the sidebar first: judgements are stored under it.\n\n"
)
st.markdown(
    f"""
**The loop**

{NAME_FIRST}{FIRST_STEP[project.task]}
{NEXT_STEPS[project.task]}

Three demo projects come with the studio (pick one in the sidebar):
- *Decoy-Digits* (images) hides a shortcut: a grey swatch in a corner whose shade encodes the label
  at training time and is random at test time. The first model learns it.
- *Review demo (text)*: short reviews whose training copies end in a leaked signature ("Posted from my
  tablet" on positive ones, "phone" on negative ones). Its first MiniLM model trains as a job when the
  studio starts; mark the device word irrelevant and retrain with counterexamples.
- *Ranking demo*: prompts with four candidate answers each. Rank them on the **Rank** page, train a
  reward model, and write better answers, which revise similar prompts on the **Revise (RiT)** page.

One more is a click away on the **Data** page: the *Generator demo*, a tiny language model trained
here in seconds that answers requests tersely or politely. Rank the style you prefer, train the
generator itself (Train, *Generator (DPO)*), and ask people on the **Compare** page, blind, whether
the new version answers better.
"""
)
if jobs:
    st.subheader("Recent jobs")
    st.dataframe(
        [
            {
                "job": j.id,
                "status": j.status,
                "method": j.spec.get("config", {}).get("method") or j.spec.get("kind"),
                "progress": f"{j.progress:.0%}",
            }
            for j in jobs
        ],
        hide_index=True,
    )
