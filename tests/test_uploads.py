"""Caps on uploads: zips read in memory under a byte cap, image headers checked before decoding,
text and prompt files under size and length caps, all problems in one report; the CLI and the Data
page share the importer."""

from __future__ import annotations

import gzip
import io
import json
import stat
import struct
import time
import zipfile
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageFile
from streamlit.testing.v1 import AppTest
from typer.testing import CliRunner

from tests.conftest import PROJECT_ROOT
from xil import services
from xil.cli import app
from xil.data import import_image_folder
from xil.data.archive import ArchiveTooLarge, BoundedReader, members
from xil.data.text import import_text_file
from xil.limits import MB, limits
from xil.ranking.prompts import PromptFileError, load_prompt_file

runner = CliRunner()


def png(size=(8, 8), value: int = 100) -> bytes:
    buffer = io.BytesIO()
    Image.new("L", (size[1], size[0]), value).save(buffer, "PNG")
    return buffer.getvalue()


def huge_png(width: int, height: int) -> bytes:
    """A real, valid 1-bit PNG of ``width`` x ``height`` black pixels: a few KB on disk however large
    its header says it is (what a decompression bomb looks like)."""

    def chunk(tag: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + tag + data + struct.pack(">I", zlib.crc32(tag + data))

    row = bytes(1 + (width + 7) // 8)  # filter byte + packed bits
    packer = zlib.compressobj(9)
    block = row * 1000
    idat = b"".join(packer.compress(block) for _ in range(height // 1000)) + packer.compress(row * (height % 1000))
    idat += packer.flush()
    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def make_zip(path: Path, entries: dict[str, bytes], top: str = "pets") -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(f"{top}/{name}" if top else name, data)
    return path


def good_entries(per_class: int = 3) -> dict[str, bytes]:
    return {f"{cls}/{i}.png": png(value=v + i) for cls, v in (("cats", 40), ("dogs", 200)) for i in range(per_class)}


# --- the caps themselves -----------------------------------------------------------------------


def test_caps_have_defaults_and_read_the_environment(monkeypatch):
    caps = limits()
    assert (caps.upload_mb, caps.archive_mb, caps.image_pixels, caps.text_chars) == (200, 1024, 4096 * 4096, 5000)
    monkeypatch.setenv("XIL_MAX_ARCHIVE_MB", "0.5")
    monkeypatch.setenv("XIL_MAX_IMAGE_PIXELS", "1_000_000")
    assert limits().archive_bytes == MB // 2 and limits().image_pixels == 1_000_000


@pytest.mark.parametrize("value", ["lots", "0", "-3", "nan", "1.5"])
def test_a_bad_cap_setting_names_the_setting(monkeypatch, value):
    monkeypatch.setenv("XIL_MAX_TEXT_CHARS", value)
    with pytest.raises(ValueError, match=r"XIL_MAX_TEXT_CHARS must be a positive whole number .*not '"):
        limits()


# --- zips --------------------------------------------------------------------------------------


def test_a_zip_imports_like_the_folder_with_or_without_a_top_folder(tmp_path):
    for top in ("pets", ""):
        report = import_image_folder(make_zip(tmp_path / f"z{top}.zip", good_entries(), top=top))
        assert report.ok, report.errors
        ds = report.dataset
        assert ds.class_names == ["cats", "dogs"] and ds.images.shape == (6, 1, 8, 8)
        assert ds.names[0] == "cats/0.png" and ds.labels.tolist() == [0, 0, 0, 1, 1, 1]
        assert abs(float(ds.images[0].mean()) - 40 / 255) < 1e-6
    # macOS metadata and hidden files are not classes or images
    entries = {**good_entries(), ".DS_Store": b"x", "cats/._0.png": b"junk"}
    with zipfile.ZipFile(tmp_path / "mac.zip", "w") as z:
        for n, d in entries.items():
            z.writestr(f"pets/{n}", d)
        z.writestr("__MACOSX/pets/._cats", b"junk")
    assert import_image_folder(tmp_path / "mac.zip").ok


def test_a_zip_bomb_stops_at_the_archive_cap_before_anything_is_decoded(tmp_path, monkeypatch):
    monkeypatch.setenv("XIL_MAX_ARCHIVE_MB", "1")
    entries = {**good_entries(), "cats/bomb.png": bytes(3 * MB)}  # 3 MB of zeros: a few KB compressed
    path = make_zip(tmp_path / "bomb.zip", entries)
    assert path.stat().st_size < 20_000
    report = import_image_folder(path)
    assert not report.ok and report.dataset is None
    assert len(report.errors) == 1 and "XIL_MAX_ARCHIVE_MB" in report.errors[0], report.errors
    assert "more than the 1.0 MB" in report.errors[0]


def _lie_about_sizes(path: Path, claimed: int) -> None:
    """Rewrite every size field of a one-entry zip to ``claimed``: the header lies, the data doesn't."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as z:
        info = z.infolist()[0]
    local = info.header_offset
    struct.pack_into("<I", data, local + 22, claimed)  # uncompressed size in the local header
    central = data.rfind(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, claimed)  # ...and in the central directory
    path.write_bytes(bytes(data))


def test_a_header_that_lies_about_its_size_does_not_beat_the_cap(tmp_path):
    path = tmp_path / "liar.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a/x.png", bytes(5 * MB))
    _lie_about_sizes(path, 100)
    with zipfile.ZipFile(path) as archive:
        found, errors = members(archive, max_bytes=MB)
        assert errors == [] and found[0].info.file_size == 100  # the declared total passes...
        reader = BoundedReader(archive, max_bytes=MB)
        with pytest.raises(Exception) as caught:  # ...but reading stops: at the declared size (bad CRC) or the cap
            reader.count(found[0])
        assert reader.total <= MB
        assert isinstance(caught.value, (ArchiveTooLarge, zipfile.BadZipFile)), caught.value
    # and the bytes really read are counted: a cap below the true size stops the read there
    with zipfile.ZipFile(tmp_path / "plain.zip", "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("a/x.png", bytes(3 * MB))
    with zipfile.ZipFile(tmp_path / "plain.zip") as archive:
        reader = BoundedReader(archive, max_bytes=2 * MB)
        with pytest.raises(ArchiveTooLarge, match="XIL_MAX_ARCHIVE_MB"):
            reader.count(members(archive, 10 * MB)[0][0])


def test_entries_outside_the_folder_are_refused_and_nothing_is_written(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "work" / "evil.zip"
    path.parent.mkdir()
    with zipfile.ZipFile(path, "w") as z:
        for name, data in good_entries().items():
            z.writestr(f"pets/{name}", data)
        z.writestr("../evil.png", png())
        z.writestr("/tmp/abs.png", png())
        link = zipfile.ZipInfo("pets/cats/link.png")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        z.writestr(link, "/etc/passwd")
    report = import_image_folder(path)
    assert not report.ok and report.dataset is None
    text = "\n".join(report.errors)
    assert len(report.errors) == 3, text
    assert "../evil.png: a path that leaves the archive's folder" in text
    assert "/tmp/abs.png: an absolute path" in text
    assert "pets/cats/link.png: a symbolic link" in text
    assert not (tmp_path / "evil.png").exists() and sorted(p.name for p in (tmp_path / "work").iterdir()) == [
        "evil.zip"
    ]


def test_not_a_zip_and_an_upload_over_the_cap_are_reported(tmp_path, monkeypatch):
    (tmp_path / "x.zip").write_bytes(b"not a zip at all")
    report = import_image_folder(tmp_path / "x.zip")
    assert not report.ok and "not a readable zip archive" in report.errors[0]
    monkeypatch.setenv("XIL_MAX_UPLOAD_MB", "0.001")
    upload = io.BytesIO(make_zip(tmp_path / "ok.zip", good_entries()).read_bytes())
    report = import_image_folder(upload)
    assert not report.ok and "XIL_MAX_UPLOAD_MB" in report.errors[0]


# --- image headers before pixels ---------------------------------------------------------------


@pytest.fixture
def load_spy(monkeypatch) -> list[tuple[int, int]]:
    """The sizes of the images Pillow decodes."""
    sizes: list[tuple[int, int]] = []
    original = ImageFile.ImageFile.load

    def load(self):
        sizes.append(self.size)
        return original(self)

    monkeypatch.setattr(ImageFile.ImageFile, "load", load)
    return sizes


def test_huge_images_are_refused_from_their_header_without_decoding(tmp_path, load_spy):
    big = huge_png(12000, 12000)
    assert len(big) < 100_000
    entries = {**good_entries(), **{f"dogs/big{i}.png": big for i in range(6)}}
    started = time.perf_counter()
    report = import_image_folder(make_zip(tmp_path / "big.zip", entries))
    assert time.perf_counter() - started < 10
    assert not report.ok and report.dataset is None
    big_errors = [e for e in report.errors if "big" in e]
    assert len(big_errors) == 6 and len(report.errors) == 6, report.errors
    assert (
        "12000x12000 is 144,000,000 pixels; an image may have at most 16,777,216 pixels (XIL_MAX_IMAGE_PIXELS)"
        in big_errors[0]
    )
    assert (12000, 12000) not in load_spy  # headers only: nothing that large was decoded


def test_a_decompression_bomb_is_a_line_in_the_report_not_a_traceback(tmp_path, load_spy):
    root = tmp_path / "pets"
    for name, data in good_entries().items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    (root / "cats" / "bomb.png").write_bytes(huge_png(20000, 20000))
    report = import_image_folder(root)
    assert not report.ok
    [error] = report.errors
    assert error.startswith("cats/bomb.png: an image may have at most") and "XIL_MAX_IMAGE_PIXELS" in error
    assert (20000, 20000) not in load_spy


def test_the_pixel_cap_and_the_dataset_cap_are_settings(tmp_path, monkeypatch):
    path = make_zip(tmp_path / "pets.zip", good_entries())
    monkeypatch.setenv("XIL_MAX_IMAGE_PIXELS", "63")  # 8x8 = 64
    report = import_image_folder(path)
    assert sum("8x8 is 64 pixels; an image may have at most 63" in e for e in report.errors) == 6
    assert report.errors[-2:] == ["cats/: empty class (no readable images)", "dogs/: empty class (no readable images)"]
    monkeypatch.setenv("XIL_MAX_IMAGE_PIXELS", "64")
    assert import_image_folder(path).ok
    monkeypatch.setenv("XIL_MAX_DATASET_MB", "0.0003")  # 6 x 1 x 8 x 8 bytes = 384 > 314
    [error] = import_image_folder(path).errors
    assert "6 images of 1x8x8 take" in error and "XIL_MAX_DATASET_MB" in error
    assert import_image_folder(path, resize=(4, 4)).ok  # a smaller resize fits


def test_every_problem_of_every_file_is_in_one_report(tmp_path):
    truncated = png(value=7)[:-30]  # a valid header, the pixels cut off
    entries = {
        **good_entries(),
        "cats/truncated.png": truncated,
        "cats/huge.png": huge_png(5000, 5000),
        "dogs/wide.png": png(size=(8, 16)),
        "dogs/garbage.png": b"not an image",
        "dogs/notes.txt": b"hello",
    }
    with Image.open(io.BytesIO(truncated)) as im:
        assert im.size == (8, 8)  # the header alone does not show the damage
    report = import_image_folder(make_zip(tmp_path / "mixed.zip", entries))
    assert not report.ok
    firsts = sorted(e.split(":")[0] for e in report.errors)
    assert firsts == ["cats/huge.png", "cats/truncated.png", "dogs/garbage.png", "dogs/notes.txt", "dogs/wide.png"]


# --- text files --------------------------------------------------------------------------------


def test_an_over_long_text_is_refused_by_row_with_the_setting_named(monkeypatch):
    rows = "text,label\n" + "short one,a\n" + ("x" * 20_000) + ",b\n" + "fine,b\n" + "another,a\n"
    report = import_text_file("long.csv", rows.encode())
    assert not report.ok
    assert report.errors == [
        "row 2: text of 20,000 characters, more than the 5,000 a text may have (XIL_MAX_TEXT_CHARS); "
        "shorten it or raise the cap"
    ]
    monkeypatch.setenv("XIL_MAX_TEXT_CHARS", "20000")
    assert import_text_file("long.csv", rows.encode()).ok


def test_text_file_size_and_gzip_bombs_are_capped(tmp_path, monkeypatch):
    monkeypatch.setenv("XIL_MAX_UPLOAD_MB", "1")
    big = ("text,label\n" + "word,a\nword,b\n" * 100_000).encode()  # 1.4 MB
    report = import_text_file("big.csv", big)
    assert not report.ok and "more than the 1.0 MB a text file may have (XIL_MAX_UPLOAD_MB)" in report.errors[0]
    (tmp_path / "big.csv").write_bytes(big)
    assert "XIL_MAX_UPLOAD_MB" in import_text_file(tmp_path / "big.csv").errors[0]
    bomb = gzip.compress(b"text,label\n" + b"a" * (50 * MB))
    assert len(bomb) < MB
    report = import_text_file("bomb.csv.gz", bomb)
    assert report.errors == ["bomb.csv.gz: unpacks to more than the 1.0 MB a text file may have (XIL_MAX_UPLOAD_MB)"]
    assert "not a readable gzip file" in import_text_file("bad.csv.gz", b"\x1f\x8b junk").errors[0]


def test_parquet_rows_are_checked_from_the_metadata(monkeypatch):
    import pyarrow as pa
    import pyarrow.parquet as pq

    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist([{"text": "same words " * 100, "label": i % 2} for i in range(3000)]), buffer)
    monkeypatch.setenv("XIL_MAX_UPLOAD_MB", "1")
    report = import_text_file("t.parquet", buffer.getvalue())
    assert len(buffer.getvalue()) < 20_000  # one dictionary entry, 3000 references to it
    assert report.errors == [
        "t.parquet: 3.1 MB once decoded, more than the 1.0 MB a text file may have (XIL_MAX_UPLOAD_MB)"
    ]
    monkeypatch.setenv("XIL_MAX_UPLOAD_MB", "4")
    assert import_text_file("t.parquet", buffer.getvalue()).ok


def test_file_columns_name_the_columns_to_pick_from():
    columns = services.text_file_columns
    assert columns("a.csv", b"id,review,stars\n1,good,5\n") == ["id", "review", "stars"]
    assert columns("a.tsv", b"body\tlabel\nx\t1\n") == ["body", "label"]
    jsonl = b'{"sentence": "a", "y": 1}\n{"sentence": "b", "y": 0, "extra": 2}\n'
    assert columns("a.jsonl.gz", gzip.compress(jsonl)) == ["sentence", "y", "extra"]
    assert columns("a.parquet", b"not parquet") == []


# --- prompt files ------------------------------------------------------------------------------


def test_a_latin1_prompt_file_names_the_line_and_the_fix(tmp_path):
    good = json.dumps({"prompt": "Why?", "candidates": ["a", "b"]})
    path = tmp_path / "prompts.jsonl"
    path.write_bytes(
        (good + "\n" + json.dumps({"prompt": "Café?", "candidates": ["a", "b"]}, ensure_ascii=False) + "\n").encode(
            "latin-1"
        )
    )
    with pytest.raises(PromptFileError) as caught:
        load_prompt_file(path)
    [error] = caught.value.errors
    assert error.startswith(f"{path}:2: bytes that are not UTF-8 at column 16")
    assert "save the file as UTF-8" in error and "iconv -f latin1 -t utf-8" in error


def test_prompt_files_have_a_size_cap_and_a_length_cap(tmp_path, monkeypatch):
    path = tmp_path / "p.jsonl"
    rows = [
        {"prompt": "p" * 6000, "candidates": ["a", "b"]},
        {"prompt": "ok", "candidates": ["a", "b" * 5001]},
        {"prompt": "ok", "candidates": ["a", "b"]},
    ]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    with pytest.raises(PromptFileError) as caught:
        load_prompt_file(path)
    assert caught.value.errors == [
        f"{path}:1: 'prompt' has 6,000 characters, more than the 5,000 a text may have (XIL_MAX_TEXT_CHARS)",
        f"{path}:2: candidate 2 has 5,001 characters, more than the 5,000 a text may have (XIL_MAX_TEXT_CHARS)",
    ]
    monkeypatch.setenv("XIL_MAX_UPLOAD_MB", "0.001")
    with pytest.raises(PromptFileError, match="a prompt file may have \\(XIL_MAX_UPLOAD_MB\\)"):
        load_prompt_file(path)
    monkeypatch.setenv("XIL_MAX_UPLOAD_MB", "1")
    gz = tmp_path / "bomb.jsonl.gz"
    gz.write_bytes(gzip.compress(b"\n" * (10 * MB)))
    with pytest.raises(PromptFileError, match="unpacks to more than"):
        load_prompt_file(gz)


def test_prompts_only_files_for_a_generator_are_checked_the_same_way(tmp_path):
    from xil.ranking.prompts import load_prompts_only

    path = tmp_path / "q.txt"
    path.write_bytes('How are you?\n\n{"prompt": "Hi"}\ncaf\xe9\n'.encode("latin-1") + b"x" * 6000 + b"\n")
    with pytest.raises(PromptFileError) as caught:
        load_prompts_only(path)
    assert [e.split(": ")[0] for e in caught.value.errors] == [f"{path}:4", f"{path}:5"]
    assert "not UTF-8" in caught.value.errors[0] and "XIL_MAX_TEXT_CHARS" in caught.value.errors[1]


# --- the command line --------------------------------------------------------------------------


def test_cli_imports_a_zip_and_queues_a_first_model(tmp_path):
    path = make_zip(tmp_path / "pets.zip", good_entries())
    result = runner.invoke(app, ["import-folder", str(path)])
    assert result.exit_code == 0, result.output
    assert "imported 6 images into project 'pets'" in result.stdout and "first model queued" in result.stdout
    [project] = services.list_projects()
    [job] = services.list_jobs(project.id)
    assert job.status == "queued" and job.spec["config"]["method"] == "none"


def test_cli_refuses_a_zip_bomb_and_a_prompt_file_in_latin1(tmp_path, monkeypatch):
    monkeypatch.setenv("XIL_MAX_ARCHIVE_MB", "1")
    bomb = make_zip(tmp_path / "bomb.zip", {**good_entries(), "cats/bomb.png": bytes(3 * MB)})
    result = runner.invoke(app, ["import-folder", str(bomb)])
    assert result.exit_code == 1 and "XIL_MAX_ARCHIVE_MB" in result.stderr
    assert "1 problem(s); nothing was imported" in result.stderr and services.list_projects() == []
    prompts = tmp_path / "p.jsonl"
    prompts.write_bytes('{"prompt": "Café?", "candidates": ["a", "b"]}\n'.encode("latin-1"))
    result = runner.invoke(app, ["import-prompts", str(prompts)])
    assert result.exit_code == 1 and f"{prompts}:1: bytes that are not UTF-8" in result.stderr
    assert "Traceback" not in result.output
    monkeypatch.setenv("XIL_MAX_ARCHIVE_MB", "plenty")
    result = runner.invoke(app, ["import-folder", str(bomb)])
    assert result.exit_code == 1 and "XIL_MAX_ARCHIVE_MB must be a positive number" in result.stderr


# --- the Data page -----------------------------------------------------------------------------


@pytest.fixture
def data_page(demo, monkeypatch) -> AppTest:
    monkeypatch.setenv("XIL_START_WORKER", "0")
    at = AppTest.from_file(str(PROJECT_ROOT / "streamlit_app.py"), default_timeout=120)
    at.run()
    at.switch_page("pages/data.py").run()
    assert not at.exception, at.exception
    return at


def _button(at: AppTest, label: str):
    return next(b for b in at.button if b.label == label)


def test_data_page_imports_a_zip_selects_the_project_and_keeps_the_message(data_page, tmp_path):
    at = data_page
    zipped = make_zip(tmp_path / "pets.zip", good_entries()).read_bytes()
    at.file_uploader[0].set_value(("pets.zip", zipped, "application/zip")).run()
    _button(at, "Import").click().run()
    assert not at.exception, at.exception
    project = next(p for p in services.list_projects() if p.name == "pets")
    assert at.session_state["project_id"] == project.id
    assert at.sidebar.selectbox[0].value == project.id
    assert [j.spec["config"]["method"] for j in services.list_jobs(project.id)] == ["none"]
    assert any("Imported 6 images into project" in s.value for s in at.success)
    at.text_input[0].input("something else").run()  # another click: the message stays
    assert any("Imported 6 images into project" in s.value for s in at.success)


def test_data_page_picks_text_columns_from_the_file(data_page):
    at = data_page
    csv = b"id,review,stars\n" + b"".join(f"{i},review number {i},{i % 2}\n".encode() for i in range(10))
    at.file_uploader[1].set_value(("reviews.csv", csv, "text/csv")).run()
    pickers = {s.label: s for s in at.selectbox if s.label.endswith("column") or "Id column" in s.label}
    assert pickers["Text column"].options == ["id", "review", "stars"]
    assert pickers["Text column"].value == "review"  # no "text" column: the first text-like name
    pickers["Label column"].set_value("stars")
    pickers["Id column (optional)"].set_value("id")
    at.run()
    _button(at, "Import text").click().run()
    assert not at.exception, at.exception
    project = next(p for p in services.list_projects() if p.name == "reviews")
    assert project.class_names == ["0", "1"] and at.session_state["project_id"] == project.id
    assert services.dataset(project.id).ids[:2] == ["0", "1"]


def test_data_page_lists_a_bad_zips_problems(data_page, tmp_path):
    at = data_page
    entries = {**good_entries(), "../evil.png": png()}
    with zipfile.ZipFile(tmp_path / "evil.zip", "w") as z:
        for name, data in entries.items():
            z.writestr(name if name.startswith("..") else f"pets/{name}", data)
    at.file_uploader[0].set_value(("evil.zip", (tmp_path / "evil.zip").read_bytes(), "application/zip")).run()
    _button(at, "Import").click().run()
    assert any(e.value.startswith("1 problem") and "nothing was imported" in e.value for e in at.error)
    assert any("../evil.png" in c.value for c in at.code)
    assert [p.name for p in services.list_projects() if p.name == "evil"] == []
