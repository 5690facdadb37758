"""Rank: a prompt and its candidate answers; order them (ties and "all bad" allowed), optionally
write a better answer, save, next. The latest reward model's scores sit beside your ranking."""

from __future__ import annotations

import streamlit as st

from pages import ui
from xil import services
from xil.services import generation, ranking

ui.setup("Rank")
st.title("Rank")
pid = ui.require_project()
if services.get_project(pid).task != "ranking":
    st.info("This project is not a ranking project: pick *Ranking demo* (or your own prompt file) in the sidebar.")
    st.stop()

actor = ui.actor()
annotator = ui.annotator()
done, total = ranking.progress(pid)
st.progress(done / total if total else 0.0, text=f"{done} of {total} prompts ranked")
skipped = st.session_state.setdefault("rank_skipped", [])
back = st.session_state.setdefault("rank_back", [])  # prompts shown before this one, newest last
mine = ranking.my_rankings(pid, annotator)
NO_RANK = 0  # "not ranked"


def order_text(ranks: list[int | None], all_bad: bool) -> str:
    """``B > A = C`` for ranks [2, 1, 2, None]: how a ranking reads in the review table."""
    if all_bad:
        return "all bad"
    levels = sorted({r for r in ranks if r is not None})
    return " > ".join(" = ".join(chr(65 + i) for i, r in enumerate(ranks) if r == level) for level in levels)


def open_prompt(example_id: int) -> None:
    current = st.session_state.get("rank_example")
    if current is not None and current != example_id:
        back.append(current)
    st.session_state["rank_example"] = example_id


def previous_prompt() -> int | None:
    """The prompt shown before this one; in a fresh session (a reload) the one ranked last."""
    current = st.session_state.get("rank_example")
    if back:
        return back[-1]
    return next((r.example_id for r in mine if r.example_id != current), None)


def go_back() -> None:
    st.session_state["rank_example"] = back.pop() if back else previous_prompt()


def generator_panel() -> None:
    """Answers from the project's generator or one of its DPO versions, with best-of-n (the newest reward
    model's pick, scores shown) and RiT corrections in the prompt (the ones used are shown); and a new
    round of candidates to rank from a generator, so that the loop goes on with the newest version."""
    sources = generation.answer_sources(pid)
    if not sources:
        return
    with st.expander("Generator: try it, or sample a new round to rank"):
        keys = list(sources)
        c1, c2, c3 = st.columns([3, 1, 2], vertical_alignment="bottom")
        key = c1.selectbox("Generator", keys, index=len(keys) - 1, format_func=sources.get, key="gen_source")
        best_of = c2.number_input(
            "Best of n", 1, 16, 1, help="1: one sample; more: the reward model picks", key="gen_n"
        )
        corrections = c3.checkbox(
            "With corrections (RiT)", key="gen_rit", help="Retrieved corrections go in the prompt"
        )
        source = generation.AnswerSource(generation.AnswerSource.from_key(key).version_id, int(best_of), corrections)
        prompt = st.text_area("Prompt", item.prompt if item is not None else "", key=f"gen_prompt-{example_id}")
        if st.button("Generate an answer", disabled=not prompt.strip()):
            try:
                with st.spinner("Generating..."):
                    [answer] = generation.generate(pid, [prompt.strip()], source, actor=actor)
            except (ValueError, services.PermissionDenied) as exc:
                st.error(ui.md(str(exc)))
            else:
                st.markdown(f"**Answer** ({ui.md(generation.source_title(pid, source))})")
                st.info(ui.md(answer.text or "(empty)"))
                if answer.retrieved:
                    st.caption("Corrections put in the prompt (why the answer reads this way):")
                    st.dataframe(
                        [
                            {"similarity": round(r["similarity"], 3), "kind": r["kind"], "correction": r["text"]}
                            for r in answer.retrieved
                        ],
                        hide_index=True,
                    )
                elif corrections:
                    st.caption("No correction was similar enough to this prompt: it went unchanged.")
                if answer.scores is not None:
                    st.caption("Best of n: every sample with its reward; the highest is the answer.")
                    st.dataframe(
                        [
                            {"reward": round(s, 3), "sample": c}
                            for c, s in zip(answer.candidates, answer.scores, strict=True)
                        ],
                        hide_index=True,
                    )
        st.divider()
        c4, c5, c6 = st.columns([1, 1, 2], vertical_alignment="bottom")
        k_new = c4.number_input("Candidates per prompt", 2, 16, 4, key="round_k")
        limit = c5.number_input("Prompts", 1, 100_000, min(20, total), key="round_limit")
        if c6.button(f"Sample a new round from {ui.md(sources[key])}", disabled=not ui.can_here("train")):
            try:
                with st.spinner("Sampling candidates..."):
                    ids = generation.new_round(
                        pid,
                        generation.AnswerSource(source.version_id, corrections=corrections),
                        int(k_new),
                        int(limit),
                        actor=actor,
                    )
            except (ValueError, services.PermissionDenied) as exc:
                st.error(ui.md(str(exc)))
            else:
                st.success(f"{len(ids)} prompts with new candidates wait to be ranked.")


