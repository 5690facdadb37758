"""Middle tier: new projects from the user's data: image folders and zips, Decoy-MNIST from IDX files,
Decoy-CIFAR-10 from its image folders, text files, prompt files. Every file is checked first; nothing is imported until all of it is fine."""

from __future__ import annotations

from pathlib import Path
from typing import BinaryIO

from db import Project
from xil import config, data, storage
from xil.data import ImportReport
from xil.data.cifar import decoy_cifar10
from xil.data.prompts import PromptDataset
from xil.data.text import TextImportReport, import_text_file
from xil.services.access import Actor, audit, require_owner
from xil.services.catalog import create_project, project_named


def import_mnist(
    folder: str | Path,
    name: str = "Decoy-MNIST",
    limit: int | None = None,
    *,
    trusted: bool = False,
    actor: Actor | None = None,
) -> Project:
    """A Decoy-MNIST project from IDX files. Unless ``trusted`` (the operator's own command line), the
    folder must lie inside the data folders the operator allowed (:func:`xil.config.readable_path`)."""
    require_owner(actor, "import data")
    if not trusted:
        folder = config.readable_path(folder)
    return _created(create_project(name, data.decoy_mnist(folder, limit=limit), "decoy-mnist"), actor)


CIFAR_PER_CLASS = (500, 200)  # training and test images per class of the Decoy-CIFAR-10 project


def cifar10_folder() -> Path | None:
    """A CIFAR-10 image folder (``cifar10/`` with ``train/`` and ``test/``) in the allowed data folders."""
    for root in config.data_roots():
        for candidate in (root / "cifar10", root):
            if (candidate / "train").is_dir() and (candidate / "test").is_dir() and "cifar" in candidate.name.lower():
                return candidate
    return None


def import_cifar10(folder: str | Path, name: str = "Decoy-CIFAR-10", actor: Actor | None = None) -> Project:
    """A Decoy-CIFAR-10 project (:mod:`xil.data.cifar`): 500 training and 200 test images per class,
    a coloured swatch that encodes the label in the training images. The folder must lie inside the
    allowed data folders."""
    require_owner(actor, "import data")
    folder = config.readable_path(folder)
    if project_named(name) is not None:
        raise ValueError(f"a project named {name!r} exists already")
    train, test = CIFAR_PER_CLASS
    dataset = decoy_cifar10(folder, per_class_train=train, per_class_test=test)
    return _created(create_project(name, dataset, "decoy-cifar10"), actor)


def import_image_folder(
    folder: str | Path | BinaryIO,
    name: str | None = None,
    resize: tuple[int, int] | None = None,
    actor: Actor | None = None,
) -> tuple[Project | None, ImportReport]:
    """Import a folder, a ``.zip`` of one or an uploaded zip (an open binary file) only when every file
    is fine; otherwise return the report and import nothing. The zip is read in memory under the caps
    of :mod:`xil.limits`, never extracted. Default name: the folder's (or the zip's)."""
    require_owner(actor, "import data")
    report = data.import_image_folder(folder, resize=resize, name=name, scratch=storage.scratch())
    if not report.ok:
        return None, report
    name = name or report.dataset.name
    pixels = Path(report.dataset.images.path)
    try:
        if project_named(name) is not None:
            report.errors.append(f"a project named {name!r} exists already")
            return None, report
        return _created(create_project(name, report.dataset, "image-folder"), actor), report
    finally:
        pixels.unlink(missing_ok=True)  # moved into the store, or not wanted


def import_text(
    path: str | Path,
    data: bytes | None = None,
    name: str | None = None,
    text_column: str = "text",
    label_column: str = "label",
    id_column: str | None = None,
    actor: Actor | None = None,
) -> tuple[Project | None, TextImportReport]:
    """Import a CSV / JSONL / Parquet text file only when every row is fine; else report, import nothing."""
    require_owner(actor, "import data")
    report = import_text_file(path, data, text_column=text_column, label_column=label_column, id_column=id_column)
    if not report.ok:
        return None, report
    name = name or Path(path).stem
    if project_named(name) is not None:
        report.errors.append(f"a project named {name!r} exists already")
        return None, report
    return _created(create_project(name, report.dataset, "text-file"), actor), report


def text_file_columns(path: str | Path, data: bytes) -> list[str]:
    """The columns of a text file about to be imported (from its first megabyte), for picking the text,
    label and id columns; empty when they cannot be read."""
    from xil.data.text import file_columns

    return file_columns(path, data)


def import_prompts(
    path: str | Path,
    name: str | None = None,
    generator: str | None = None,
    generation=None,
    actor: Actor | None = None,
) -> Project:
    """A ranking project from a JSONL prompt file. With ``generator`` (a Hugging Face causal LM by local
    path or hub id) the K candidates of each prompt are sampled from it (``generation``: a
    GenerationConfig) and the file needs only ``prompt``; otherwise each line brings its
    ``candidates``. A bad line raises PromptFileError listing every one, and nothing is imported."""
    from xil.ranking.prompts import load_prompt_file, load_prompts_only

    require_owner(actor, "import data")
    path = Path(path)
    name = name or path.name.split(".")[0]
    if generator is None:
        dataset = PromptDataset.from_rows(name, load_prompt_file(path), source=path.name)
        return _created(create_project(name, dataset, "prompt-file"), actor)
    from xil.ranking.generate import GenerationConfig, sample_candidates

    prompts = load_prompts_only(path)
    generation = generation or GenerationConfig()
    candidates = sample_candidates(generator, prompts, generation)
    rows = [{"prompt": p, "candidates": c} for p, c in zip(prompts, candidates, strict=True)]
    dataset = PromptDataset.from_rows(name, rows, source=generator, generation=generation.to_dict())
    return _created(create_project(name, dataset, "generated"), actor)


GENERATOR_DEMO = "Generator demo"


def import_generator_demo(name: str = GENERATOR_DEMO, actor: Actor | None = None) -> Project:
    """The generator loop without a download: a tiny GPT-2 trained here in seconds on a toy request
    language (:mod:`xil.ranking.toy_language`: a terse and a polite answer to every request), its
    192 prompts with 4 sampled candidates each. Rank which style you prefer, train the generator on
    the Train page, and compare it with the base on the Compare page."""
    from xil.ranking.generate import GenerationConfig, sample_candidates
    from xil.ranking.toy_language import all_prompts, build_generator

    require_owner(actor, "import data")
    if project_named(name) is not None:
        raise ValueError(f"a project named {name!r} exists already")
    folder = config.home() / "models" / "demo-generator"
    if not (folder / "model.safetensors").exists():
        build_generator(folder)
    prompts = all_prompts()
    generation = GenerationConfig(k=4, max_new_tokens=16)
    candidates = sample_candidates(str(folder), prompts, generation)
    rows = [{"prompt": p, "candidates": c} for p, c in zip(prompts, candidates, strict=True)]
    dataset = PromptDataset.from_rows(name, rows, source=str(folder), generation=generation.to_dict())
    return _created(create_project(name, dataset, "generated"), actor)


def _created(project: Project, actor: Actor | None) -> Project:
    audit(actor, "import", project.id, name=project.name, source=project.source)
    return project
