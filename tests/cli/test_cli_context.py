"""Prompts longer than the judge's context are ``too_long`` and never run: a local model in
logprob mode (its ``max_position_embeddings``), through the real CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from ultrajudge.cli import _register, app

_register()
HUGE = "lorem ipsum dolor sit amet, " * 1_800  # 50,400 characters: ~50 KB


def _data(tmp_path: Path) -> Path:
    rows = [
        {"instruction": "Hi?", "completions": ["Hello.", "Hey there."]},
        {"instruction": "Summarise.", "completions": ["Short.", HUGE]},
        {"instruction": "Bye?", "completions": ["Bye."]},
    ]
    path = tmp_path / "in.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("per_completion", "expected"),
    [(True, [["ok", "ok"], ["ok", "too_long"], ["ok"]]),
     (False, [["ok", "ok"], ["too_long", "too_long"], ["ok"]])],  # one prompt for the row
)  # fmt: skip
def test_logprob_mode_marks_an_over_long_prompt_too_long(
    tmp_path: Path, tiny_model_dir: Path, per_completion: bool, expected: list
) -> None:
    assert len(HUGE.encode()) > 50_000
    out = tmp_path / "scored.jsonl"
    args = ["score", str(_data(tmp_path)), "--judge", str(tiny_model_dir), "--mode", "logprob",
            "--min-mass", "0", "-O", "dtype=float32", "-O", "device=cpu", "--out", str(out),
            "--no-progress", *(["--per-completion"] if per_completion else [])]  # fmt: skip
    result = CliRunner().invoke(app, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["rating_status"] for r in rows] == expected
    for row in rows:
        for status, value, raw in zip(row["rating_status"], row["ratings"], row["rating_raw"]):
            if status == "too_long":
                assert value is None
                assert raw.startswith("too_long: the prompt has ")
                assert "the model reads 8192; not scored" in raw
                assert int(raw.split()[4]) > 8192  # the prompt's tokens, counted
            else:
                assert 1 <= value <= 5
    record = json.loads((tmp_path / "scored.jsonl.run.json").read_text())
    failed = 1 if per_completion else 2
    assert record["summary"]["statuses"] == {"ok": 5 - failed, "too_long": failed}
