"""Write and read feedback rows as JSONL or Parquet; masks travel as nested lists or PNG bytes."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

FORMATS = ("jsonl", "parquet")


def mask_to_png(mask: np.ndarray) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.asarray(mask, dtype=np.uint8) * 255, mode="L").save(buffer, format="PNG")
    return buffer.getvalue()


def mask_from_png(data: bytes) -> np.ndarray:
    from PIL import Image

    with Image.open(io.BytesIO(data)) as im:
        return np.asarray(im.convert("L")) > 127


def write_rows(rows: list[dict], path: str | Path, fmt: str) -> None:
    path = Path(path)
    if fmt == "jsonl":
        with path.open("w", encoding="utf-8") as f:
            for row in rows:
                f.write(json.dumps(row, default=str) + "\n")
    elif fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), path)
    else:
        raise ValueError(f"unknown export format {fmt!r}; choose from {FORMATS}")


def read_rows(path: str | Path) -> list[dict]:
    path = Path(path)
    if path.suffix == ".parquet":
        import pyarrow.parquet as pq

        return pq.read_table(path).to_pylist()
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]
