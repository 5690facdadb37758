"""Data sources: Decoy-Digits, IDX files / Decoy-MNIST, image folders, the dataset record."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest
from conftest import require_mnist
from PIL import Image

from xil.data import ImageDataset, add_decoys, decoy_digits, decoy_mnist, import_image_folder, read_idx
from xil.data.base import stratified_split

# --- Decoy-Digits ------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits() -> ImageDataset:
    return decoy_digits()


def _swatch_shades(ds: ImageDataset) -> np.ndarray:
    return np.array([ds.images[i, 0][ds.decoy_masks[i]].mean() for i in range(len(ds))])


def test_decoy_digits_shapes_and_split(digits):
    n = len(digits)
    assert n == 1797
    assert digits.images.shape == (n, 1, 28, 28) and digits.images.dtype == np.float32
    assert digits.labels.shape == (n,) and set(np.unique(digits.labels)) == set(range(10))
    assert digits.decoy_masks.shape == (n, 28, 28) and digits.decoy_masks.dtype == bool
    assert digits.class_names == [str(d) for d in range(10)]
    assert digits.images.min() >= 0 and digits.images.max() <= 1
    assert set(np.unique(digits.split)) == {"train", "test"}
    test = digits.indices("test")
    assert len(test) == pytest.approx(0.2 * n, abs=10)
    for c in range(10):  # stratified: every class ~20% test
        in_class = digits.labels == c
        share = (digits.split[in_class] == "test").mean()
        assert share == pytest.approx(0.2, abs=0.01)
    assert len(digits.indices("train")) + len(test) == n
    assert digits.names[0] == f"{digits.split[0]}/0"


def test_decoy_digits_is_deterministic_per_seed():
    a, b, c = decoy_digits(seed=0), decoy_digits(seed=0), decoy_digits(seed=1)
    assert np.array_equal(a.images, b.images) and np.array_equal(a.split, b.split)
    assert not np.array_equal(a.split, c.split)


def test_decoy_masks_are_4x4_corner_squares(digits):
    corners = {(0, 0), (0, 24), (24, 0), (24, 24)}
    seen = set()
    for mask in digits.decoy_masks:
        rows, cols = np.nonzero(mask)
        assert mask.sum() == 16
        top, left = rows.min(), cols.min()
        assert rows.max() - top == 3 and cols.max() - left == 3
        assert (top, left) in corners
        seen.add((top, left))
    assert seen == corners  # every corner is used


def test_decoy_shade_encodes_the_label_on_train_only(digits):
    shades = _swatch_shades(digits)
    train, test = digits.indices("train"), digits.indices("test")
    # train: the shade is exactly 1 - 25 * label / 255
    np.testing.assert_allclose(shades[train], 1 - 25 * digits.labels[train] / 255, atol=1e-6)
    assert np.corrcoef(shades[train], digits.labels[train])[0, 1] < -0.99
    # test: the shade is random, unrelated to the label
    assert abs(np.corrcoef(shades[test], digits.labels[test])[0, 1]) < 0.2
    assert not np.allclose(shades[test], 1 - 25 * digits.labels[test] / 255, atol=1e-6)


def test_decoy_digits_without_decoys():
    ds = decoy_digits(decoys=False)
    assert ds.decoy_masks is None and ds.name == "Digits"
    # the corners are blank without decoys (the digit sits in the central 20x20)
    assert ds.images[:, :, :4, :4].max() == 0


def test_add_decoys_only_changes_the_swatch():
    rng = np.random.default_rng(0)
    images = rng.random((6, 1, 10, 10)).astype(np.float32)
    labels = np.arange(6)
    split = np.array(["train"] * 6)
    out, masks = add_decoys(images, labels, split, seed=0, size=3)
    assert np.array_equal(out[:, 0][~masks], images[:, 0][~masks])
    assert (masks.reshape(6, -1).sum(1) == 9).all()
    assert not np.shares_memory(out, images)


def test_dataset_roundtrips_through_its_two_files(tmp_path, digits):
    np.save(tmp_path / "pixels.npy", digits.images)
    path = tmp_path / "ds.npz"
    path.write_bytes(digits.metadata_bytes("pixels.npy"))
    back = ImageDataset.from_file(path)
    assert back.name == digits.name and back.class_names == digits.class_names
    assert np.array_equal(back.images, digits.images)
    assert np.array_equal(back.labels, digits.labels)
    assert np.array_equal(back.split, digits.split)
    assert np.array_equal(back.decoy_masks, digits.decoy_masks)
    assert back.names == digits.names


def test_dataset_validates_shapes():
    split = np.array(["train"] * 2)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\)"):
        ImageDataset("x", np.zeros((2, 4, 4)), np.zeros(2), split, ["a"])
    with pytest.raises(ValueError, match="same length"):
        ImageDataset("x", np.zeros((2, 1, 4, 4)), np.zeros(3), split, ["a"])
    with pytest.raises(ValueError, match="decoy_masks"):
        ImageDataset("x", np.zeros((2, 1, 4, 4)), np.zeros(2), split, ["a"], np.zeros((2, 3, 3), bool))


# --- IDX files ---------------------------------------------------------------------------------


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.tobytes()


def test_read_idx_reads_what_was_written(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    path = tmp_path / "images-idx3-ubyte"
    path.write_bytes(idx_bytes(images))
    back = read_idx(path)
    assert back.shape == (2, 3, 4) and back.dtype == np.uint8
    assert np.array_equal(back, images)


def test_read_idx_reads_gzipped_files(tmp_path):
    labels = np.array([7, 2, 1, 0, 4], dtype=np.uint8)
    path = tmp_path / "labels-idx1-ubyte.gz"
    path.write_bytes(gzip.compress(idx_bytes(labels)))
    assert np.array_equal(read_idx(path), labels)


def test_read_idx_reads_big_endian_ints(tmp_path):
    values = np.array([[1, -2], [300000, 4]], dtype=">i4")
    path = tmp_path / "ints-idx2"
    path.write_bytes(idx_bytes(values, type_code=0x0C))
    assert np.array_equal(read_idx(path), values.astype(np.int64))


@pytest.mark.parametrize(
    "payload",
    [b"\x00\x01\x08\x01\x00\x00\x00\x01\x05", b"\x00\x00\x42\x01\x00\x00\x00\x01\x05", b"PK\x03", b""],
    ids=["second-byte", "unknown-type", "zip-file", "empty"],
)
def test_read_idx_rejects_a_bad_magic_number(tmp_path, payload):
    path = tmp_path / "bad-idx1-ubyte"
    path.write_bytes(payload)
    with pytest.raises(ValueError, match=r"bad-idx1-ubyte: not an IDX file \(bad magic number\)"):
        read_idx(path)


def test_read_idx_rejects_a_size_mismatch(tmp_path):
    data = idx_bytes(np.zeros((2, 3, 3), dtype=np.uint8))
    path = tmp_path / "short-idx3-ubyte"
    path.write_bytes(data[:-4])  # 14 of the 18 values the header promises
    with pytest.raises(ValueError, match=r"short-idx3-ubyte: header says \(2, 3, 3\), file holds 14 values"):
        read_idx(path)
    path.write_bytes(data + b"\x00")
    with pytest.raises(ValueError, match="file holds 19 values"):
        read_idx(path)


def test_read_idx_rejects_a_truncated_header(tmp_path):
    path = tmp_path / "cut-idx3-ubyte"
    path.write_bytes(bytes([0, 0, 8, 3, 0, 0, 0, 2]))  # says three dimensions, holds one
    with pytest.raises(ValueError, match="cut-idx3-ubyte: truncated IDX header"):
        read_idx(path)


def test_read_idx_rejects_a_partial_value(tmp_path):
    path = tmp_path / "ints-idx1"
    path.write_bytes(idx_bytes(np.array([1, 2], dtype=">i4"), type_code=0x0C)[:-1])
    with pytest.raises(ValueError, match=r"ints-idx1: header says \(2,\)"):
        read_idx(path)


def test_decoy_mnist_from_a_folder_of_idx_files(tmp_path):
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(30, 28, 28), dtype=np.uint8)
    labels = np.arange(30, dtype=np.uint8) % 10
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(idx_bytes(images))
    (tmp_path / "t10k-labels-idx1-ubyte.gz").write_bytes(gzip.compress(idx_bytes(labels)))
    ds = decoy_mnist(tmp_path, decoys=False)
    assert ds.name == "MNIST" and ds.images.shape == (30, 1, 28, 28)
    np.testing.assert_allclose(ds.images[:, 0], images / 255.0, atol=1e-6)
    assert np.array_equal(ds.labels, labels)


def test_decoy_mnist_explains_missing_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="t10k-images-idx3-ubyte"):
        decoy_mnist(tmp_path)


def test_decoy_mnist_on_the_shared_data():
    folder = require_mnist()
    ds = decoy_mnist(folder, limit=500)
    assert ds.name == "Decoy-MNIST"
    assert ds.images.shape == (500, 1, 28, 28) and ds.images.dtype == np.float32
    assert ds.images.min() >= 0 and ds.images.max() <= 1
    assert set(np.unique(ds.labels)) == set(range(10))
    assert ds.decoy_masks.shape == (500, 28, 28) and (ds.decoy_masks.reshape(500, -1).sum(1) == 16).all()
    train = ds.indices("train")
    shades = np.array([ds.images[i, 0][ds.decoy_masks[i]].mean() for i in train])
    np.testing.assert_allclose(shades, 1 - 25 * ds.labels[train] / 255, atol=1e-6)
    assert len(ds.indices("test")) == pytest.approx(100, abs=10)


# --- image folders -----------------------------------------------------------------------------


def write_png(path: Path, size=(8, 8), value: int = 128, mode: str = "L") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    color = value if mode == "L" else (value, 0, 255 - value)
    Image.new(mode, (size[1], size[0]), color).save(path)


def good_folder(root: Path, per_class: int = 5) -> Path:
    for cls, value in (("cats", 40), ("dogs", 200)):
        for i in range(per_class):
            write_png(root / cls / f"{i}.png", value=value + i)
    return root


def test_import_image_folder_imports_a_good_folder(tmp_path):
    report = import_image_folder(good_folder(tmp_path / "pets"))
    assert report.ok, report.errors
    assert report.errors == []
    assert report.n_images == 10 and report.classes == {"cats": 5, "dogs": 5}
    ds = report.dataset
    assert ds.name == "pets" and ds.class_names == ["cats", "dogs"]
    assert ds.images.shape == (10, 1, 8, 8) and ds.images.dtype == np.float32
    assert ds.labels.tolist() == [0] * 5 + [1] * 5
    assert ds.names[0] == "cats/0.png" and ds.names[-1] == "dogs/4.png"
    np.testing.assert_allclose(ds.images[0], 40 / 255, atol=1e-6)
    np.testing.assert_allclose(ds.images[9], 204 / 255, atol=1e-6)
    assert (ds.split == "test").sum() == 2  # one per class
    assert ds.decoy_masks is None


def test_import_image_folder_reports_every_bad_file_and_imports_nothing(tmp_path):
    root = good_folder(tmp_path / "pets")
    (root / "cats" / "x.png").write_bytes(b"this is not a png at all")
    write_png(root / "dogs" / "big.png", size=(12, 10))
    (root / "empty").mkdir()
    report = import_image_folder(root)
    assert not report.ok
    assert report.dataset is None
    text = "\n".join(report.errors)
    assert len(report.errors) == 3, text
    assert any(e.startswith(str(Path("cats") / "x.png")) and "unreadable" in e for e in report.errors), text
    assert any(e.startswith(str(Path("dogs") / "big.png")) and "10x12" in e and "8x8" in e for e in report.errors), text
    assert any(e.startswith("empty/") and "empty class" in e for e in report.errors), text


def test_stratified_split_keeps_a_test_and_a_training_example_in_every_class_of_two_or_more():
    labels = np.array([0] * 2 + [1] * 10 + [2] * 1)
    split = stratified_split(labels, 0.2, seed=0)
    assert sorted(split[labels == 0]) == ["test", "train"]  # 2 x 0.2 rounds to none
    assert (split[labels == 1] == "test").sum() == 2 and split[labels == 2].tolist() == ["train"]
    assert sorted(stratified_split(labels, 0.9, seed=0)[labels == 0]) == ["test", "train"]  # rounds to both
    assert (stratified_split(labels, 0.0, seed=0) == "train").all()


def test_a_class_of_one_image_is_refused_and_two_keep_one_to_test(tmp_path):
    root = good_folder(tmp_path / "pets")
    (root / "owls").mkdir()
    write_png(root / "owls" / "0.png")
    report = import_image_folder(root)
    assert report.dataset is None and report.errors == [
        "1 label(s) with a single example ('owls'): each needs at least two, one to train on and one to test on"
    ]
    write_png(root / "owls" / "1.png")
    ds = import_image_folder(root).dataset
    owls = ds.split[ds.labels == ds.class_names.index("owls")]
    assert sorted(owls) == ["test", "train"]  # 2 x 0.2 rounds to none: one is kept for testing all the same


def test_import_image_folder_reports_non_images(tmp_path):
    root = good_folder(tmp_path / "pets")
    (root / "cats" / "notes.txt").write_text("hello")
    report = import_image_folder(root)
    assert not report.ok and report.dataset is None
    assert len(report.errors) == 1 and "notes.txt" in report.errors[0]


def test_import_image_folder_needs_two_classes(tmp_path):
    write_png(tmp_path / "only" / "a" / "0.png")
    report = import_image_folder(tmp_path / "only")
    assert not report.ok and "at least two" in report.errors[0]
    report = import_image_folder(tmp_path / "missing")
    assert not report.ok and "not a folder" in report.errors[0]


def test_import_image_folder_resize_accepts_mixed_sizes_and_modes(tmp_path):
    root = good_folder(tmp_path / "pets", per_class=3)
    write_png(root / "dogs" / "big.png", size=(12, 10), mode="RGB", value=90)
    assert not import_image_folder(root).ok
    report = import_image_folder(root, resize=(6, 7))
    assert report.ok, report.errors
    ds = report.dataset
    assert ds.images.shape == (7, 3, 6, 7)  # one RGB image: every image gets three channels
    gray = ds.names.index("cats/0.png")
    np.testing.assert_allclose(ds.images[gray], 40 / 255, atol=1e-6)
    rgb = ds.names.index("dogs/big.png")
    np.testing.assert_allclose(ds.images[rgb, :, 3, 3], [90 / 255, 0, 165 / 255], atol=1e-6)


def test_import_image_folder_resize_does_not_excuse_bad_files(tmp_path):
    root = good_folder(tmp_path / "pets")
    (root / "cats" / "x.png").write_bytes(b"\x89PNG garbage")
    report = import_image_folder(root, resize=(8, 8))
    assert not report.ok and report.dataset is None
    assert len(report.errors) == 1 and "x.png" in report.errors[0]


# --- Decoy-CIFAR-10 ----------------------------------------------------------------------------


def test_decoy_cifar10_colour_encodes_the_label_on_train_only(tmp_path):
    from xil.data.cifar import decoy_cifar10
    from xil.data.decoy import PALETTE

    for split, n in (("train", 4), ("test", 30)):
        for cls, value in (("cat", 40), ("dog", 200)):
            for i in range(n):
                write_png(tmp_path / split / cls / f"{i:02d}.png", size=(12, 12), value=value, mode="RGB")
    ds = decoy_cifar10(tmp_path, per_class_train=3)
    assert ds.name == "Decoy-CIFAR-10" and ds.class_names == ["cat", "dog"]
    assert ds.images.shape == (66, 3, 12, 12) and len(ds.indices("train")) == 6
    assert ds.names[0] == "train/cat/00.png"
    colours = np.array([ds.images[i][:, ds.decoy_masks[i]].mean(axis=1) for i in range(len(ds))])
    train, test = ds.indices("train"), ds.indices("test")
    np.testing.assert_allclose(colours[train], PALETTE[ds.labels[train]], atol=1e-6)
    assert (np.abs(colours[test] - PALETTE[ds.labels[test]]).sum(axis=1) > 0.1).mean() > 0.5  # random at test
    clean = decoy_cifar10(tmp_path, decoys=False, per_class_train=3)
    assert clean.decoy_masks is None and np.allclose(clean.images[0, 0], 40 / 255)
    with pytest.raises(FileNotFoundError, match="train/ and test/"):
        decoy_cifar10(tmp_path / "nowhere")


def test_decoy_cifar10_bench_runs_the_half_width_resnet_at_32_pixels_on_the_cpu(tmp_path):
    from xil.bench import decoy

    for split, n in (("train", 3), ("test", 2)):
        for cls, value in (("cat", 40), ("dog", 200)):
            for i in range(n):
                write_png(tmp_path / split / cls / f"{i:02d}.png", size=(32, 32), value=value, mode="RGB")
    result = decoy.run(dataset="cifar10", data=tmp_path, device="cpu", epochs=1, methods=["ce"])
    assert (result["arch"], result["image_size"], result["n_train"], result["n_test"]) == ("resnet18_half", 32, 6, 4)
    assert 0 <= result["methods"]["ce"]["acc"] <= 1
    chosen = decoy.run(
        dataset="cifar10", data=tmp_path, device="cpu", arch="resnet18", image_size=16, epochs=1, methods=[]
    )
    assert (chosen["arch"], chosen["image_size"], chosen["epochs"]) == ("resnet18", 16, 1)  # options given win
    with pytest.raises(ValueError, match="unknown dataset"):
        decoy.run(dataset="imagenet", device="cpu")


def test_decoy_cifar10_on_the_shared_data():
    from xil.data.cifar import decoy_cifar10

    folder = Path(__file__).resolve().parents[2] / "shared" / "data" / "cifar10"
    if not folder.is_dir():
        pytest.skip("shared CIFAR-10 folder not present")
    ds = decoy_cifar10(folder, per_class_train=5, per_class_test=2)
    assert ds.images.shape == (70, 3, 32, 32) and len(ds.class_names) == 10
