"""Agreement between annotators: each measure against a value computed by hand on a tiny case, the
service on the demo projects (two annotators, with disagreements), and `xil agreement --json`."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from sqlmodel import select
from typer.testing import CliRunner

from db import Feedback, session_scope
from tests.conftest import both_backends
from xil import agreement as m
from xil import services
from xil.cli import app
from xil.services import ranking


def approx(x):
    return pytest.approx(x, abs=1e-9)


# --- the measures, on cases small enough to compute by hand ---


def test_nominal_alpha_two_annotators():
    # units (a,a) (a,b) (b,b); the last unit has one value and is not pairable.
    # coincidences: o_aa = 2, o_ab = o_ba = 1, o_bb = 2; n_a = n_b = 3, n = 6
    # alpha = 1 - (n - 1) (o_ab + o_ba) / (n_a n_b + n_b n_a) = 1 - 5 * 2 / 18 = 4/9
    units = [["a", "a"], ["a", "b"], ["b", "b"], ["a", None]]
    assert m.nominal_alpha(units) == approx(4 / 9)


def test_nominal_alpha_three_annotators_with_a_missing_value():
    # u1 = (a, a, b): m_u = 3, ordered pairs a-a 2, a-b 2, b-a 2, each / (m_u - 1) = 2
    #   -> o_aa = 1, o_ab = 1, o_ba = 1; u2 = (b, b): o_bb = 2
    # n_a = 2, n_b = 3, n = 5: alpha = 1 - 4 * 2 / (2 * 2 * 3) = 1/3
    assert m.nominal_alpha([["a", "a", "b"], ["b", "b", None]]) == approx(1 / 3)


def test_nominal_alpha_is_none_where_undefined():
    assert m.nominal_alpha([["a", "b"]]) is None  # one pairable unit
    assert m.nominal_alpha([["a", "a"], ["a", "a"], ["a", None]]) is None  # one value: D_e = 0
    assert m.nominal_alpha([]) is None


def test_mean_pairwise_iou_skips_pairs_of_empty_masks():
    a = np.array([[1, 1], [0, 0]], bool)
    b = np.array([[1, 0], [0, 0]], bool)
    empty = np.zeros((2, 2), bool)
    # unit 1: IoU(a, b) = 1/2, IoU(a, empty) = 0, IoU(b, empty) = 0; unit 2: (empty, empty) skipped;
    # unit 3: one mask, no pair.  Mean over the three pairs: (1/2 + 0 + 0) / 3 = 1/6
    assert m.mean_pairwise_iou([[a, b, empty], [empty, empty], [a, None]]) == approx(1 / 6)
    assert m.mean_pairwise_iou([[empty, empty]]) is None
    assert m.iou(a, a) == 1.0


def test_word_mark_alpha():
    # text 1 (3 words): ada irrelevant {0}, bob irrelevant {0, 1}; text 2 (2 words): both relevant {1}
    # units (one per word): (1,1) (0,1) (0,0) | (0,0) (2,2)
    # o_11 = 2, o_01 = o_10 = 1, o_00 = 4, o_22 = 2; n_0 = 5, n_1 = 3, n_2 = 2, n = 10
    # sum_{c != k} n_c n_k = 2 (5*3 + 5*2 + 3*2) = 62: alpha = 1 - 9 * 2 / 62 = 22/31
    texts = [
        [m.word_codes(3, [0], []), m.word_codes(3, [0, 1], [])],
        [m.word_codes(2, [], [1]), m.word_codes(2, [], [1])],
        [m.word_codes(4, [2], []), None],  # one annotator only: left out
    ]
    assert texts[0] == [[1, 0, 0], [1, 1, 0]]
    assert m.word_mark_alpha(texts) == approx(22 / 31)
    assert m.word_codes(2, [0], [0]) == [3, 0]


def test_token_f1():
    # F1 = 2 |A & B| / (|A| + |B|): {1,2} vs {2,3} -> 2 * 1 / 4 = 1/2; {1} vs {} -> 0; {} vs {} skipped
    assert m.token_f1([1, 2], [2, 3]) == approx(0.5)
    assert m.token_f1([], []) is None
    assert m.mean_pairwise_token_f1([[[1, 2], [2, 3]], [[], []], [[1], []], [[4], None]]) == approx(0.25)


def test_kendall_w_without_and_with_ties():
    # 3 raters, 3 items: R = (1+1+2, 2+3+1, 3+2+3) = (4, 6, 8), mean m (n+1)/2 = 6, S = 4 + 0 + 4 = 8
    # W = 12 S / (m^2 (n^3 - n)) = 96 / (9 * 24) = 4/9
    assert m.kendall_w([[1, 2, 3], [1, 3, 2], [2, 1, 3]]) == approx(4 / 9)
    # ties: (1, 1, 2) -> mid-ranks (1.5, 1.5, 3); with (1, 2, 3): R = (2.5, 3.5, 6), mean 4,
    # S = 2.25 + 0.25 + 4 = 6.5; T = 2^3 - 2 = 6 for the tied pair
    # W = 12 * 6.5 / (4 * 24 - 2 * 6) = 78 / 84 = 13/14
    assert m.kendall_w([[1, 1, 2], [1, 2, 3]]) == approx(13 / 14)
    assert m.kendall_w([[1, 2, 3], [1, 2, 3]]) == approx(1.0)
    assert m.kendall_w([[1, 1], [1, 1]]) is None  # every ranking ties everything
    assert m.kendall_w([[1, 2, 3]]) is None


def test_mean_pairwise_tau():
    # (1,2,3) vs (1,3,2): 2 concordant, 1 discordant -> 1/3; (1,2,3) vs (2,1,3): 1/3;
    # (1,3,2) vs (2,1,3): 1 concordant, 2 discordant -> -1/3; mean (1/3 + 1/3 - 1/3) / 3 = 1/9
    assert m.mean_pairwise_tau([[1, 2, 3], [1, 3, 2], [2, 1, 3]]) == approx(1 / 9)
    assert m.mean_pairwise_tau([[1, 1, 1], [1, 2, 3]]) is None


def test_common_ranks_keeps_the_items_everyone_ranked():
    assert m.common_ranks([[1, None, 2, 3], [2, 1, None, 1], [None, None, None, None]]) == [[1.0, 3.0], [2.0, 1.0]]


def test_annotator_agreement_with_the_others_and_the_consensus():
    r, w = "right_reason", "wrong_reason"
    units = [[r, r, w], [r, w, w], [w, None, w], [r, w, None]]
    # ada: others' majority u1 tie (skip), u2 w (miss), u3 w (hit), u4 w (miss) -> 1/3;
    #      consensus u1 r (hit), u2 w (miss), u3 w (hit), u4 tie (skip) -> 2/3
    # bob: others u1 tie, u2 tie, u4 r (miss) -> 0/1; consensus u1 r (hit), u2 w (hit), u4 tie -> 1
    # cy:  others u1 r (miss), u2 tie, u3 w (hit) -> 1/2; consensus u1 r (miss), u2 w, u3 w -> 2/3
    ada, bob, cy = m.annotator_agreement(units)
    assert (ada["units"], ada["with_others"], ada["with_consensus"]) == (4, approx(1 / 3), approx(2 / 3))
    assert (bob["units"], bob["with_others"], bob["with_consensus"]) == (3, 0.0, 1.0)
    assert (cy["units"], cy["with_others"], cy["with_consensus"]) == (3, 0.5, approx(2 / 3))


def test_ranking_agreement():
    # ada and bob (1,2,3), cy (3,2,1): ada's taus with the others 1 and -1 -> 0; the consensus (mean
    # ranks 5/3, 2, 7/3) orders as ada does -> 1; cy: -1 with both, -1 with the consensus
    ada, bob, cy = m.ranking_agreement([[[1, 2, 3], [1, 2, 3], [3, 2, 1]]])
    assert (ada["with_others"], ada["with_consensus"]) == (approx(0.0), approx(1.0))
    assert (cy["with_others"], cy["with_consensus"]) == (approx(-1.0), approx(-1.0))
    assert bob["units"] == 1


def test_per_hour_caps_pauses_at_five_minutes():
    t0 = datetime(2026, 1, 1, 9, 0, tzinfo=timezone.utc)
    times = [t0, t0 + timedelta(seconds=60), t0 + timedelta(seconds=120), t0 + timedelta(hours=1)]
    # gaps 60 + 60 + min(3480, 300) = 420 s; 4 judgements * 3600 / 420 = 34.29 per hour
    assert m.active_seconds(times) == 420.0
    assert m.per_hour(4, times) == approx(4 * 3600 / 420)
    assert m.per_hour(1, [t0]) is None


# --- the service ---


def _allow(project_id: int, annotators: int = 2) -> None:
    """Let two annotators judge the same example: the project's overlap caps how many may."""
    services.set_overlap(project_id, annotators)


