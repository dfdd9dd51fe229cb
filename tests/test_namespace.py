"""One import name: the project's code imports its own packages only as ``ultrajudge.*``.

The folders judge/, analysis/, generators/ and prompts/ sit at the top of the repository
and are linked into ultrajudge/. From a checkout's root they are also reachable as
top-level ``judge`` etc.; one such import would load a second copy of a module under
another name (two registries, two stores of state), so none may exist."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
_OLD_IMPORT = re.compile(
    r"^\s*(?:from|import)\s+(?:judge|analysis|generators|prompts)(?:\.\w+)*(?:\s|$)", re.M
)


def test_no_code_imports_the_bare_folder_names() -> None:
    tracked = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    offenders = [
        f"{name}:{text[: m.start()].count(chr(10)) + 1}"
        for name in tracked
        for text in [(ROOT / name).read_text(encoding="utf-8")]
        for m in _OLD_IMPORT.finditer(text)
    ]
    assert offenders == []


def test_the_subpackages_resolve_inside_ultrajudge() -> None:
    import ultrajudge.analysis
    import ultrajudge.generators
    import ultrajudge.judge
    import ultrajudge.prompts

    for module, folder in [
        (ultrajudge.judge, "judge"),
        (ultrajudge.analysis, "analysis"),
        (ultrajudge.generators, "generators"),
        (ultrajudge.prompts, "prompts"),
    ]:
        assert Path(module.__file__).resolve().parent == ROOT / folder
