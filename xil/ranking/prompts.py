"""Prompt files: JSONL (optionally gzipped), one prompt a line, with the candidates to rank.

    {"prompt": "How do I ...?", "candidates": ["...", "...", "..."], "ranks": [2, 1, 3]}

``prompt`` (non-empty string) and ``candidates`` (at least two strings) are required; ``ranks`` (one
positive integer or null per candidate, 1 = best) is an optional reference ranking, e.g. to simulate an
annotator. Other fields are kept as they are. Blank lines are skipped.

The file is UTF-8 and at most ``XIL_MAX_UPLOAD_MB`` (after gunzip); a prompt or candidate has at most
``XIL_MAX_TEXT_CHARS`` characters. Every line that breaks a rule is listed as ``path:line: what``.
"""

from __future__ import annotations

import gzip
import io
import json
import zlib
from pathlib import Path

from xil.limits import Limits, limits, megabytes

DEMO_PROMPTS = Path(__file__).resolve().parents[1] / "data" / "demo_prompts.jsonl"
MAX_ERRORS = 20  # listed in one PromptFileError


class PromptFileError(ValueError):
    """A prompt file with problems; ``errors`` lists them as ``"path:line: what"``."""

    def __init__(self, path: Path, errors: list[str]):
        self.path, self.errors = path, errors
        shown = errors[:MAX_ERRORS] + ([f"... and {len(errors) - MAX_ERRORS} more"] if len(errors) > MAX_ERRORS else [])
        super().__init__(f"{path}: {len(errors)} problem(s)\n" + "\n".join(shown))


def read_lines(path: Path, caps: Limits) -> list[tuple[int, str]]:
    """``(number, text, problem)`` for each non-blank line of a (gzipped) text file, numbers 1-based;
    ``problem`` says why a line whose bytes are not UTF-8 could not be read (the usual cause: a file
    saved as Latin-1 or Windows-1252), so a caller lists it with the others. PromptFileError for a
    file over the size cap."""
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    size = path.stat().st_size
    if size > caps.upload_bytes:
        raise PromptFileError(
            path, [f"{path}: {megabytes(size)}, more than the {megabytes(caps.upload_bytes)} {_SIZE_RULE}"]
        )
    data = path.read_bytes()
    if path.suffix == ".gz":
        try:
            with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
                data = f.read(caps.upload_bytes + 1)  # never more than the cap in memory
        except (OSError, EOFError, zlib.error) as exc:
            raise PromptFileError(path, [f"{path}: not a readable gzip file ({exc})"]) from None
        if len(data) > caps.upload_bytes:
            raise PromptFileError(
                path, [f"{path}: unpacks to more than the {megabytes(caps.upload_bytes)} {_SIZE_RULE}"]
            )
    lines: list[tuple[int, str, str | None]] = []
    for number, raw in enumerate(data.splitlines(), start=1):
        try:
            line = raw.decode("utf-8-sig" if number == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            problem = (
                f"bytes that are not UTF-8 at column {exc.start + 1} ({raw[exc.start : exc.start + 1]!r}); "
                "save the file as UTF-8 (a Latin-1 file: iconv -f latin1 -t utf-8 IN > OUT)"
            )
            lines.append((number, "", problem))
            continue
        if line.strip():
            lines.append((number, line, None))
    return lines


_SIZE_RULE = "a prompt file may have (XIL_MAX_UPLOAD_MB)"


def _too_long(text: str, what: str, caps: Limits) -> str | None:
    if len(text) > caps.text_chars:
        return f"{what} has {len(text):,} characters, more than the {caps.text_chars:,} a text may have (XIL_MAX_TEXT_CHARS)"
    return None


def _check(row: object, caps: Limits) -> str | None:
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
    texts = [("'prompt'", prompt)] + [(f"candidate {i}", c) for i, c in enumerate(candidates, start=1)]
    return next((problem for what, text in texts if (problem := _too_long(text, what, caps))), None)


def load_prompt_file(path: str | Path) -> list[dict]:
    """Rows ``{prompt, candidates, ...}`` of a prompt file; raises :class:`PromptFileError` listing
    every bad line by number (1-based), or FileNotFoundError."""
    path, caps = Path(path), limits()
    rows, errors = [], []
    for number, line, problem in read_lines(path, caps):
        if problem:
            errors.append(f"{path}:{number}: {problem}")
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"{path}:{number}: not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        problem = _check(row, caps)
        if problem:
            errors.append(f"{path}:{number}: {problem}")
        else:
            rows.append(row)
    if errors:
        raise PromptFileError(path, errors)
    if not rows:
        raise PromptFileError(path, [f"{path}: no prompts"])
    return rows


def load_prompts_only(path: str | Path) -> list[str]:
    """The prompts of a file for a generator to answer: a JSON object with a ``prompt`` string, or a
    plain line, per line. PromptFileError lists every bad line, as :func:`load_prompt_file` does."""
    path, caps = Path(path), limits()
    prompts, errors = [], []
    for number, line, problem in read_lines(path, caps):
        if problem:
            errors.append(f"{path}:{number}: {problem}")
            continue
        try:
            prompt = json.loads(line).get("prompt") if line.lstrip().startswith("{") else line.strip()
        except (json.JSONDecodeError, AttributeError):
            prompt = None
        if not isinstance(prompt, str) or not prompt.strip():
            errors.append(f"{path}:{number}: expected a JSON object with a 'prompt' string, or a plain line")
        elif problem := _too_long(prompt, "the prompt", caps):
            errors.append(f"{path}:{number}: {problem}")
        else:
            prompts.append(prompt.strip())
    if errors or not prompts:
        raise PromptFileError(path, errors or [f"{path}: no prompts"])
    return prompts


def demo_prompts() -> list[dict]:
    """The bundled demo: 12 everyday prompts, 4 candidates each of clearly different quality, with a
    reference ranking."""
    return load_prompt_file(DEMO_PROMPTS)
