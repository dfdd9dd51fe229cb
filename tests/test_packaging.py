"""The built wheel: one import name, package data inside, importable without the checkout.

The wheel is built from a copy of the working tree (tracked and untracked-but-not-ignored
files, links kept as links), so the build never writes ``build/`` or ``*.egg-info`` into
the checkout. It is installed with ``--no-deps`` into a fresh venv; the dependencies come
from the directories this interpreter imports them from, listed in a ``.pth`` file of the
fresh venv: a ``.pth`` line only appends a directory to ``sys.path``, it does not process
that directory's own ``.pth`` files, so our editable install (a finder installed by a
``.pth`` there) stays inactive, and the wheel's ``ultrajudge`` comes first on the path.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
#: Core dependencies whose import locations the fresh venv borrows.
PIP = (sys.executable, "-m", "pip", "-q")
DEPENDENCIES = ("datasets", "jinja2", "numpy", "pandas", "pyarrow", "typer", "yaml", "openai")

CHECK = r"""
import importlib, importlib.resources, importlib.util, json, sys
import ultrajudge, ultrajudge.judge, ultrajudge.analysis, ultrajudge.generators
from ultrajudge.judge.templates import load_template

messages = load_template("ultrafeedback/overall").render(instruction="Say hi.", completions=["hi"])
examples = importlib.resources.files("ultrajudge") / "examples" / "feedback.jsonl"
print(json.dumps({
    "ultrajudge": ultrajudge.__file__,
    "judge": ultrajudge.judge.__file__,
    "rendered": "Say hi." in messages[-1].content,
    "examples": sum(1 for _ in examples.open()),
    "editable_finder": any("__editable__" in name for name in sys.modules),
    "bare_judge": importlib.util.find_spec("judge") is not None,
    "bare_analysis": importlib.util.find_spec("analysis") is not None,
}))
importlib.import_module("judge")  # must fail: no top-level judge
"""


def _source_copy(dest: Path) -> Path:
    """The working tree's files (not the ignored ones), links kept as links."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split("\0")
    for name in filter(None, listed):
        src = ROOT / name
        if not src.exists() and not src.is_symlink():  # deleted in the working tree
            continue
        (dest / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, dest / name, follow_symlinks=False)
    return dest


def _modern_setuptools() -> Path:
    """Where a setuptools that reads this pyproject (>= 77: SPDX ``license``) is installed."""
    found = [
        (int(re.match(r"\d*", d.version).group() or 0), Path(str(d.locate_file(""))))
        for d in importlib.metadata.distributions(name="setuptools")
    ]
    good = sorted((v, where) for v, where in found if v >= 77)
    if not good:
        pytest.fail("building the wheel needs setuptools>=77: pip install 'setuptools>=77'")
    return good[-1][1]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    src = _source_copy(tmp_path_factory.mktemp("src"))
    out = tmp_path_factory.mktemp("wheel")
    env = {**os.environ, "PYTHONPATH": str(_modern_setuptools()), "PIP_NO_INDEX": "1"}
    subprocess.run(
        [*PIP, "wheel", "--no-deps", "--no-build-isolation", "-w", str(out), str(src)],
        check=True,
        env=env,
        capture_output=True,
    )
    (built,) = out.glob("ultrajudge-*.whl")
    return built


def test_the_wheel_holds_one_import_name_and_its_data(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as zf:
        names = zf.namelist()
        (top_level,) = [n for n in names if n.endswith(".dist-info/top_level.txt")] or [None]
        tops = zf.read(top_level).decode().split() if top_level else []
    roots = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert roots == {"ultrajudge"}
    assert tops in ([], ["ultrajudge"])
    for name in (
        "ultrajudge/judge/scoring.py",
        "ultrajudge/analysis/agreement.py",
        "ultrajudge/generators/evol.py",
        "ultrajudge/prompts/ultrafeedback/overall.jinja2",
        "ultrajudge/prompts/pairwise/mt_bench.jinja2",
        "ultrajudge/examples/feedback.jsonl",
        "ultrajudge/examples/pipeline.yaml",
    ):
        assert name in names
    templates = [n for n in names if n.endswith(".jinja2")]
    tracked = list((ROOT / "prompts").rglob("*.jinja2"))
    assert len(templates) == len(tracked) > 10
    assert not [n for n in names if "/tests/" in n or n.startswith("tests/")]


@pytest.mark.slow
def test_a_fresh_venv_with_only_the_wheel_imports_ultrajudge_and_not_judge(
    wheel: Path, tmp_path: Path
) -> None:
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=False).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run(
        [*PIP, "--python", str(python), "install", "--no-deps", "--no-index", str(wheel)],
        check=True,
        capture_output=True,
    )
    (site,) = (env_dir / "lib").glob("python*/site-packages")
    deps = dict.fromkeys(_location(name) for name in DEPENDENCIES)
    (site / "zz_dependencies.pth").write_text("".join(f"{d}\n" for d in deps))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    result = subprocess.run(
        [str(python), "-c", CHECK], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    import json

    report = json.loads(result.stdout.splitlines()[0])
    assert Path(report["ultrajudge"]).is_relative_to(site)
    assert Path(report["judge"]).is_relative_to(site / "ultrajudge" / "judge")
    assert report["rendered"] is True
    assert report["examples"] == 20
    assert report["editable_finder"] is False
    assert report["bare_judge"] is False and report["bare_analysis"] is False
    assert result.returncode == 1
    assert "ModuleNotFoundError: No module named 'judge'" in result.stderr


def _location(module: str) -> Path:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None
    return Path(spec.origin).resolve().parents[1]
