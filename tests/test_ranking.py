"""Ranking feedback: pairs from rankings, the Bradley-Terry loss, prompt-grouped batches, the reward
model on a tiny random BERT, metrics, explanations, candidate sampling with a tiny random GPT-2, the TRL
export and prompt files."""

from __future__ import annotations

import json
import math

import pytest
import torch

from tests.tiny_models import tiny_causal_lm, tiny_classifier
from xil.models.text import load_tokenizer
from xil.ranking.batching import check_groups, encode_groups, prompt_batches
from xil.ranking.export import read_preference_dataset, to_preference_rows, write_preference_dataset
from xil.ranking.generate import GenerationConfig, sample_candidates
from xil.ranking.inputs import PROMPT, RESPONSE, encode_candidates
from xil.ranking.pairs import pairs_from_ranking, pairs_with_correction
from xil.ranking.prompts import PromptFileError, demo_prompts, load_prompt_file
from xil.ranking.reward import (
    Cancelled,
    RewardConfig,
    bt_loss,
    explain_preference,
    kendall_tau,
    pairwise_accuracy,
    preference_attributions,
    score,
    train_reward,
)

MAX_LENGTH = 96  # the tiny BERT has 128 positions


@pytest.fixture(scope="module")
def groups():
    rows = demo_prompts()
    return [{**r, "pairs": pairs_from_ranking(r["candidates"], r["ranks"])} for r in rows]


@pytest.fixture(scope="module")
def trained(groups):
    model, tokenizer = tiny_classifier(num_labels=1, seed=0)
    cfg = RewardConfig(epochs=3, lr=1e-3, batch_prompts=4, max_length=MAX_LENGTH, freeze_embeddings=False)
    return train_reward(cfg, groups, init=(model, tokenizer))


# pairs ------------------------------------------------------------------------------------------


def test_full_ranking_gives_all_pairs_chosen_first():
    pairs = pairs_from_ranking(["a", "b", "c", "d"], [3, 1, 4, 2])
    assert len(pairs) == math.comb(4, 2)
    assert set(pairs) == {(1, 0), (0, 2), (3, 0), (1, 2), (1, 3), (3, 2)}


def test_ties_and_unranked_give_no_pairs():
    assert pairs_from_ranking(["a", "b", "c", "d"], [1, 2, 2, 3]) == [(0, 1), (0, 2), (0, 3), (1, 3), (2, 3)]
    assert pairs_from_ranking(["a", "b", "c", "d"], [2, None, 1, None]) == [(2, 0)]
    assert pairs_from_ranking(["a", "b", "c"], [1, 1, 1]) == []
    assert pairs_from_ranking(["same", "same", "c"], [1, 2, 3]) == [(0, 2), (1, 2)]  # identical texts: no pair


def test_all_bad_gives_no_pairs_and_a_correction_beats_every_candidate():
    assert pairs_from_ranking(["a", "b", "c"], [1, 2, 3], all_bad=True) == []
    assert pairs_from_ranking(["a", "b", "c"], [None, None, None], all_bad=True) == []
    candidates, pairs = pairs_with_correction(["a", "b", "c"], " better ")
    assert candidates == ["a", "b", "c", "better"]
    assert pairs == [(3, 0), (3, 1), (3, 2)]


@pytest.mark.parametrize("ranks", [[1, 2], [0, 1, 2], [1, True, 2], [1, 2.0, 3]])
def test_bad_ranks_raise(ranks):
    with pytest.raises(ValueError):
        pairs_from_ranking(["a", "b", "c"], ranks)


# loss -------------------------------------------------------------------------------------------


def test_bt_loss_matches_hand_computed_values():
    chosen, rejected = torch.tensor([2.0, 0.0]), torch.tensor([1.0, 1.0])
    l_plus, l_minus = math.log1p(math.exp(-1.0)), math.log1p(math.exp(1.0))  # -log sigmoid(+1), (-1)
    assert bt_loss(chosen, rejected).item() == pytest.approx((l_plus + l_minus) / 2, rel=1e-6)
    expected = (math.log1p(math.exp(-0.5)) + math.log1p(math.exp(1.5))) / 2  # differences 0.5, -1.5
    assert bt_loss(chosen, rejected, margin=0.5).item() == pytest.approx(expected, rel=1e-6)
    weighted = bt_loss(chosen, rejected, weight=torch.tensor([1.0, 3.0])).item()
    assert weighted == pytest.approx((l_plus + 3 * l_minus) / 4, rel=1e-6)


