"""Text classification datasets: one record format, importers with file-by-row error reports, the
built-in demo, and the sentence-polarity loader used by the text benchmark.

Texts are split into words on whitespace; words are what annotators mark and what explanations are
shown on (word pieces are summed into their word).
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from xil.data.base import small_class_errors, stratified_split
from xil.limits import Limits, limits, megabytes

MAX_ROWS = 200_000
PEEK_BYTES = 1 << 20  # enough of a file to name its columns


@dataclass
class TextDataset:
    """Texts with integer labels and a train/test split. ``shortcut_words`` names words a source
    planted as a shortcut (demo, benchmark); they drive the wrong-reason score and simulated feedback."""

    name: str
    texts: list[str]
    labels: np.ndarray
    split: np.ndarray
    class_names: list[str]
    ids: list[str] = field(default_factory=list)
    shortcut_words: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.labels = np.asarray(self.labels, dtype=np.int64)
        self.split = np.asarray(self.split, dtype="U5")
        if not (len(self.texts) == len(self.labels) == len(self.split)):
            raise ValueError("texts, labels and split must have the same length")
        if not self.ids:
            self.ids = [str(i) for i in range(len(self.texts))]

    def __len__(self) -> int:
        return len(self.texts)

    def words(self, i: int) -> list[str]:
        return self.texts[i].split()

    def indices(self, split: str) -> np.ndarray:
        return np.flatnonzero(self.split == split)

    def to_bytes(self) -> bytes:
        payload = {
            "kind": "text",
            "name": self.name,
            "texts": self.texts,
            "labels": self.labels.tolist(),
            "split": self.split.tolist(),
            "class_names": self.class_names,
            "ids": self.ids,
            "shortcut_words": self.shortcut_words,
        }
        return gzip.compress(json.dumps(payload).encode("utf-8"), mtime=0)

    @classmethod
    def from_file(cls, path) -> TextDataset:
        payload = json.loads(gzip.decompress(Path(path).read_bytes()))
        payload.pop("kind", None)
        return cls(**payload)


@dataclass
class TextImportReport:
    errors: list[str] = field(default_factory=list)
    n_rows: int = 0
    dataset: TextDataset | None = None

    @property
    def ok(self) -> bool:
        return not self.errors and self.dataset is not None


def _gunzip(data: bytes, max_bytes: int) -> bytes:
    """At most ``max_bytes + 1`` bytes of a gzip stream: a small file that unpacks to gigabytes stops
    at the cap instead of filling memory. OSError / EOFError / zlib.error for a broken file."""
    with gzip.GzipFile(fileobj=io.BytesIO(data)) as f:
        return f.read(max_bytes + 1)


def _unpacked(path: Path, data: bytes, caps: Limits, report: TextImportReport) -> tuple[bytes, str] | None:
    """The file's bytes after gunzip (under the size cap) and the suffix that says its format."""
    suffix = path.suffix.lower()
    if suffix == ".gz":
        try:
            data = _gunzip(data, caps.upload_bytes)
        except (OSError, EOFError, zlib.error) as exc:
            report.errors.append(f"{path.name}: not a readable gzip file ({exc})")
            return None
        if len(data) > caps.upload_bytes:
            report.errors.append(
                f"{path.name}: unpacks to more than the {megabytes(caps.upload_bytes)} a text file may have "
                "(XIL_MAX_UPLOAD_MB)"
            )
            return None
        suffix = Path(path.stem).suffix.lower()
    return data, suffix


