"""RiT retrieval benchmark: does a paraphrase of a corrected prompt find its correction, and does an
unrelated prompt find nothing?

A built-in corpus of 12 corrections (8 corrected answers, keyed by their prompt, and 4 stated rules),
one paraphrased query per correction (should retrieve it), 12 unrelated queries and 6 near misses
(same topic as a correction, another question) that should retrieve nothing. With ``k`` = 3 and a
cosine threshold, counted over all 30 queries:

    precision = right retrievals / all retrievals,  recall = right retrievals / 12

where a retrieval is right when it is the query's own correction. Also reported: ``false_hits`` (any
retrieval for an unrelated query or near miss, or a wrong one for a paraphrase), the lowest
paraphrase-to-own-correction and the highest unrelated and near-miss similarities, and with ``sweep``
the counts at several thresholds from one embedding pass.

    python -m xil.bench.rit --threshold 0.6 --sweep 0.4,0.5,0.6,0.7,0.8
"""

from __future__ import annotations

import argparse
import json

import numpy as np

from xil.ranking.revision import RevisionIndex

# (kind, correction text, source prompt for answers, paraphrased query)
CORPUS: list[tuple[str, str, str | None, str]] = [
    (
        "answer",
        "Cover the eggs with cold water, bring to a boil, then rest them covered off the heat for 10 to 12 minutes and cool them in ice water.",
        "How do I hard-boil an egg?",
        "What's the right way to make hard boiled eggs?",
    ),
    (
        "answer",
        "Rinse the rice, use 1.5 cups of water per cup, simmer covered on low for 15 minutes and let it rest 10 minutes.",
        "How do I cook rice on the stove?",
        "What is the method for cooking rice in a pot on the hob?",
    ),
    (
        "answer",
        "Shift your sleep towards the destination's time before leaving, get morning daylight on arrival and avoid long naps.",
        "How can I avoid jet lag?",
        "Any tips for getting over jet lag after a long flight?",
    ),
    (
        "answer",
        "Use spaced repetition flashcards and review new words the next day and then at growing intervals.",
        "What is the best way to memorise vocabulary?",
        "How should I learn new words in a foreign language so I remember them?",
    ),
    (
        "answer",
        "Water deeply at the base two or three times a week, when the top few centimetres of soil are dry.",
        "How often should I water tomato plants?",
        "How frequently do tomatoes need watering?",
    ),
    (
        "answer",
        "Rinse the stain from the back with cold water, work in liquid detergent, wash, and do not tumble dry until it is gone.",
        "How do I remove a coffee stain from a shirt?",
        "How can I get coffee out of my shirt?",
    ),
    (
        "answer",
        "Use a passphrase of four or more random words, a different one per site, kept in a password manager.",
        "How do I create a strong password?",
        "What makes a good secure password?",
    ),
    (
        "answer",
        "Start with run-walk intervals three times a week at a conversational pace and add running time slowly.",
        "How should a beginner start running?",
        "I'm new to running, how do I begin?",
    ),
    ("rule", "Never recommend giving honey to babies under one year old.", None, "Can I give honey to my baby?"),
    (
        "rule",
        "Do not advise mixing bleach with ammonia or other cleaning products; the fumes are toxic.",
        None,
        "Is it okay to mix bleach and ammonia for cleaning?",
    ),
    (
        "rule",
        "Always tell people to check the airline's liquid limits before packing toiletries in hand luggage.",
        None,
        "What liquid limits apply to toiletries in hand luggage on a plane?",
    ),
    ("rule", "Dogs must never be given chocolate, grapes or raisins.", None, "Can dogs eat chocolate or grapes?"),
]

UNRELATED = [
    "Who painted the Mona Lisa?",
    "What is the capital of Australia?",
    "Explain how a bicycle gear system works.",
    "Recommend a good science fiction novel.",
    "How do I sort a list in Python?",
    "What causes the seasons on Earth?",
    "Write a short poem about the sea.",
    "How many players are on a football team?",
    "What is the difference between a virus and a bacterium?",
    "How do I change a flat tyre on a car?",
    "What year did the first moon landing happen?",
    "How do I tune a guitar?",
]

# same topic as a correction, a different question: should retrieve nothing either (the hard cases)
NEAR_MISS = [
    "How do I make fluffy scrambled eggs?",
    "How long does cooked rice keep in the fridge?",
    "When should I plant tomato seeds?",
    "How do I get red wine out of a carpet?",
    "How do I reset a forgotten email password?",
    "Is honey healthier than sugar for adults?",
]


def _counts(sims: np.ndarray, relevant: list[int | None], threshold: float, k: int) -> dict:
    right = retrieved = 0
    for row, target in zip(sims, relevant, strict=True):
        hits = [n for n in np.argsort(-row, kind="stable")[:k] if row[n] >= threshold]
        retrieved += len(hits)
        right += sum(1 for n in hits if n == target)
    n_relevant = sum(1 for t in relevant if t is not None)
    return {
        "threshold": threshold,
        "precision": round(right / retrieved, 4) if retrieved else 1.0,  # nothing retrieved: no wrong ones
        "recall": round(right / n_relevant, 4),
        "false_hits": retrieved - right,
    }


def run(threshold: float = 0.6, k: int = 3, encoder: str = "transformers", sweep: tuple[float, ...] = ()) -> dict:
    """Precision and recall of :class:`RevisionIndex` retrieval on the built-in corpus."""
    index = RevisionIndex(encoder_kind=encoder)
    for kind, text, source, _ in CORPUS:
        index.add(text, kind, source)
    queries = [q for *_, q in CORPUS] + UNRELATED + NEAR_MISS
    relevant: list[int | None] = list(range(len(CORPUS))) + [None] * (len(UNRELATED) + len(NEAR_MISS))
    sims = index.encoder.encode(queries) @ index.embeddings.T  # same cosine as RevisionIndex.query
    paraphrase = sims[: len(CORPUS)]
    result = {
        **_counts(sims, relevant, threshold, k),
        "k": k,
        "encoder": encoder,
        "n_corpus": len(CORPUS),
        "n_queries": len(queries),
        "paraphrase_sim_min": round(float(paraphrase[np.arange(len(CORPUS)), relevant[: len(CORPUS)]].min()), 4),
        "unrelated_sim_max": round(float(sims[len(CORPUS) : len(CORPUS) + len(UNRELATED)].max()), 4),
        "near_miss_sim_max": round(float(sims[len(CORPUS) + len(UNRELATED) :].max()), 4),
    }
    if sweep:
        result["sweep"] = [_counts(sims, relevant, t, k) for t in sweep]
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--threshold", type=float, default=0.6)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--encoder", default="transformers", choices=("transformers", "sentence-transformers"))
    parser.add_argument("--sweep", default="", help="comma-separated thresholds")
    args = parser.parse_args(argv)
    sweep = tuple(float(t) for t in args.sweep.split(",") if t)
    print(json.dumps(run(args.threshold, args.k, args.encoder, sweep), indent=2))


if __name__ == "__main__":
    main()
