"""Data: create projects from your own images or from MNIST IDX files."""

from __future__ import annotations

import tempfile
import zipfile
from pathlib import Path

import streamlit as st

from pages import ui
from xil import services

MAX_UPLOAD_MB = 200

ui.setup("Data")
st.title("Data")
st.subheader("Import an image folder")
st.caption(
    "A zip of a folder with one subfolder per class (e.g. `cats/…png`, `dogs/…png`). Every file is checked "
    "first; if any is unreadable, a different size or a class is empty, the report lists each and nothing is imported."
)
upload = st.file_uploader("Image folder (.zip)", type=["zip"])
name = st.text_input("Project name", placeholder="defaults to the zip's name")
resize = st.text_input("Resize all images to (HxW, optional)", placeholder="e.g. 28x28")
if upload is not None and st.button("Import", type="primary"):
    size = None
    if resize.strip():
        try:
            h, w = (int(v) for v in resize.lower().split("x"))
            size = (h, w)
        except ValueError:
            st.error(f"Resize takes HxW, like 28x28, not {resize!r}.")
            st.stop()
    if upload.size > MAX_UPLOAD_MB * 1024 * 1024:
        st.error(f"The zip is {upload.size / 1e6:.0f} MB; the limit is {MAX_UPLOAD_MB} MB.")
        st.stop()
    with tempfile.TemporaryDirectory() as tmp:
        try:
            with zipfile.ZipFile(upload) as archive:
                archive.extractall(tmp)
        except zipfile.BadZipFile:
            st.error("That file is not a readable zip archive.")
            st.stop()
        root = Path(tmp)
        entries = [p for p in root.iterdir() if not p.name.startswith((".", "__MACOSX"))]
        if len(entries) == 1 and entries[0].is_dir():  # the zip holds one top folder
            root = entries[0]
        project, report = services.import_image_folder(root, name=name.strip() or Path(upload.name).stem, resize=size)
    if project is None:
        st.error(f"{len(report.errors)} problem(s); nothing was imported.")
        st.code("\n".join(report.errors[:200]))
    else:
        st.success(
            f"Imported {report.n_images} images into project {project.name!r}. Train a first model on the Train page (method: plain)."
        )

st.subheader("Import a text file")
st.caption(
    "CSV, TSV, JSONL or Parquet (optionally gzipped) with a text column and a label column. Missing columns, "
    "empty rows, bytes that are not UTF-8 and duplicate ids are reported row by row, and nothing is imported "
    "until the file is clean. The first model (MiniLM, fine-tuned) is queued for the worker right away."
)
text_upload = st.file_uploader("Text file", type=["csv", "tsv", "jsonl", "json", "parquet", "gz"])
t1, t2, t3, t4 = st.columns(4)
text_column = t1.text_input("Text column", "text")
label_column = t2.text_input("Label column", "label")
id_column = t3.text_input("Id column (optional)", "")
text_name = t4.text_input("Project name", placeholder="defaults to the file's name", key="text_name")
if text_upload is not None and st.button("Import text", type="primary"):
    if text_upload.size > MAX_UPLOAD_MB * 1024 * 1024:
        st.error(f"The file is {text_upload.size / 1e6:.0f} MB; the limit is {MAX_UPLOAD_MB} MB.")
        st.stop()
    project, report = services.import_text(
        text_upload.name,
        data=text_upload.getvalue(),
        name=text_name.strip() or None,
        text_column=text_column.strip(),
        label_column=label_column.strip(),
        id_column=id_column.strip() or None,
    )
    if project is None:
        st.error(f"{len(report.errors)} problem(s); nothing was imported.")
        st.code("\n".join(report.errors[:200]))
    else:
        services.queue_first_text_model(project.id)
        st.success(
            f"Imported {len(report.dataset)} texts into project {project.name!r}; its first model is being trained "
            "(see the Train page)."
        )

st.subheader("Import prompts to rank")
st.caption(
    'JSONL, one prompt a line: `{"prompt": ..., "candidates": [...]}`; or prompts only, with a causal language '
    "model (local folder or hub id) that samples the candidates. Bad lines are listed by number; nothing is "
    "imported until the file is clean."
)
prompt_upload = st.file_uploader("Prompt file (.jsonl)", type=["jsonl", "gz"])
g1, g2, g3 = st.columns([2, 3, 1])
prompt_name = g1.text_input("Project name", placeholder="defaults to the file's name", key="prompt_name")
generator = g2.text_input("Generator (optional)", placeholder="path or hub id of a causal LM")
k = g3.number_input("Candidates", 2, 16, 4)
if prompt_upload is not None and st.button("Import prompts", type="primary"):
    from xil.ranking.generate import GenerationConfig

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / prompt_upload.name
        path.write_bytes(prompt_upload.getvalue())
        try:
            with st.spinner("Sampling candidates..." if generator.strip() else "Importing..."):
                project = services.import_prompts(
                    path,
                    name=prompt_name.strip() or None,
                    generator=generator.strip() or None,
                    generation=GenerationConfig(k=int(k)),
                )
            st.success(f"Created ranking project {project.name!r}: rank it on the Rank page.")
        except (OSError, ValueError) as exc:
            st.error(str(exc))

st.subheader("Decoy-MNIST from IDX files")
folder = st.text_input("Folder on the server with t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz]")
if folder and st.button("Create Decoy-MNIST project"):
    try:
        project = services.import_mnist(folder, name=f"Decoy-MNIST ({Path(folder).name})")
        st.success(f"Created project {project.name!r}.")
    except (FileNotFoundError, ValueError) as exc:
        st.error(str(exc))