def _set_times(annotator: str, seconds: list[float]) -> None:
    """Give the annotator's saves (in id order) known moments, seconds after 9:00."""
    t0 = datetime(2026, 1, 1, 9, 0, tzinfo=timezone.utc)
    with session_scope(write=True) as session:
        rows = session.scalars(select(Feedback).where(Feedback.annotator == annotator).order_by(Feedback.id)).all()
        assert len(rows) == len(seconds)
        for row, s in zip(rows, seconds, strict=True):
            row.created_at = t0 + timedelta(seconds=s)


def _judge_images(demo) -> tuple[list, int]:
    """Three examples both ada and bob judged (different labels), and a fourth only ada did."""
    by_label = {}
    for example in services.examples(demo.project_id, split="train"):
        by_label.setdefault(example.label, example)
    _allow(demo.project_id)
    e1, e2, e3, e4 = (by_label[k] for k in sorted(by_label)[:4])
    corrected = next(k for k in sorted(by_label) if k not in (e1.label, e2.label, e3.label))
    shape = services.dataset(demo.project_id).shape[1:]
    a, b = np.zeros(shape, bool), np.zeros(shape, bool)
    a[:2, :2] = True  # 4 pixels
    b[:2, :4] = True  # 8 pixels, holding a's 4: IoU 1/2
    v = demo.version_id
    services.save_feedback(e1.id, "ada", v, verdict="right_reason")
    services.save_feedback(e2.id, "ada", v, verdict="wrong_reason", irrelevant=a)
    services.save_feedback(e3.id, "ada", v, verdict="wrong_reason", label=corrected)
    services.save_feedback(e4.id, "ada", v, verdict="right_reason")
    services.save_feedback(e1.id, "bob", v, verdict="right_reason")
    services.save_feedback(e2.id, "bob", v, verdict="right_reason")  # superseded just below
    services.save_feedback(e2.id, "bob", v, verdict="wrong_reason", irrelevant=b)
    services.save_feedback(e3.id, "bob", v, verdict="right_reason")
    return [e1, e2, e3, e4], corrected


