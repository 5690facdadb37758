"""The studio's RiT corpus through the CLI: add corrections, query, revised prompt."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from xil.cli import app

runner = CliRunner()


def test_rit_add_and_query_from_the_cli():
    added = runner.invoke(
        app,
        [
            "rit",
            "add",
            "Store cut basil in a glass of water, not in the fridge.",
            "--kind",
            "answer",
            "--prompt",
            "How should I store fresh basil?",
        ],
    )
    assert added.exit_code == 0, added.output
    added_id = int(added.output.split()[-1])
    hit = json.loads(runner.invoke(app, ["rit", "query", "What is the best way to keep basil fresh?", "--json"]).output)
    assert [r["id"] for r in hit["retrieved"]] == [added_id] and hit["retrieved"][0]["similarity"] > 0.6
    assert hit["prompt"] == (
        "Question: How should I store fresh basil? Answer: Store cut basil in a glass of water, not in the fridge. "
        "Question: What is the best way to keep basil fresh? Answer:"
    )
    miss = json.loads(runner.invoke(app, ["rit", "query", "How do I fix a flat bike tyre?", "--json"]).output)
    assert miss == {"prompt": "How do I fix a flat bike tyre?", "retrieved": []}
    strict = json.loads(
        runner.invoke(app, ["rit", "query", "How should I store fresh basil?", "--threshold", "1.01", "--json"]).output
    )
    assert strict["retrieved"] == []


def test_rit_add_rejects_an_answer_without_its_prompt():
    result = runner.invoke(app, ["rit", "add", "some answer", "--kind", "answer"])
    assert result.exit_code == 1 and "needs the prompt" in result.output
    result = runner.invoke(app, ["rit", "add", "   "])
    assert result.exit_code == 1
