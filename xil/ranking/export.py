"""Rankings as a preference dataset in TRL's format.

Each pair becomes one row ``{"prompt", "chosen", "rejected"}``: TRL's "standard" preference format
with an explicit prompt, which ``RewardTrainer`` and ``DPOTrainer`` read (load it with
``datasets.load_dataset("json" | "parquet", data_files=path)``). TRL ends every text with the
tokenizer's EOS token: for a BERT-style reward backbone, which names none, set
``tokenizer.eos_token = tokenizer.sep_token`` first (tests/test_ranking.py trains two steps that way).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from xil.export.writers import read_rows, write_rows

COLUMNS = ("prompt", "chosen", "rejected")


def to_preference_rows(groups: Sequence[dict]) -> list[dict]:
    """One row per pair of each group ``{prompt, candidates, pairs: [(chosen, rejected)]}``, in order."""
    rows = []
    for group in groups:
        candidates = group["candidates"]
        for i, j in group["pairs"]:
            rows.append({"prompt": group["prompt"], "chosen": candidates[i], "rejected": candidates[j]})
    return rows


def _format(path: Path, fmt: str | None) -> str:
    if fmt is not None:
        return fmt
    if path.suffix == ".parquet":
        return "parquet"
    if path.suffix in (".jsonl", ".json"):
        return "jsonl"
    raise ValueError(f"{path}: cannot tell the format from the suffix; use .jsonl or .parquet or pass fmt")


def write_preference_dataset(rows: Sequence[dict], path: str | Path, fmt: str | None = None) -> Path:
    """Write rows as JSONL (one object a line) or Parquet (three string columns); the format follows
    the suffix (``.jsonl``/``.json``, ``.parquet``) unless ``fmt`` is given."""
    path = Path(path)
    for n, row in enumerate(rows):
        if set(row) != set(COLUMNS) or not all(isinstance(row[c], str) for c in COLUMNS):
            raise ValueError(f"row {n}: a preference row has exactly the string fields {COLUMNS}")
    path.parent.mkdir(parents=True, exist_ok=True)
    write_rows([{c: row[c] for c in COLUMNS} for row in rows], path, _format(path, fmt))
    return path


def read_preference_dataset(path: str | Path) -> list[dict]:
    """Rows back from a file written by :func:`write_preference_dataset`."""
    return read_rows(path)