# inputs and batching ----------------------------------------------------------------------------


def test_pair_encoding_marks_prompt_and_response_and_truncates_prompt_head():
    tokenizer = load_tokenizer()
    prompt = " ".join(f"p{i}" for i in range(200)) + " lastword"
    enc = encode_candidates(tokenizer, [prompt, "short"], ["the answer " * 50, "yes"], max_length=32)
    assert 28 <= enc.input_ids.shape[1] <= 32  # whole words: a few pieces of room may stay unused
    assert enc.token_type_ids is not None
    seq, words = enc.sequence_ids[0], enc.word_ids[0]
    assert (enc.token_type_ids[0][seq == RESPONSE] == 1).all() and (enc.token_type_ids[0][seq == PROMPT] == 0).all()
    assert int(words[seq == PROMPT].max()) == len(prompt.split()) - 1  # the prompt keeps its end
    assert int(words[seq == RESPONSE].min()) == 0  # the response keeps its start
    assert enc.sequence_ids[1].tolist()[: int(enc.lengths[1])] == [-1, 0, -1, 1, -1]


def test_prompt_grouped_batches_hold_all_pairs_of_each_prompt():
    tokenizer = load_tokenizer()
    groups = [
        {"prompt": "q0", "candidates": ["a", "b", "c", "d"], "pairs": [(0, 1), (0, 2), (3, 1)]},
        {"prompt": "q1", "candidates": ["x y", "z"], "pairs": [(1, 0)]},
        {"prompt": "q2", "candidates": ["m", "n", "o"], "pairs": []},  # nothing to learn: left out
        {"prompt": "q3 longer prompt", "candidates": ["e", "f", "g"], "pairs": [(2, 0), (2, 1), (0, 1)]},
        {"prompt": "q4", "candidates": ["h", "i"], "pairs": [(0, 1)]},
    ]
    table = encode_groups(tokenizer, groups, 32)
    batches = prompt_batches(table, 2, torch.Generator().manual_seed(0))
    seen = [g for b in batches for g in b.groups]
    assert sorted(seen) == [0, 1, 3, 4] and len(batches) == 2
    for b in batches:
        expected_rows = [r for g in b.groups for r in range(table.starts[g], table.starts[g] + table.sizes[g])]
        assert b.rows.tolist() == expected_rows  # each candidate forwarded once
        offset, expected_pairs = 0, []
        for g in b.groups:
            expected_pairs += [(offset + i, offset + j) for i, j in groups[g]["pairs"]]
            offset += table.sizes[g]
        assert list(zip(b.chosen.tolist(), b.rejected.tolist(), strict=True)) == expected_pairs
        assert b.weight.sum().item() == pytest.approx(len(b.groups))  # each prompt counts once


def test_malformed_groups_raise():
    with pytest.raises(ValueError, match="pair"):
        check_groups([{"prompt": "q", "candidates": ["a", "b"], "pairs": [(0, 2)]}])
    with pytest.raises(ValueError, match="candidates"):
        check_groups([{"prompt": "q", "pairs": []}])


# reward model -----------------------------------------------------------------------------------


def test_train_reward_one_epoch_on_the_demo(groups):
    model, tokenizer = tiny_classifier(num_labels=1, seed=0)
    seen = []
    cfg = RewardConfig(epochs=1, max_length=MAX_LENGTH)
    model, tokenizer, history = train_reward(cfg, groups, progress=seen.append, init=(model, tokenizer))
    assert len(history) == 1 and seen == history
    assert set(history[0]) >= {"epoch", "epochs", "loss", "train_acc", "pairs", "seconds"}
    assert history[0]["pairs"] == 12 * 6 and math.isfinite(history[0]["loss"])
    assert not model.training


