"""Feedback dataset writers and readers (JSONL, Parquet; masks as arrays or PNG files)."""

from xil.export.writers import mask_from_png, mask_to_png, read_rows, write_rows

__all__ = ["mask_from_png", "mask_to_png", "read_rows", "write_rows"]
