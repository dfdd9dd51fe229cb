"""The project's own ``transformers`` calls raise no deprecation warning (issue 15): the
generate path (packed prefill into a static cache handed to ``generate``, greedy and
sampled), the logprob paths (teacher-forced positions and next-token distributions) and
loading, on the tiny model, with every DeprecationWarning and FutureWarning recorded."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import pytest

from ultrajudge.cli import run

ROWS = [
    {"instruction": "Say hi.", "completions": ["hi", "hello there"]},
    {"instruction": "Add 2 and 2.", "completions": ["4", "5", "four"]},
]


def _deprecations(caught: list[warnings.WarningMessage]) -> list[str]:
    return [
        f"{w.category.__name__} at {w.filename}:{w.lineno}: {w.message}"
        for w in caught
        if issubclass(w.category, DeprecationWarning | FutureWarning)
    ]


@pytest.mark.parametrize(
    "mode",
    [
        ["--mode", "generate", "--max-new-tokens", "6"],
        ["--mode", "generate", "--max-new-tokens", "6", "--temperature", "0.8"],
        ["--mode", "logprob"],
        ["--mode", "logprob", "--per-completion"],
    ],
    ids=["generate", "sampled", "logprob", "logprob-per-completion"],
)
def test_no_deprecation_warning_from_our_transformers_calls(
    tiny_model_dir: Path, tmp_path: Path, mode: list[str]
) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(r) + "\n" for r in ROWS), encoding="utf-8")
    out = tmp_path / "out.jsonl"
    argv = ["score", str(src), "-o", str(out), "-j", str(tiny_model_dir), *mode]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", DeprecationWarning)
        warnings.simplefilter("always", FutureWarning)
        code = run([*argv, "-O", "dtype=float32", "--max-failure-rate", "1", "--no-progress"])
    assert code == 0
    assert len(out.read_text(encoding="utf-8").splitlines()) == 2  # it ran end to end
    assert _deprecations(caught) == []