def marker_groups(n: int, seed: int) -> list[dict]:
    """Three candidates per prompt, equal length, told apart only by one marker word: excellent >
    okay > terrible. A random model is at chance; a trained one must read the marker."""
    rng = torch.Generator().manual_seed(seed)
    filler = ["apple", "river", "stone", "cloud", "table", "green", "music", "paper", "window", "garden"]
    out = []
    for _ in range(n):
        candidates = []
        for marker in ("excellent", "okay", "terrible"):
            words = [filler[int(i)] for i in torch.randint(len(filler), (5,), generator=rng)]
            words.insert(int(torch.randint(6, (1,), generator=rng)), marker)
            candidates.append(" ".join(words))
        out.append(
            {"prompt": "rate this", "candidates": candidates, "pairs": pairs_from_ranking(candidates, [1, 2, 3])}
        )
    return out


def test_training_learns_a_preference_the_untrained_model_lacks():
    train, held_out = marker_groups(48, seed=0), marker_groups(24, seed=1)
    model, tokenizer = tiny_classifier(num_labels=1, seed=0)
    untrained = pairwise_accuracy(model, tokenizer, held_out, 32)
    cfg = RewardConfig(epochs=6, lr=3e-3, batch_prompts=8, max_length=32, freeze_embeddings=False, warmup=0.0)
    model, tokenizer, history = train_reward(cfg, train, init=(model, tokenizer))
    assert history[-1]["loss"] < history[0]["loss"]
    assert 0.25 < untrained < 0.75
    assert pairwise_accuracy(model, tokenizer, held_out, 32) > 0.9
    # the explanation points at the marker: the chosen answer's most positive word is "excellent"
    top = [
        max(
            explain_preference(model, tokenizer, g["prompt"], g["candidates"][0], g["candidates"][2], max_length=32),
            key=lambda ws: ws[1],
        )[0]
        for g in held_out
    ]
    assert top.count("excellent") >= 0.8 * len(held_out)


def test_train_reward_can_be_cancelled_and_checks_its_inputs(groups):
    model, tokenizer = tiny_classifier(num_labels=1, seed=0)
    cfg = RewardConfig(epochs=2, max_length=MAX_LENGTH)
    with pytest.raises(Cancelled):
        train_reward(cfg, groups[:2], progress=lambda record: False, init=(model, tokenizer))
    with pytest.raises(ValueError, match="no preference pairs"):
        train_reward(cfg, [{**groups[0], "pairs": []}], init=(model, tokenizer))
    with pytest.raises(ValueError, match="one output"):
        train_reward(cfg, groups[:2], init=tiny_classifier(num_labels=2))


def test_score_shapes_and_order_independence(trained, groups):
    model, tokenizer, _ = trained
    group = groups[0]
    scores = score(model, tokenizer, group["prompt"], group["candidates"], MAX_LENGTH)
    assert len(scores) == len(group["candidates"]) and all(isinstance(s, float) for s in scores)
    reversed_scores = score(model, tokenizer, group["prompt"], group["candidates"][::-1], MAX_LENGTH)
    assert reversed_scores[::-1] == pytest.approx(scores, abs=1e-5)


def test_pairwise_accuracy_flips_with_the_pairs(trained, groups):
    model, tokenizer, _ = trained
    acc = pairwise_accuracy(model, tokenizer, groups, MAX_LENGTH)
    flipped = [{**g, "pairs": [(j, i) for i, j in g["pairs"]]} for g in groups]
    assert 0.0 <= acc <= 1.0
    assert pairwise_accuracy(model, tokenizer, flipped, MAX_LENGTH) == pytest.approx(1.0 - acc)
    with pytest.raises(ValueError):
        pairwise_accuracy(model, tokenizer, [{**groups[0], "pairs": []}], MAX_LENGTH)


