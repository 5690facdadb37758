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

st.subheader("Decoy-MNIST from IDX files")
folder = st.text_input("Folder on the server with t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz]")
if folder and st.button("Create Decoy-MNIST project"):
    try:
        project = services.import_mnist(folder, name=f"Decoy-MNIST ({Path(folder).name})")
        st.success(f"Created project {project.name!r}.")
    except (FileNotFoundError, ValueError) as exc:
        st.error(str(exc))
