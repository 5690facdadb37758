"""Revise (RiT): corrections that revise later prompts by retrieval, without training."""

from __future__ import annotations

import streamlit as st

from pages import ui
from xil.services import revision

ui.setup("Revise (RiT)")
st.title("Revise by retrieval")
st.caption(
    "Every correction (a better answer written on the Rank page, or a rule you state here) is embedded with "
    "MiniLM. A new prompt retrieves the nearest corrections above the similarity threshold and is rewritten as "
    "`{context} Question: {query} Answer:` for the generator."
)
# a form: Enter in the prompt field and the button both run it (it had no button at all)
with st.form("revise"):
    prompt = st.text_input("Prompt", placeholder="Ask something", key="rit_prompt")
    threshold = st.slider("Similarity threshold", 0.0, 1.0, 0.6, 0.01)
    if st.form_submit_button("Revise prompt", type="primary"):
        if prompt.strip():
            st.session_state["rit_query"] = (prompt, threshold)
        else:
            st.session_state.pop("rit_query", None)
            st.warning("Type a prompt to revise.")
query = st.session_state.get("rit_query")
if query:
    result = revision.revise(*query)
    if result["retrieved"]:
        for item in result["retrieved"]:
            st.success(f"similarity {item['similarity']:.2f} · {item['kind']}: {ui.md(item['text'])}")
    else:
        st.info("No correction is similar enough; the prompt goes to the model unchanged.")
    st.markdown("**Final prompt**")
    st.code(result["prompt"], language=None, wrap_lines=True)  # plain text: no Python keyword colouring

with st.form("rule", clear_on_submit=True):
    rule = st.text_area("Add a rule")
    submitted = st.form_submit_button("Add rule")
    if submitted and not rule.strip():
        st.warning("Type the rule first.")
    elif submitted:
        # a signed-in annotator's rule belongs to the project they work on
        project_id = st.session_state.get("project_id") if ui.actor() else None
        try:
            added = revision.add_correction(
                rule, "rule", project_id=project_id, annotator=ui.annotator() or None, actor=ui.actor()
            )
        except ValueError as exc:
            st.error(ui.md(str(exc)))
        else:
            st.success(f"Added correction {added}.")
n = len(revision.load_index())
st.caption(f"{n:,} correction{'' if n == 1 else 's'} in the corpus.")