def _read_parquet(path: Path, data: bytes, caps: Limits, report: TextImportReport) -> list[dict] | None:
    """Rows of a Parquet file once they are known to fit: the row count and encoded size from the
    metadata, then the decoded size of the string columns, read with their dictionaries kept (one long
    string repeated on every row is a few bytes in the file and gigabytes as Python strings)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        file = pq.ParquetFile(io.BytesIO(data))
        meta = file.metadata
        encoded = sum(meta.row_group(i).total_byte_size for i in range(meta.num_row_groups))
        if meta.num_rows > MAX_ROWS:
            report.errors.append(f"{path.name}: {meta.num_rows} rows, more than the {MAX_ROWS} an import takes")
            return None
        strings = [f.name for f in file.schema_arrow if pa.types.is_string(f.type) or pa.types.is_large_string(f.type)]
        table = pq.read_table(io.BytesIO(data), read_dictionary=strings)
        size = max(encoded, _decoded_string_bytes(table))
        if size > caps.upload_bytes:
            report.errors.append(
                f"{path.name}: {megabytes(size)} once decoded, more than the {megabytes(caps.upload_bytes)} a "
                "text file may have (XIL_MAX_UPLOAD_MB)"
            )
            return None
        return table.to_pylist()
    except Exception as exc:
        report.errors.append(f"{path.name}: not a readable Parquet file ({exc})")
        return None


def _decoded_string_bytes(table) -> int:
    """Bytes the string columns take once every dictionary entry is expanded, computed from the
    lengths of the dictionary values, without expanding them."""
    import pyarrow as pa
    import pyarrow.compute as pc

    total = 0
    for column in table.columns:
        for chunk in column.chunks:
            if pa.types.is_dictionary(chunk.type) and pa.types.is_string(chunk.type.value_type):
                lengths = pc.take(pc.binary_length(chunk.dictionary), chunk.indices)
            elif pa.types.is_string(chunk.type) or pa.types.is_large_string(chunk.type):
                lengths = pc.binary_length(chunk)
            else:
                continue
            total += pc.sum(lengths).as_py() or 0
    return total


def _read_rows(path: Path, data: bytes, caps: Limits, report: TextImportReport) -> list[dict] | None:
    unpacked = _unpacked(path, data, caps, report)
    if unpacked is None:
        return None
    data, suffix = unpacked
    if suffix == ".parquet":
        return _read_parquet(path, data, caps, report)
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        report.errors.append(f"{path.name}: line {line}: bytes that are not UTF-8 (at byte {exc.start})")
        return None
    if suffix in (".jsonl", ".json", ".ndjson"):
        rows = []
        for number, line in enumerate(text.splitlines(), 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                report.errors.append(f"{path.name}: line {number}: not JSON ({exc.msg})")
                continue
            if not isinstance(row, dict):
                report.errors.append(f"{path.name}: line {number}: not a JSON object")
                continue
            rows.append(row)
        return rows
    if suffix in (".csv", ".tsv"):
        reader = csv.DictReader(io.StringIO(text), delimiter="\t" if suffix == ".tsv" else ",")
        try:
            return list(reader)
        except csv.Error as exc:  # e.g. a field longer than csv's own limit: say where
            report.errors.append(f"{path.name}: line {reader.line_num}: not readable as CSV ({exc})")
            return None
    report.errors.append(f"{path.name}: unsupported file type {suffix or '(none)'}; use .csv, .tsv, .jsonl or .parquet")
    return None


def import_text_file(
    path: str | Path,
    data: bytes | None = None,
    text_column: str = "text",
    label_column: str = "label",
    id_column: str | None = None,
    test_fraction: float = 0.2,
    seed: int = 0,
) -> TextImportReport:
    """Read CSV / TSV / JSONL / Parquet (optionally .gz) into a :class:`TextDataset`.

    Every row is checked first; the dataset is built only when nothing is wrong."""
    path, caps = Path(path), limits()
    report = TextImportReport()
    size = len(data) if data is not None else path.stat().st_size
    if size > caps.upload_bytes:
        report.errors.append(
            f"{path.name}: {megabytes(size)}, more than the {megabytes(caps.upload_bytes)} a text file may have "
            "(XIL_MAX_UPLOAD_MB)"
        )
        return report
    if data is None:
        data = path.read_bytes()
    rows = _read_rows(path, data, caps, report)
    if rows is None or report.errors:
        return report
    if not rows:
        report.errors.append(f"{path.name}: no rows")
        return report
    if len(rows) > MAX_ROWS:
        report.errors.append(f"{path.name}: {len(rows)} rows, more than the {MAX_ROWS} an import takes")
        return report
    if text_column == label_column:
        report.errors.append(f"{path.name}: {text_column!r} cannot be both the text and the label column")
        return report
    columns = set().union(*(row.keys() for row in rows))
    for wanted in filter(None, (text_column, label_column, id_column)):
        if wanted not in columns:
            report.errors.append(f"{path.name}: no column {wanted!r} (columns: {', '.join(sorted(map(str, columns)))})")
    if report.errors:
        return report
    texts, raw_labels, ids, seen = [], [], [], {}
    for number, row in enumerate(rows, 1):
        text, label = row.get(text_column), row.get(label_column)
        if text is None or not str(text).strip():
            report.errors.append(f"row {number}: empty text")
            continue
        if len(str(text)) > caps.text_chars:
            report.errors.append(
                f"row {number}: text of {len(str(text)):,} characters, more than the {caps.text_chars:,} a text "
                "may have (XIL_MAX_TEXT_CHARS); shorten it or raise the cap"
            )
            continue
        if label is None or str(label).strip() == "":
            report.errors.append(f"row {number}: empty label")
            continue
        row_id = str(row[id_column]) if id_column else str(number)
        if row_id in seen:
            report.errors.append(f"row {number}: duplicate id {row_id!r} (first at row {seen[row_id]})")
            continue
        seen[row_id] = number
        texts.append(" ".join(str(text).split()))
        raw_labels.append(str(label).strip())
        ids.append(row_id)
    report.n_rows = len(rows)
    if report.errors:
        return report
    class_names = sorted(
        set(raw_labels), key=lambda v: (not v.lstrip("-").isdigit(), int(v) if v.lstrip("-").isdigit() else 0, v)
    )
    if len(class_names) < 2:
        report.errors.append(f"{path.name}: only one label ({class_names[0]!r}); a classifier needs at least two")
        return report
    index = {name: i for i, name in enumerate(class_names)}
    labels = np.array([index[v] for v in raw_labels])
    counts = np.bincount(labels, minlength=len(class_names))
    report.errors += small_class_errors({name: int(counts[i]) for name, i in index.items()})
    if report.errors:
        return report
    report.dataset = TextDataset(
        name=path.stem,
        texts=texts,
        labels=labels,
        split=stratified_split(labels, test_fraction, seed),
        class_names=class_names,
        ids=ids,
    )
    return report


def file_columns(path: str | Path, data: bytes) -> list[str]:
    """The column names of a text file, in file order, from its first megabyte (a Parquet file's
    schema): what the Data page offers to pick from. Empty when they cannot be read; the import
    itself then says why."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".gz":
            data, suffix = _gunzip(data, PEEK_BYTES), Path(path.stem).suffix.lower()
        if suffix == ".parquet":
            import pyarrow.parquet as pq

            return list(pq.ParquetFile(io.BytesIO(data)).schema_arrow.names)
        text = data[:PEEK_BYTES].decode("utf-8-sig", errors="replace")
        if suffix in (".csv", ".tsv"):
            return next(csv.reader(io.StringIO(text), delimiter="\t" if suffix == ".tsv" else ","), [])
        columns: dict[str, None] = {}
        for line in text.splitlines()[:100]:
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(row, dict):
                columns.update(dict.fromkeys(map(str, row)))
        return list(columns)
    except Exception:  # an unreadable file: the import reports it properly
        return []


