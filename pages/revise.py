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
prompt = st.text_input("Prompt", placeholder="Ask something")
threshold = st.slider("Similarity threshold", 0.0, 1.0, 0.6, 0.01)
if prompt.strip():
    result = revision.revise(prompt, threshold)
    if result["retrieved"]:
        for item in result["retrieved"]:
            st.success(f"similarity {item['similarity']:.2f} · {item['kind']}: {item['text']}")
    else:
        st.info("No correction is similar enough; the prompt goes to the model unchanged.")
    st.markdown("**Final prompt**")
    st.code(result["prompt"], wrap_lines=True)

with st.form("rule", clear_on_submit=True):
    rule = st.text_area("Add a rule")
    if st.form_submit_button("Add rule") and rule.strip():
        st.success(f"Added correction {revision.add_correction(rule, 'rule')}.")
st.caption(f"{len(revision.load_index())} corrections in the corpus.")
