"""requirements.txt (the pinned install set) and pyproject.toml (the package metadata) agree."""

from __future__ import annotations

import tomllib
from packaging.requirements import Requirement

from tests.conftest import PROJECT_ROOT


def _requirements() -> dict[str, Requirement]:
    lines = (PROJECT_ROOT / "requirements.txt").read_text().splitlines()
    reqs = [Requirement(line.split("#")[0]) for line in lines if line.split("#")[0].strip()]
    return {r.name: r for r in reqs}


def _metadata() -> dict[str, Requirement]:
    project = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text())["project"]
    return {r.name: r for r in map(Requirement, project["dependencies"])}


def test_requirements_and_pyproject_list_the_same_packages_and_ranges():
    pinned, metadata = _requirements(), _metadata()
    assert set(pinned) == set(metadata)
    for name in set(pinned) - {"torch"}:
        assert pinned[name].specifier == metadata[name].specifier, name


def test_the_pinned_torch_lies_in_the_package_range():
    [pin] = _requirements()["torch"].specifier
    assert pin.operator == "==" and _metadata()["torch"].specifier.contains(pin.version)
    assert _metadata()["torch"].specifier.contains("2.11.0")  # the GPU machine's preinstalled torch
