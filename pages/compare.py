"""Compare: did the generator get better? Two answer sources answer the same held-out prompt; you see
both answers side by side, not which source wrote which (the order is random), and say which is better.
Below, the win rates so far with their 95% interval, beside the reward model's choices on the same pairs."""

from __future__ import annotations

import streamlit as st

from pages import ui
from xil import services
from xil.services import comparison, generation
from xil.services.generation import AnswerSource

ui.setup("Compare")
st.title("Compare")
st.caption(
    "Did it get better? Pick two generators; each answers the same held-out prompt, and you say which "
    "answer is better without knowing which generator wrote it."
)
pid = ui.require_project()
if services.get_project(pid).task != "ranking":
    st.info(
        "Blind comparisons of generators are for ranking projects with a generator: pick *Generator demo* in the "
        "sidebar (create it on the Data page: a tiny language model, trained here in seconds) or a prompt file you "
        "imported with a generator."
    )
    st.stop()

actor = ui.actor()
annotator = ui.annotator()
sources = generation.answer_sources(pid)
MAX_BEST_OF = 16


def source_picker(side: str, default: int):
    """One source: a generator, best of n (1 = off) and retrieved corrections (RiT)."""
    keys = list(sources)
    key = st.selectbox(
        f"Source {side}", keys, index=default, format_func=sources.get, key=f"compare-{pid}-{side}-source"
    )
    c1, c2 = st.columns(2, vertical_alignment="bottom")
    best_of = c1.number_input(
        "Best of n (1 = off)",
        min_value=1,
        max_value=MAX_BEST_OF,
        value=1,
        key=f"compare-{pid}-{side}-best-of",
        help="The newest reward model keeps the best of n samples.",
    )
    corrections = c2.checkbox(
        "With corrections (RiT)",
        key=f"compare-{pid}-{side}-corrections",
        help="Similar corrections from the Rank and Revise pages go into the prompt.",
    )
    return AnswerSource(AnswerSource.from_key(key).version_id, int(best_of), corrections)


def save(pair: comparison.BlindPair, choice: str) -> None:
    try:
        comparison.save_choice(pair, choice, annotator, actor=actor)
    except (ValueError, services.PermissionDenied) as exc:
        st.session_state["compare_flash"] = ("error", ui.md(str(exc)))
        st.session_state.pop("compare_pair", None)  # e.g. saved already in another tab: go on with a new pair
        return
    st.session_state["compare_flash"] = ("success", "Saved your choice. Here is the next pair.")
    st.session_state.pop("compare_pair", None)


def blind_pair(a: AnswerSource, b: AnswerSource) -> None:
    """The pair on screen: kept in session state (with what it was made for) until it is saved."""
    if a.key == b.key:
        st.warning("Pick two different sources (another generator, best of n or corrections).")
        return
    if not annotator:
        st.info("Enter your name as annotator in the sidebar to start comparing.")
        return
    done, total = comparison.progress(pid, a, b, annotator)
    st.progress(done / total if total else 0.0, text=f"{done} of {total} held-out prompts compared for these two")
    wanted = (pid, a.key, b.key, annotator)
    held = st.session_state.get("compare_pair")
    if held is None or held[0] != wanted:
        try:
            with st.spinner("Both generators are writing an answer..."):
                pair = comparison.next_pair(pid, a, b, annotator, actor=actor)
        except (ValueError, services.PermissionDenied) as exc:
            st.error(ui.md(str(exc)))
            return
        held = (wanted, pair)
        st.session_state["compare_pair"] = held
    pair = held[1]
    if pair is None:
        st.success("You compared every held-out prompt for these two sources. Pick other sources to go on.")
        return
    st.markdown("**Prompt**")
    st.info(ui.md(pair.prompt))
    for column, title, text in zip(st.columns(2), ("Answer 1", "Answer 2"), (pair.first, pair.second), strict=True):
        with column.container(border=True):
            st.markdown(f"**{title}**")
            st.markdown(ui.md(text) if text.strip() else "*(an empty answer)*")
    b1, b2, b3 = st.columns(3)
    b1.button("Answer 1 is better", on_click=save, args=(pair, "first"), width="stretch")
    b2.button("Tie", on_click=save, args=(pair, "tie"), width="stretch")
    b3.button("Answer 2 is better", on_click=save, args=(pair, "second"), width="stretch")


def rate_table() -> None:
    """Win rates in a closed expander: seen after each vote they would tell the annotator which generator
    their choice favoured, and the next choices would no longer be blind."""
    rates = comparison.win_rates(pid)
    st.subheader("Win rates")
    if not rates:
        st.caption("No comparisons yet.")
        return
    with st.expander("Show the win rates (they tell which generator your choices favoured: look when you are done)"):
        win_table(rates)


def win_table(rates: list) -> None:

    def title(key: str) -> str:
        return generation.source_title(pid, AnswerSource.from_key(key))

    st.dataframe(
        [
            {
                "source": title(w.source_a),
                "against": title(w.source_b),
                "comparisons": w.n,
                "wins": w.wins_a,
                "losses": w.wins_b,
                "ties": w.ties,
                "win rate": f"{w.rate:.0%}",
                "95% interval": f"{w.low:.0%} to {w.high:.0%}",
                "reward model's win rate": "—" if w.reward_rate is None else f"{w.reward_rate:.0%} (of {w.reward_n})",
            }
            for w in rates
        ],
        hide_index=True,
    )
    st.caption(
        "Per pair, the newer source's wins against the other; a tie counts one half. Where the interval lies above "
        "50%, people prefer the newer source. The reward model's win rate, on the same answers, says whether it "
        "agrees with them."
    )


if len(sources) < 2:
    st.info(
        "Comparing needs two generators: train one from the rankings on the Train page (a DPO job), then "
        "compare it here with the base generator."
    )
else:
    if flash := st.session_state.pop("compare_flash", None):
        getattr(st, flash[0])(flash[1])
    left, right = st.columns(2)
    with left:
        first = source_picker("A", len(sources) - 1)
    with right:
        second = source_picker("B", len(sources) - 2)
    blind_pair(first, second)
rate_table()
