"""Datasets larger than memory: the pixel file (row by row on disk, read a few rows at a time),
streaming imports, and training that streams batches through DataLoader workers."""

from __future__ import annotations

import pickle
import tracemalloc

import numpy as np
import pytest
import torch
from PIL import Image

from xil import services, storage
from xil.data import decoy_digits, import_image_folder
from xil.data.base import PixelFile, PixelWriter
from xil.train import TrainConfig, TrainData, train
from xil.train import data as train_data
from xil.train.data import SparseMasks


def write_pixels(path, images: np.ndarray) -> PixelFile:
    writer = PixelWriter(path, len(images), images.shape[1:])
    for image in images:
        writer.add(image)
    return writer.close()


@pytest.fixture
def pixels(tmp_path) -> tuple[PixelFile, np.ndarray]:
    images = np.random.default_rng(0).integers(0, 256, (7, 3, 5, 4), dtype=np.uint8)
    return write_pixels(tmp_path / "p.npy", images), images.astype(np.float32) / 255


def test_a_pixel_file_reads_the_rows_asked_for_as_float32(pixels):
    file, expected = pixels
    assert len(file) == 7 and file.shape == (7, 3, 5, 4) and file.ndim == 4
    assert np.allclose(np.load(file.path), expected * 255)  # a plain .npy file
    for key in (3, -1, slice(1, 6, 2), [6, 0, 1, 2], np.array([True, False] * 3 + [True]), (2, 0), (slice(None), 1, 2)):
        got = file[key]
        assert got.dtype == np.float32 and np.array_equal(got, expected[key]), key
    with pytest.raises(IndexError):
        file[[7]]
    assert file[[]].shape == (0, 3, 5, 4) and file[np.int64(2)].shape == (3, 5, 4)  # an empty share reads too
    assert np.array_equal(file[torch.tensor(4)], expected[4])
    for bad in (True, 1.5, [[0, 1]], None, np.ones(3, dtype=bool)):
        with pytest.raises((TypeError, IndexError)):
            file[bad]


def test_a_view_reads_through_its_rows_and_survives_pickling(pixels):
    file, expected = pixels
    view = file.view([5, 1, 3])
    assert view.shape == (3, 3, 5, 4) and np.array_equal(view[1:], expected[[1, 3]])
    assert np.array_equal(view.view([2, 0])[:], expected[[3, 5]])
    copy = pickle.loads(pickle.dumps(view))  # what a DataLoader worker gets
    assert np.array_equal(copy[:], expected[[5, 1, 3]])


def test_a_truncated_pixel_file_is_an_error_not_garbage(pixels):
    file, _ = pixels
    with open(file.path, "r+b") as f:
        f.truncate(f.seek(0, 2) - 10)
    with pytest.raises(OSError, match="truncated"):
        PixelFile(file.path)[6]
    assert PixelFile(file.path)[0].shape == (3, 5, 4)  # the rows before the damage still read


def test_a_writer_takes_only_what_it_announced(tmp_path):
    writer = PixelWriter(tmp_path / "w.npy", 2, (1, 2, 2))
    with pytest.raises(ValueError, match="holds"):
        writer.add(np.zeros((1, 3, 2), np.uint8))
    writer.add(np.zeros((1, 2, 2), np.uint8))
    with pytest.raises(ValueError, match="1 of 2"):
        writer.close()
    assert not (tmp_path / "w.npy").exists()


def photo_folder(root, n_per_class: int, size: int):
    rng = np.random.default_rng(1)
    for c in ("cat", "dog"):
        (root / c).mkdir(parents=True)
        for i in range(n_per_class):
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(root / c / f"{i}.png")
    return root


