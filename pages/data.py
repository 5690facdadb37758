"""Data: create projects from your own images, texts or prompts, or from MNIST IDX files.

Every import goes through the same checked service the command line uses, under the caps of
:mod:`xil.limits`. A successful import selects the new project and leaves its message on the page
until the next import (a rerun is needed for the sidebar to list the project).
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import streamlit as st

from pages import ui
from xil import services

MAX_LISTED = 200  # problems shown on the page; the count says how many there are

ui.setup("Data")
ui.require_permission("import")
st.title("Data")
try:
    caps = services.upload_limits()
except ValueError as exc:  # a bad XIL_MAX_* setting: the operator's to fix, say which
    st.error(ui.md(str(exc)))
    st.stop()


def imported(project_id: int, message: str) -> None:
    """Select the new project, keep ``message`` (Markdown, user text escaped) and rerun so the
    sidebar lists the project."""
    st.session_state["project_id"] = project_id
    for key in ("example_id", "back_trail"):  # they belonged to the project selected before
        st.session_state.pop(key, None)
    st.session_state["data_message"] = message
    st.session_state["data_message_new"] = True
    st.rerun()


def refused(summary: str, errors: list[str]) -> None:
    st.error(ui.md(summary))
    more = [f"... and {len(errors) - MAX_LISTED} more"] if len(errors) > MAX_LISTED else []
    st.code("\n".join(errors[:MAX_LISTED] + more), language=None)


banner = st.empty()  # the last import's message, until the next import starts


def start_import() -> None:
    st.session_state.pop("data_message", None)
    banner.empty()


if message := st.session_state.get("data_message"):
    banner.success(message)
    if st.session_state.pop("data_message_new", False):  # the button that made it may be far below
        st.toast(message)
st.caption(
    f"Caps: an upload up to {caps.upload_mb:g} MB, a zip unpacking to {caps.archive_mb:g} MB, "
    f"{caps.image_pixels:,} pixels per image, {caps.dataset_mb:g} MB per image dataset in memory and "
    f"{caps.text_chars:,} characters per text. The operator raises them with the XIL_MAX_* settings (README)."
)

st.subheader("Import an image folder")
st.caption(
    "A zip of a folder with one subfolder per class (e.g. `cats/…png`, `dogs/…png`). Every file is checked "
    "first; if any is unreadable, too large or a different size, or a class has fewer than two images, the report "
    "lists each and nothing is imported. A first model (plain MLP) is queued for the worker right away."
)
upload = st.file_uploader("Image folder (.zip)", type=["zip"])
name = st.text_input("Project name", placeholder="defaults to the zip's name")
resize = st.text_input("Resize all images to (HxW, optional)", placeholder="e.g. 28x28")
if upload is not None and st.button("Import", type="primary"):
    start_import()
    size = None
    if resize.strip():
        try:
            h, w = (int(v) for v in resize.lower().split("x"))
            size = (h, w)
        except ValueError:
            st.error(ui.md(f"Resize takes HxW, like 28x28, not {resize!r}."))
            st.stop()
    with st.spinner("Checking every image..."):
        project, report = services.import_image_folder(
            upload, name=name.strip() or Path(upload.name).stem, resize=size, actor=ui.actor()
        )
    if project is None:
        refused(f"{len(report.errors)} problem(s); nothing was imported.", report.errors)
    else:
        services.queue_first_model(project.id)
        imported(
            project.id,
            f"Imported {report.n_images} images into project **{ui.md(project.name)}** (now selected); its first "
            "model is being trained (see the Train page).",
        )

st.subheader("Import a text file")
st.caption(
    "CSV, TSV, JSONL or Parquet (optionally gzipped) with a text column and a label column. Missing columns, "
    "empty or over-long rows, bytes that are not UTF-8, duplicate ids and labels with a single text are reported, "
    "and nothing is imported until the file is clean. The first model (MiniLM, fine-tuned) is queued for the worker right away."
)
text_upload = st.file_uploader("Text file", type=["csv", "tsv", "jsonl", "json", "parquet", "gz"])


def guess(columns: list[str], wanted: tuple[str, ...], fallback: int) -> int:
    """Index of the first column named like one of ``wanted`` (any case), else ``fallback``."""
    lowered = [c.lower() for c in columns]
    return next((lowered.index(w) for w in wanted if w in lowered), min(fallback, len(columns) - 1))


if text_upload is not None:
    key = text_upload.file_id  # a new file gets fresh column pickers; its columns are read once
    if f"columns-{key}" not in st.session_state:
        st.session_state[f"columns-{key}"] = services.text_file_columns(text_upload.name, text_upload.getvalue())
    columns = st.session_state[f"columns-{key}"]
    t1, t2, t3, t4 = st.columns(4)
    if columns:
        text_column = t1.selectbox(
            "Text column", columns, guess(columns, ("text", "sentence", "review", "content"), 0), key=f"tc-{key}"
        )
        label_column = t2.selectbox(
            "Label column", columns, guess(columns, ("label", "labels", "class", "category"), 1), key=f"lc-{key}"
        )
        id_options = ["(none)", *columns]
        id_choice = t3.selectbox("Id column (optional)", id_options, guess(id_options, ("id",), 0), key=f"ic-{key}")
        id_column = None if id_choice == "(none)" else id_choice
    else:
        st.warning("The file's columns could not be read; the import will say why.")
        text_column, label_column, id_column = "text", "label", None
    text_name = t4.text_input("Project name", placeholder="defaults to the file's name", key="text_name")
    if st.button("Import text", type="primary"):
        start_import()
        project, report = services.import_text(
            text_upload.name,
            data=text_upload.getvalue(),
            name=text_name.strip() or None,
            text_column=text_column,
            label_column=label_column,
            id_column=id_column,
            actor=ui.actor(),
        )
        if project is None:
            refused(f"{len(report.errors)} problem(s); nothing was imported.", report.errors)
        else:
            services.queue_first_model(project.id)
            imported(
                project.id,
                f"Imported {len(report.dataset)} texts into project **{ui.md(project.name)}** (now selected); its "
                "first model is being trained (see the Train page).",
            )

st.subheader("Import prompts to rank")
st.caption(
    'JSONL (UTF-8), one prompt a line: `{"prompt": ..., "candidates": [...]}`; or prompts only, with a causal '
    "language model (local folder or hub id) that samples the candidates. Bad lines are listed by number; nothing "
    "is imported until the file is clean."
)
prompt_upload = st.file_uploader("Prompt file (.jsonl)", type=["jsonl", "gz"])
g1, g2, g3 = st.columns([2, 3, 1])
prompt_name = g1.text_input("Project name", placeholder="defaults to the file's name", key="prompt_name")
generator = g2.text_input("Generator (optional)", placeholder="path or hub id of a causal LM")
k = g3.number_input("Candidates", 2, 16, 4)
if prompt_upload is not None and st.button("Import prompts", type="primary"):
    start_import()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / Path(prompt_upload.name).name
        path.write_bytes(prompt_upload.getvalue())
        try:
            with st.spinner("Sampling candidates..." if generator.strip() else "Importing..."):
                project = services.import_prompts(
                    path,
                    name=prompt_name.strip() or None,
                    generator=generator.strip() or None,
                    generation=services.GenerationConfig(k=int(k)),
                    actor=ui.actor(),
                )
        except services.PromptFileError as exc:  # the lines name the file as uploaded, not the temporary copy
            refused(
                f"{len(exc.errors)} problem(s); nothing was imported.",
                [e.replace(f"{tmp}/", "") for e in exc.errors],
            )
            st.stop()
        except (OSError, ValueError) as exc:
            st.error(ui.md(str(exc).replace(f"{tmp}/", "")))
            st.stop()
    imported(project.id, f"Created ranking project **{ui.md(project.name)}** (now selected): rank it on the Rank page.")

st.subheader("Generator demo")
st.caption(
    "The whole generator loop without a download: a tiny GPT-2, trained here in seconds, answers requests "
    "such as *greet alice :* either tersely or politely. Rank the style you prefer (20 prompts or more), "
    "train the generator on the Train page (Generator, DPO), then compare it with the base on the Compare page."
)
if st.button("Create Generator demo project"):
    start_import()
    try:
        with st.spinner("Training the tiny generator and sampling candidates..."):
            project = services.import_generator_demo(actor=ui.actor())
    except ValueError as exc:
        st.error(ui.md(str(exc)))
        st.stop()
    imported(project.id, f"Created ranking project **{ui.md(project.name)}** (now selected): rank it on the Rank page.")

st.subheader("Decoy-CIFAR-10")
st.caption(
    "CIFAR-10 photos with a coloured square in a corner whose colour gives the label away in the training "
    "images (like the colour patches of skin-lesion photos): 500 training and 200 test images per class."
)
cifar = services.cifar10_folder()
cifar_folder = st.text_input("CIFAR-10 folder on the server (with train/ and test/)", str(cifar or ""))
if cifar_folder and st.button("Create Decoy-CIFAR-10 project"):
    start_import()
    try:
        project = services.import_cifar10(cifar_folder, actor=ui.actor())
    except (FileNotFoundError, ValueError) as exc:
        st.error(ui.md(str(exc)))
        st.stop()
    services.queue_first_model(project.id)
    imported(project.id, f"Created project **{ui.md(project.name)}** (now selected); its first model is queued.")

st.subheader("Decoy-MNIST from IDX files")
folder = st.text_input("Folder on the server with t10k-images-idx3-ubyte[.gz] and t10k-labels-idx1-ubyte[.gz]")
if folder and st.button("Create Decoy-MNIST project"):
    start_import()
    try:
        project = services.import_mnist(folder, name=f"Decoy-MNIST ({Path(folder).name})", actor=ui.actor())
    except (FileNotFoundError, ValueError) as exc:
        st.error(ui.md(str(exc)))
        st.stop()
    services.queue_first_model(project.id)
    imported(project.id, f"Created project **{ui.md(project.name)}** (now selected); its first model is queued.")