def test_kendall_tau_values():
    assert kendall_tau([1, 2, 3, 4], [10, 20, 30, 40]) == pytest.approx(1.0)
    assert kendall_tau([1, 2, 3, 4], [4, 3, 2, 1]) == pytest.approx(-1.0)
    # tau-b with one tie in b: 5 concordant, 0 discordant, 6 pairs of which 1 tied in b
    assert kendall_tau([1, 2, 3, 4], [1, 2, 2, 4]) == pytest.approx(5 / math.sqrt(6 * 5))
    assert math.isnan(kendall_tau([1, 2, 3], [5, 5, 5]))
    assert math.isnan(kendall_tau([1], [2]))
    with pytest.raises(ValueError):
        kendall_tau([1, 2], [1, 2, 3])


def test_explain_preference_gives_word_scores_of_the_margin(trained, groups):
    model, tokenizer, _ = trained
    g = groups[0]
    chosen, rejected = g["candidates"][g["ranks"].index(1)], g["candidates"][g["ranks"].index(4)]
    words = explain_preference(model, tokenizer, g["prompt"], chosen, rejected, max_length=MAX_LENGTH)
    assert [w for w, _ in words] == chosen.split()
    assert any(abs(s) > 0 for _, s in words)
    out = preference_attributions(model, tokenizer, g["prompt"], chosen, rejected, MAX_LENGTH)
    assert [w for w, _ in out["rejected"]] == rejected.split()
    assert [w for w, _ in out["prompt"]] == g["prompt"].split()
    r = score(model, tokenizer, g["prompt"], [chosen, rejected], MAX_LENGTH)
    assert out["margin"] == pytest.approx(r[0] - r[1], abs=1e-4)
    with pytest.raises(ValueError):
        explain_preference(model, tokenizer, g["prompt"], chosen, rejected, side="both")


# generation -------------------------------------------------------------------------------------


def test_sampling_from_a_tiny_causal_lm_is_seeded(tmp_path):
    path = tiny_causal_lm(tmp_path / "tiny-lm")
    prompts = ["How do I cook rice?", "Tips for studying", "What should I pack?"]
    cfg = GenerationConfig(k=3, max_new_tokens=8, batch_size=2, device="cpu")
    first = sample_candidates(path, prompts, cfg)
    assert len(first) == 3 and all(len(c) == 3 and all(isinstance(s, str) for s in c) for c in first)
    assert sample_candidates(path, prompts, cfg) == first
    other = sample_candidates(path, prompts, GenerationConfig(k=3, max_new_tokens=8, batch_size=2, seed=1))
    assert other != first


def test_generation_config_validates():
    with pytest.raises(ValueError):
        GenerationConfig(temperature=0)
    with pytest.raises(ValueError):
        GenerationConfig(k=0)
    assert GenerationConfig.from_dict(GenerationConfig(k=2).to_dict()).k == 2


# export -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", [".jsonl", ".parquet"])
def test_preference_export_round_trip(tmp_path, groups, suffix):
    rows = to_preference_rows(groups)
    assert len(rows) == 72
    g = groups[0]
    i, j = g["pairs"][0]
    assert rows[0] == {"prompt": g["prompt"], "chosen": g["candidates"][i], "rejected": g["candidates"][j]}
    path = write_preference_dataset(rows, tmp_path / f"prefs{suffix}")
    assert read_preference_dataset(path) == rows


def test_preference_export_loads_with_datasets(tmp_path, groups):
    datasets = pytest.importorskip("datasets")
    rows = to_preference_rows(groups)
    path = write_preference_dataset(rows, tmp_path / "prefs.parquet")
    ds = datasets.load_dataset("parquet", data_files=str(path), split="train")
    assert ds.column_names == ["prompt", "chosen", "rejected"] and ds[0] == rows[0]


def test_preference_export_trains_with_trl_reward_trainer(tmp_path, groups):
    datasets = pytest.importorskip("datasets")
    trl = pytest.importorskip("trl")
    rows = to_preference_rows(groups)[:8]
    path = write_preference_dataset(rows, tmp_path / "prefs.jsonl")
    ds = datasets.load_dataset("json", data_files=str(path), split="train")
    model, tokenizer = tiny_classifier(num_labels=1, seed=0)
    tokenizer.eos_token = tokenizer.sep_token  # TRL ends every text with EOS; a BERT tokenizer names none
    args = trl.RewardConfig(
        output_dir=str(tmp_path / "trl"),
        max_steps=2,
        per_device_train_batch_size=4,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        disable_tqdm=True,
    )
    trainer = trl.RewardTrainer(model=model, args=args, train_dataset=ds, processing_class=tokenizer)
    first = trainer.train_dataset[0]
    prompt_ids = tokenizer(rows[0]["prompt"], add_special_tokens=False)["input_ids"]
    assert first["chosen_ids"][1 : 1 + len(prompt_ids)] == prompt_ids  # the prompt leads both texts
    assert first["chosen_ids"] != first["rejected_ids"]
    result = trainer.train()
    assert result.global_step == 2 and math.isfinite(result.training_loss)


