"""Prompt files: JSONL (optionally gzipped), one prompt a line, with the candidates to rank.

    {"prompt": "How do I ...?", "candidates": ["...", "...", "..."], "ranks": [2, 1, 3]}

``prompt`` (non-empty string) and ``candidates`` (at least two strings) are required; ``ranks`` (one
positive integer or null per candidate, 1 = best) is an optional reference ranking, e.g. to simulate an
annotator. Other fields are kept as they are. Blank lines are skipped.
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

DEMO_PROMPTS = Path(__file__).resolve().parents[1] / "data" / "demo_prompts.jsonl"
MAX_ERRORS = 20  # listed in one PromptFileError


class PromptFileError(ValueError):
    """A prompt file with problems; ``errors`` lists them as ``"path:line: what"``."""

    def __init__(self, path: Path, errors: list[str]):
        self.path, self.errors = path, errors
        shown = errors[:MAX_ERRORS] + ([f"... and {len(errors) - MAX_ERRORS} more"] if len(errors) > MAX_ERRORS else [])
        super().__init__(f"{path}: {len(errors)} problem(s)\n" + "\n".join(shown))


def _check(row: object) -> str | None:
    """What is wrong with one parsed line, or None."""
    if not isinstance(row, dict):
        return "expected a JSON object"
    prompt = row.get("prompt")
    if "prompt" not in row:
        return "missing field 'prompt'"
    if not isinstance(prompt, str) or not prompt.strip():
        return "'prompt' must be a non-empty string"
    if "candidates" not in row:
        return "missing field 'candidates'"
    candidates = row["candidates"]
    if not isinstance(candidates, list) or not all(isinstance(c, str) for c in candidates):
        return "'candidates' must be a list of strings"
    if len(candidates) < 2:
        return f"'candidates' needs at least 2 entries to rank, got {len(candidates)}"
    ranks = row.get("ranks")
    if ranks is not None:
        if not isinstance(ranks, list) or len(ranks) != len(candidates):
            return "'ranks' must be a list with one entry per candidate"
        if any(r is not None and (isinstance(r, bool) or not isinstance(r, int) or r < 1) for r in ranks):
            return "'ranks' entries must be positive integers or null"
    return None


def load_prompt_file(path: str | Path) -> list[dict]:
    """Rows ``{prompt, candidates, ...}`` of a prompt file; raises :class:`PromptFileError` listing
    every bad line by number (1-based), or FileNotFoundError."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    rows, errors = [], []
    with opener(path, "rt", encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                errors.append(f"{path}:{number}: not valid JSON ({exc.msg} at column {exc.colno})")
                continue
            problem = _check(row)
            if problem:
                errors.append(f"{path}:{number}: {problem}")
            else:
                rows.append(row)
    if errors:
        raise PromptFileError(path, errors)
    if not rows:
        raise PromptFileError(path, [f"{path}: no prompts"])
    return rows


def demo_prompts() -> list[dict]:
    """The bundled demo: 12 everyday prompts, 4 candidates each of clearly different quality, with a
    reference ranking."""
    return load_prompt_file(DEMO_PROMPTS)