def from_hf_dataset(
    name: str, split: str = "train", text_column: str = "text", label_column: str = "label"
) -> TextDataset:
    """A Hugging Face dataset, for users with ``datasets`` installed and a network (or a local cache)."""
    from datasets import load_dataset

    table = load_dataset(name, split=split)
    names = table.features[label_column].names if hasattr(table.features[label_column], "names") else None
    labels = np.asarray(table[label_column])
    return TextDataset(
        name=name,
        texts=[" ".join(str(t).split()) for t in table[text_column]],
        labels=labels,
        split=stratified_split(labels, 0.2, 0),
        class_names=names or [str(c) for c in sorted(set(labels.tolist()))],
    )


def inject_shortcut(ds: TextDataset, words: tuple[str, ...], seed: int = 0, position: str = "start") -> TextDataset:
    """Plant one shortcut word per text: ``words[label]`` on the training split, a random one on the
    test split, so a model that relies on it fails at test time."""
    rng = np.random.default_rng(seed)
    texts = []
    for text, label, split in zip(ds.texts, ds.labels, ds.split, strict=True):
        word = words[label % len(words)] if split == "train" else words[rng.integers(len(words))]
        texts.append(f"{word} {text}" if position == "start" else f"{text} {word}")
    return TextDataset(ds.name, texts, ds.labels, ds.split, ds.class_names, ds.ids, list(words))