def test_preference_export_rejects_bad_rows(tmp_path):
    with pytest.raises(ValueError, match="row 0"):
        write_preference_dataset([{"prompt": "q", "chosen": "a"}], tmp_path / "x.jsonl")
    with pytest.raises(ValueError, match="suffix"):
        write_preference_dataset([], tmp_path / "x.csv")


# prompt files -----------------------------------------------------------------------------------


def test_demo_prompts_load():
    rows = demo_prompts()
    assert len(rows) == 12
    assert all(len(r["candidates"]) == 4 and sorted(r["ranks"]) == [1, 2, 3, 4] for r in rows)


def test_prompt_file_errors_name_their_lines(tmp_path):
    good = {"prompt": "q", "candidates": ["a", "b"]}
    lines = [
        json.dumps(good),
        "{not json",
        json.dumps({"prompt": "q"}),
        json.dumps({"prompt": "q", "candidates": ["only one"]}),
        "",
        json.dumps({"candidates": ["a", "b"]}),
        json.dumps({**good, "ranks": [1]}),
    ]
    path = tmp_path / "prompts.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(PromptFileError) as info:
        load_prompt_file(path)
    errors = info.value.errors
    assert len(errors) == 5
    assert "prompts.jsonl:2: not valid JSON" in errors[0]
    assert ":3: missing field 'candidates'" in errors[1]
    assert ":4: 'candidates' needs at least 2" in errors[2]
    assert ":6: missing field 'prompt'" in errors[3]
    assert ":7: 'ranks'" in errors[4]
    path.write_text(json.dumps(good) + "\n\n" + json.dumps(good) + "\n")
    assert load_prompt_file(path) == [good, good]


# the HH-RLHF benchmark's dialogue split ---------------------------------------------------------


def test_hh_dialogue_split():
    from xil.bench.reward import split_dialogue

    chosen = "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: help me\n\nAssistant: Sure, here is how."
    rejected = "\n\nHuman: hi\n\nAssistant: hello\n\nHuman: help me\n\nAssistant: No."
    assert split_dialogue(chosen, rejected) == (
        "Human: hi\n\nAssistant: hello\n\nHuman: help me\n\nAssistant:",
        "Sure, here is how.",
        "No.",
    )
    # the dialogues differ before the last cue: cut at the last shared one
    differ = "\n\nHuman: hi\n\nAssistant: bye\n\nHuman: ok\n\nAssistant: x"
    assert split_dialogue(chosen, differ)[0] == "Human: hi\n\nAssistant:"


@pytest.mark.slow
def test_reward_benchmark_runs_end_to_end_on_a_tiny_backbone(tmp_path):
    from conftest import SHARED_DATA

    from xil.bench import reward
    from xil.models.text import save_classifier

    data = SHARED_DATA / "hh-rlhf" / "harmless-dev.jsonl.gz"
    if not data.exists():
        pytest.skip(f"{data} not found (the shared data folder is absent)")
    backbone = str(save_classifier(*tiny_classifier(num_labels=1, seed=0), tmp_path / "tiny"))
    result = reward.run(data, n_train=16, n_eval=8, max_length=32, epochs=1, backbone=backbone)
    assert (result["n_train"], result["n_eval"], result["backbone"]) == (16, 8, backbone)
    assert 0 <= result["pairwise_acc"] <= 1 and 0 <= result["untrained_acc"] <= 1
    assert len(result["train_loss"]) == 1 and result["precision"] == "float32" and result["train_s"] >= 0