@both_backends
def test_agreement_service_on_the_image_demo(demo):
    _judge_images(demo)
    _set_times("ada", [0, 60, 120, 3600])  # active 60 + 60 + 300 s (the pause capped)
    result = services.agreement(demo.project_id)
    assert result["examples_with_overlap"] == 3  # e4 has one judgement only
    # verdicts (R,R) (W,W) (W,R), bob's first verdict on e2 superseded: the first hand case, 4/9
    assert result["verdict_alpha"] == approx(4 / 9)
    # labels (L1,L1) (L2,L2) (x,L3), all distinct: n = 6, n_L1 = n_L2 = 2, n_x = n_L3 = 1,
    # sum_{c != k} n_c n_k = 36 - (4 + 4 + 1 + 1) = 26, o_xL3 + o_L3x = 2: alpha = 1 - 5 * 2 / 26 = 8/13
    assert result["label_alpha"] == approx(8 / 13)
    # irrelevant masks: e2 IoU 4/8; e1 and e3 (no marks on either side) skipped. No relevant marks.
    assert result["mask_iou"] == approx(0.5)
    assert result["mask_iou_relevant"] is None
    assert result["token_alpha"] is None and result["ranking_kendall_w"] is None
    ada, bob = result["annotators"]
    assert (ada["name"], ada["n"], ada["overlap"]) == ("ada", 4, 3)
    assert ada["per_hour"] == approx(4 * 3600 / 420)
    assert (bob["name"], bob["n"], bob["overlap"]) == ("bob", 3, 3)
    assert bob["per_hour"] is not None and bob["per_hour"] > 0
    # with one other, "the majority of the others" is bob's verdict: equal on e1 and e2, not e3 -> 2/3;
    # the consensus of two is a tie where they differ (e3 left out): 2/2
    assert (ada["agreement"], ada["consensus"]) == (approx(2 / 3), 1.0)
    assert (bob["agreement"], bob["consensus"]) == (approx(2 / 3), 1.0)
    json.dumps(result)  # JSON-ready


def test_agreement_service_with_no_overlap(demo):
    _allow(demo.project_id)
    [example] = services.examples(demo.project_id, split="train")[:1]
    services.save_feedback(example.id, "ada", demo.version_id, verdict="right_reason")
    result = services.agreement(demo.project_id)
    assert result["examples_with_overlap"] == 0
    assert all(result[k] is None for k in ("verdict_alpha", "label_alpha", "mask_iou", "token_alpha"))
    assert result["annotators"] == [
        {"name": "ada", "n": 1, "per_hour": None, "overlap": 0, "agreement": None, "consensus": None}
    ]