def review() -> None:
    """The annotator's own rankings: reopen any of them to see it (with the reward model's scores) and
    change it; saving again supersedes the old row, which stays in the history."""
    if not mine:
        return
    with st.expander(f"Your rankings ({len(mine)})", expanded=example_id is None):
        st.dataframe(
            [
                {
                    "prompt": r.name,
                    "question": r.prompt,
                    "your order": order_text(r.ranks, r.all_bad),
                    "better answer": r.correction or "",
                }
                for r in mine
            ],
            hide_index=True,
        )
        names = {r.example_id: f"{r.name}: {r.prompt}" for r in mine}
        c1, c2 = st.columns([4, 1], vertical_alignment="bottom")
        chosen = c1.selectbox("Review or change", list(names), format_func=names.get, key="rank_review")
        c2.button("Open", on_click=open_prompt, args=(chosen,), width="stretch")


example_id = st.session_state.get("rank_example")
if example_id is None:
    queue = ranking.next_prompts(pid, annotator, n=1, exclude=tuple(skipped))
    if queue:
        example_id = queue[0]
        st.session_state["rank_example"] = example_id
if example_id is None:
    st.success(
        "Every prompt is ranked. Train a reward model on the Train page; open one of your rankings below "
        "to review it (with the reward model's scores) or change it."
    )
    if previous_prompt() is not None:
        st.button("Previous prompt", on_click=go_back)
    item = None
    generator_panel()
    review()
    st.stop()
item = ranking.view(example_id)
k = len(item.candidates)
saved = ranking.my_ranking(example_id, annotator) if annotator else None
if saved is not None and st.session_state.get("rank_prefilled") != example_id:
    # widget state does not outlive the widgets: a reopened prompt shows what was saved
    for i in range(k):
        st.session_state[f"rank-{example_id}-{i}"] = (saved.ranks[i] if i < len(saved.ranks) else None) or NO_RANK
    st.session_state[f"all_bad-{example_id}"] = saved.all_bad
    st.session_state[f"correction-{example_id}"] = saved.correction or ""
st.session_state["rank_prefilled"] = example_id


def advance() -> None:
    back.append(example_id)
    st.session_state.pop("rank_example", None)
    st.session_state.pop("rank_prefilled", None)


def save() -> None:
    if not annotator:
        st.session_state["rank_flash"] = ("error", "Enter your name as annotator in the sidebar before saving.")
        return
    ranks = [st.session_state.get(f"rank-{example_id}-{i}", NO_RANK) or None for i in range(k)]
    try:
        ranking.save_ranking(
            example_id,
            annotator,
            ranks,
            all_bad=st.session_state.get(f"all_bad-{example_id}", False),
            correction=st.session_state.get(f"correction-{example_id}", ""),
            reward_model_version_id=item.model_version_id,
            actor=actor,
        )
    except ValueError as exc:
        st.session_state["rank_flash"] = ("error", ui.md(str(exc)))
        return
    st.session_state["rank_flash"] = ("success", f"Saved your ranking of {ui.md(item.name)}.")
    advance()


def skip() -> None:
    skipped.append(example_id)
    advance()


if flash := st.session_state.pop("rank_flash", None):
    getattr(st, flash[0])(flash[1])

st.markdown(f"**Prompt** ({ui.md(item.name)})")
st.info(ui.md(item.prompt))
st.caption(f"Answers from {ui.md(item.source)}")
if saved is not None:
    st.caption("You ranked this prompt before; saving replaces that ranking, the old one stays in the history.")
st.caption("Rank 1 is best. Give two answers the same number for a tie; leave one at — to skip it.")
for i, candidate in enumerate(item.candidates):
    with st.container(border=True):
        left, right = st.columns([1, 6])
        left.selectbox(
            f"Rank of answer {chr(65 + i)}",
            [NO_RANK, *range(1, k + 1)],
            format_func=lambda r: "—" if r == NO_RANK else str(r),
            key=f"rank-{example_id}-{i}",
        )
        if item.scores is not None:
            left.caption(f"reward {item.scores[i]:+.3g}")  # a small model's rewards can differ in the third digit
        right.markdown(f"**{chr(65 + i)}.** {ui.md(candidate)}")
st.checkbox("All answers are bad", key=f"all_bad-{example_id}")
st.text_area(
    "A better answer (optional; it also becomes a correction that revises similar prompts)",
    key=f"correction-{example_id}",
)
b1, b2, b3 = st.columns(3)
b1.button("Save ranking", type="primary", on_click=save, shortcut="Ctrl+Enter", width="stretch")
b2.button("Skip", on_click=skip, width="stretch")
b3.button("Previous prompt", on_click=go_back, disabled=previous_prompt() is None, width="stretch")

if item.scores is not None:
    ranks = [st.session_state.get(f"rank-{example_id}-{i}", NO_RANK) for i in range(k)]
    tau = ranking.agreement([None if r == NO_RANK else r for r in ranks], item.scores)
    if tau is not None:
        st.metric("Agreement with the reward model (Kendall tau)", f"{tau:+.2f}")
    best, worst = max(range(k), key=lambda i: item.scores[i]), min(range(k), key=lambda i: item.scores[i])
    with st.expander(f"Why the reward model prefers {chr(65 + best)} over {chr(65 + worst)}"):
        reward_version = next(v for v in services.list_model_versions(pid) if v.id == item.model_version_id)
        words = ranking.explain(reward_version, item.prompt, item.candidates[best], item.candidates[worst])
        st.html(ui.scored_words(words))

generator_panel()
review()