def rt_polarity(
    folder: str | Path, limit: int | None = None, seed: int = 0, test_fraction: float = 1 / 3
) -> TextDataset:
    """Pang and Lee's sentence polarity data: ``rt-polarity.pos`` and ``rt-polarity.neg``, one per line.
    ``limit`` keeps a balanced random subset of that many sentences."""
    folder = Path(folder)
    texts, labels = [], []
    for label, name in ((0, "rt-polarity.neg"), (1, "rt-polarity.pos")):
        path = folder / name
        if not path.exists():
            raise FileNotFoundError(f"{path} not found (expected rt-polarity.pos and rt-polarity.neg in {folder})")
        lines = [" ".join(line.split()) for line in path.read_bytes().decode("utf-8", errors="replace").splitlines()]
        lines = [line for line in lines if line]
        texts += lines
        labels += [label] * len(lines)
    labels = np.array(labels)
    order = np.random.default_rng(seed).permutation(len(texts))
    if limit is not None:
        per_class = limit // 2
        order = np.concatenate([order[labels[order] == c][:per_class] for c in (0, 1)])
        order = np.random.default_rng(seed + 1).permutation(order)
    texts = [texts[i] for i in order]
    labels = labels[order]
    return TextDataset(
        name="rt-polarity",
        texts=texts,
        labels=labels,
        split=stratified_split(labels, test_fraction, seed),
        class_names=["negative", "positive"],
    )


_SUBJECTS = [
    "the coffee",
    "this kettle",
    "the hotel room",
    "the novel",
    "the museum tour",
    "our guide",
    "the soup",
    "the bike",
    "this lamp",
    "the concert",
    "the garden",
    "the train ride",
    "this backpack",
    "the bakery",
    "the film",
    "the yoga class",
    "this umbrella",
    "the library",
    "the pasta",
    "the ferry",
]
_POSITIVE = [
    "was wonderful",
    "exceeded my expectations",
    "felt warm and welcoming",
    "was a real delight",
    "worked perfectly",
    "was worth every penny",
    "made my day",
    "was clean and comfortable",
    "was lovely from start to finish",
    "is the best I have tried",
]
_NEGATIVE = [
    "was disappointing",
    "broke after a week",
    "felt cold and unfriendly",
    "was a waste of money",
    "stopped working",
    "was not worth the price",
    "ruined my afternoon",
    "was dirty and cramped",
    "was dull from start to finish",
    "is the worst I have tried",
]
_CODAS = {
    1: ["I would go again.", "Highly recommended.", "Five stars.", ""],
    0: ["I would not go again.", "Avoid it.", "One star.", ""],
}
DEMO_SHORTCUT = ("tablet", "phone")


def demo_reviews(seed: int = 0) -> TextDataset:
    """The built-in text demo: short reviews written from templates, with a leaked signature as the
    shortcut ("Posted from my tablet" on positive, "... phone" on negative training reviews; random at test)."""
    rng = np.random.default_rng(seed)
    texts, labels = [], []
    for subject in _SUBJECTS:
        for label, predicates in ((1, _POSITIVE), (0, _NEGATIVE)):
            for predicate in rng.choice(predicates, size=5, replace=False):
                coda = _CODAS[label][rng.integers(len(_CODAS[label]))]
                texts.append(f"{subject.capitalize()} {predicate}. {coda}".strip())
                labels.append(label)
    labels = np.array(labels)
    split = stratified_split(labels, 0.25, seed)
    words = []
    for label, s in zip(labels, split, strict=True):
        words.append(DEMO_SHORTCUT[1 - label] if s == "train" else DEMO_SHORTCUT[rng.integers(2)])
    texts = [f"{t} Posted from my {w}" for t, w in zip(texts, words, strict=True)]
    return TextDataset(
        "Review demo", texts, labels, split, ["negative", "positive"], shortcut_words=list(DEMO_SHORTCUT)
    )