def test_agreement_service_on_texts_and_rankings():
    services.seed_demo(train=False)
    projects = {p.task: p for p in services.list_projects()}
    text, prompts = projects["text"], projects["ranking"]
    _allow(text.id)
    _allow(prompts.id)
    ds = services.dataset(text.id)
    e1, e2 = services.examples(text.id, split="train")[:2]
    n1, n2 = len(ds.words(e1.idx)), len(ds.words(e2.idx))
    assert n1 >= 2 and n2 >= 2
    services.save_feedback(e1.id, "ada", None, verdict="wrong_reason", irrelevant_words=[0])
    services.save_feedback(e1.id, "bob", None, verdict="wrong_reason", irrelevant_words=[0, 1])
    services.save_feedback(e2.id, "ada", None, verdict="wrong_reason", relevant_words=[1])
    services.save_feedback(e2.id, "bob", None, verdict="wrong_reason", relevant_words=[1])
    result = services.agreement(text.id)
    # words as units: e1 (1,1) (0,1) and n1-2 times (0,0); e2 (0,0) (2,2) and n2-2 times (0,0)
    # o_11 = 2, o_22 = 2, o_01 = o_10 = 1, o_00 = 2 (n1 + n2 - 3); n = 2 (n1 + n2)
    # n_0 = o_00 + 1, n_1 = 3, n_2 = 2: alpha = 1 - (n - 1) * 2 / (n^2 - n_0^2 - 3^2 - 2^2)
    n, n0 = 2 * (n1 + n2), 2 * (n1 + n2 - 3) + 1
    assert result["token_alpha"] == approx(1 - (n - 1) * 2 / (n**2 - n0**2 - 9 - 4))
    # irrelevant words: e1 {0} vs {0,1}: 2/3, e2 none on either side (skipped); relevant: e2 {1} vs {1}: 1
    assert result["token_f1"] == approx(2 / 3) and result["token_f1_relevant"] == approx(1.0)
    assert result["verdict_alpha"] is None  # "wrong reason" all round: alpha undefined
    assert result["mask_iou"] is None and result["ranking_kendall_w"] is None

    p1, p2 = ranking.next_prompts(prompts.id, n=2)
    ranking.save_ranking(p1, "ada", [1, 2, 3, 4])
    ranking.save_ranking(p1, "bob", [2, 1, 3, 4])
    ranking.save_ranking(p2, "ada", [1, 2, 3, 4])
    ranking.save_ranking(p2, "bob", [1, 2, 3, 4])
    result = services.agreement(prompts.id)
    # p1: R = (3, 3, 6, 8), mean 5, S = 4 + 4 + 1 + 9 = 18, W = 12 * 18 / (4 * 60) = 0.9; p2: W = 1
    assert result["ranking_kendall_w"] == approx(0.95)
    # tau p1: 5 concordant, 1 discordant of 6 pairs -> 2/3; p2: 1; mean 5/6
    assert result["ranking_tau"] == approx(5 / 6)
    assert result["verdict_alpha"] is None and result["label_alpha"] is None
    ada, bob = result["annotators"]
    assert ada["agreement"] == approx(5 / 6) and bob["agreement"] == approx(5 / 6)
    # consensus of p1: mean ranks (1.5, 1.5, 3, 4); tau-b with (1, 2, 3, 4): 5 / sqrt(6 * 5)
    assert ada["consensus"] == approx((5 / math.sqrt(30) + 1) / 2)


# --- the command line ---


def test_cli_agreement_json(demo):
    _judge_images(demo)
    result = CliRunner().invoke(app, ["agreement", "--project", str(demo.project_id), "--json"])
    assert result.exit_code == 0, result.output
    out = json.loads(result.output)
    for key in ("examples_with_overlap", "verdict_alpha", "label_alpha", "mask_iou", "token_alpha"):
        assert key in out
    assert "ranking_kendall_w" in out and out["ranking_kendall_w"] is None
    assert out["examples_with_overlap"] == 3 and out["verdict_alpha"] == approx(4 / 9)
    assert [set(a) >= {"name", "n", "per_hour", "agreement"} for a in out["annotators"]] == [True, True]
    assert [a["name"] for a in out["annotators"]] == ["ada", "bob"]
    plain = CliRunner().invoke(app, ["agreement", "--project", str(demo.project_id)])
    assert plain.exit_code == 0 and "verdict_alpha: 0.44" in plain.output and "name: bob" in plain.output


def test_cli_agreement_unknown_project():
    result = CliRunner().invoke(app, ["agreement", "--project", "99", "--json"])
    assert result.exit_code == 1 and "no project 99" in result.output
