"""Every dependency range in ``pyproject.toml`` states the major versions supported: a floor
and a cap at the next major (issue 15), except the few left open on purpose; and the
versions this suite runs against lie inside the ranges."""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest
from packaging.requirements import Requirement

tomllib = pytest.importorskip("tomllib")

ROOT = Path(__file__).resolve().parents[1]
#: Left uncapped on purpose (the reasons are in pyproject.toml).
UNCAPPED = {"pyarrow", "ruff", "mypy", "setuptools"}


def _requirements() -> list[tuple[str, Requirement]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    found = [("core", Requirement(r)) for r in project["dependencies"]]
    for extra, reqs in project["optional-dependencies"].items():
        found += [(extra, Requirement(r)) for r in reqs]
    return found


REQUIREMENTS = _requirements()


@pytest.mark.parametrize(
    ("where", "req"), REQUIREMENTS, ids=[f"{w}:{r.name}" for w, r in REQUIREMENTS]
)
def test_each_range_has_a_floor_and_a_cap(where: str, req: Requirement) -> None:
    operators = {spec.operator for spec in req.specifier}
    assert ">=" in operators, f"{req} ({where}) has no floor"
    if req.name in UNCAPPED:
        assert "<" not in operators
    else:
        (cap,) = [s.version for s in req.specifier if s.operator == "<"]
        assert "." not in cap, f"{req} ({where}): cap at a major version, got <{cap}"


@pytest.mark.parametrize(
    ("where", "req"), REQUIREMENTS, ids=[f"{w}:{r.name}" for w, r in REQUIREMENTS]
)
def test_the_installed_version_is_inside_the_range(where: str, req: Requirement) -> None:
    if req.name == "setuptools":
        pytest.skip("a build tool: test_packaging finds a setuptools >= 77 to build with")
    try:
        installed = importlib.metadata.version(req.name)
    except importlib.metadata.PackageNotFoundError:
        pytest.skip(f"{req.name} is not installed here")
    local = installed.split("+")[0]  # torch's "2.13.0+cpu"
    assert req.specifier.contains(local, prereleases=True), f"{req.name} {installed} not in {req}"