def test_an_import_holds_one_image_at_a_time(tmp_path):
    folder = photo_folder(tmp_path / "photos", 60, 128)  # 120 x 3 x 128 x 128: 23 MB as float32
    tracemalloc.start()
    try:
        report = import_image_folder(folder, scratch=tmp_path / "scratch")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert report.ok and isinstance(report.dataset.images, PixelFile)
    assert peak < 3 * 2**20, f"the import held {peak / 2**20:.1f} MB"
    image = np.asarray(Image.open(folder / "dog" / "3.png"), dtype=np.float32).transpose(2, 0, 1) / 255
    assert np.array_equal(report.dataset.images[report.dataset.names.index("dog/3.png")], image)


def test_a_failed_import_leaves_no_pixel_file(tmp_path):
    folder = photo_folder(tmp_path / "photos", 3, 16)
    (folder / "dog" / "9.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)  # a broken image
    report = import_image_folder(folder, scratch=tmp_path / "scratch")
    assert not report.ok and any("9.png" in e for e in report.errors)
    assert list((tmp_path / "scratch").glob("*")) == []


def test_an_imported_project_keeps_its_pixels_in_the_store_once(tmp_path):
    folder = photo_folder(tmp_path / "photos", 4, 16)
    project, report = services.import_image_folder(folder, name="photos")
    assert project is not None, report.errors
    ds = services.dataset(project.id)
    assert isinstance(ds.images, PixelFile) and ds.shape == (3, 16, 16)
    assert list(storage.scratch().glob("*")) == []  # moved into the store, not copied
    again, report = services.import_image_folder(folder, name="photos")
    assert again is None and "exists already" in report.errors[0]
    assert list(storage.scratch().glob("*")) == []  # a refused import leaves nothing behind


@pytest.mark.parametrize("workers", ["0", "1"])
def test_streamed_training_matches_training_in_memory(tmp_path, monkeypatch, workers):
    ds = decoy_digits()
    idx = ds.indices("train")[:200]
    np.save(tmp_path / "digits.npy", ds.images[idx])
    file = PixelFile(tmp_path / "digits.npy")
    marks = ds.decoy_masks[idx]
    y = torch.from_numpy(ds.labels[idx])
    cfg = TrainConfig(method="rrr", arch="cnn", epochs=2, device="cpu")
    dense = TrainData(torch.from_numpy(ds.images[idx]), y, irrelevant=torch.from_numpy(marks))
    _, in_memory = train(cfg, dense)

    monkeypatch.setattr(train_data, "IN_MEMORY_BYTES", 0)
    monkeypatch.setenv("XIL_LOADER_WORKERS", workers)
    sparse = SparseMasks(200, marks.shape[1:], np.arange(0, 200, 2), marks[::2])  # half the rows marked
    streamed_data = TrainData(file, y, irrelevant=sparse)
    assert streamed_data.streamed
    _, streamed = train(cfg, streamed_data)
    half = TrainData(dense.x, y, irrelevant=torch.from_numpy(marks * (np.arange(200) % 2 == 0)[:, None, None]))
    _, half_in_memory = train(cfg, half)
    for a, b in zip(streamed, half_in_memory, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4) and a["lambda_"] == pytest.approx(b["lambda_"], rel=1e-4)
    assert in_memory[0]["lambda_"] != pytest.approx(streamed[0]["lambda_"], rel=1e-3)  # the marks did count


def test_a_large_project_scores_a_pool_and_serves_it_first(demo, monkeypatch):
    from xil.services.adapters import image as image_adapter

    monkeypatch.setattr(image_adapter, "QUEUE_POOL", 30)
    ds = services.dataset(demo.project_id)
    pool = set(image_adapter.scoring_pool(ds).tolist())
    assert len(pool) == 30 and pool <= set(ds.indices("train").tolist())
    idx_of = {e.id: e.idx for e in services.examples(demo.project_id, "train")}
    for strategy in ("suspicious", "least_confident"):
        rows = [idx_of[i] for i in services.next_examples(demo.project_id, demo.version_id, strategy, n=40)]
        assert set(rows[:30]) == pool and not set(rows[30:]) & pool, strategy
