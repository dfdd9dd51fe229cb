"""Numbers and choices are checked while the options are read, before any model loads
(issue 15): every command's bad ``--batch-size``, ``--n``, threshold, rate or choice is one
line naming the option and exit code 2, at once, though the model named would take long
to load."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from ultrajudge.cli import run

# (command words, the option, a bad value); {model} is a real local model folder.
POOL = ["generate", "pool", "{src}", "-o", "{out}", "-g", "model={model}"]
EVOL = ["generate", "evol-instruct", "{src}", "-o", "{out}", "-m", "{model}"]
QUALITY = ["generate", "evol-quality", "{src}", "-o", "{out}", "-m", "{model}"]
SELF = ["generate", "self-instruct", "{src}", "-o", "{out}", "-m", "{model}"]
MAGPIE = ["generate", "magpie", "{out}", "-m", "{model}", "--system", "Be kind."]
SCORE = ["score", "{src}", "-o", "{out}", "-j", "{model}"]
PAIRWISE = ["pairwise", "{src}", "-o", "{out}", "-j", "{model}"]
PAIRS = ["pairs", "{src}", "-o", "{out}"]
COMPARE = ["compare", "{src}", "{src}"]
META = ["meta-eval", "mt_bench", "-j", "{model}", "--data", "{src}"]

CASES = [
    (POOL, "--batch-size", "0"),
    (POOL, "--batch-size", "-3"),
    (POOL, "--max-retries", "-1"),
    (POOL, "--n", "0"),
    (POOL, "--similarity-threshold", "1.5"),
    (POOL, "--max-new-tokens", "0"),
    (EVOL, "--batch-size", "0"),
    (EVOL, "--batch-size", "-3"),
    (EVOL, "--evolutions", "0"),
    (EVOL, "--mutation", "harder"),
    (EVOL, "--top-p", "0"),
    (EVOL, "--top-p", "1.5"),
    (EVOL, "--temperature", "-0.5"),
    (EVOL, "--min-length-ratio", "-1"),
    (QUALITY, "--batch-size", "-3"),
    (QUALITY, "--aspect", "beauty"),
    (QUALITY, "--evolutions", "0"),
    (SELF, "--batch-size", "0"),
    (SELF, "--n", "0"),
    (SELF, "--limit", "0"),
    (MAGPIE, "--batch-size", "0"),
    (MAGPIE, "--turns", "0"),
    (MAGPIE, "--n", "-1"),
    (MAGPIE, "--template-family", "llama2"),
    (MAGPIE, "--reply-max-new-tokens", "0"),
    (MAGPIE, "--reply-temperature", "-1"),
    (SCORE, "--batch-size", "0"),
    (SCORE, "--batch-size", "-3"),
    (SCORE, "--max-retries", "-1"),
    (SCORE, "--max-failure-rate", "1.5"),
    (SCORE, "--executor", "spark"),
    (PAIRWISE, "--batch-size", "0"),
    (PAIRWISE, "--max-failure-rate", "-0.1"),
    (PAIRS, "--strategy", "best"),
    (PAIRS, "--format", "chatml"),
    (PAIRS, "--min-margin", "-1"),
    (PAIRS, "--min-judge-margin", "-1"),
    (PAIRS, "--jury-order", "majority"),
    (PAIRS, "--max-spread", "-1"),
    (PAIRS, "--max-length-ratio", "0"),
    (PAIRS, "--near-duplicates", "2"),
    (PAIRS, "--outliers", "lof"),
    (PAIRS, "--contamination", "0.9"),
    (PAIRS, "--contamination", "many"),
    (PAIRS, "--z-threshold", "0"),
    (PAIRS, "--limit", "-3"),
    (["run", "{src}"], "--executor", "spark"),
    (["run", "{src}"], "--actors", "0"),
    (["run", "{src}"], "--shard-rows", "0"),
    (COMPARE, "--ties", "never"),
    (COMPARE, "--resample", "judge"),
    (COMPARE, "--bootstrap", "-1"),
    (COMPARE, "--price-in", "-1"),
    (["calibrate", "{src}", "--human-col", "h"], "--folds", "1"),
    (META, "--mode", "vote"),
    (META, "--limit", "0"),
]


@pytest.fixture()
def slow_model(tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A real model folder whose loading takes 30 s: a check that ran after the load would
    make the test slow, and the load is recorded."""
    import ultrajudge.judge.backends as backends

    def slow(spec: str, **options: str) -> None:
        time.sleep(30)
        raise AssertionError(f"a model was loaded ({spec}) before the options were checked")

    monkeypatch.setattr(backends, "build_backend", slow)
    return tiny_model_dir


@pytest.mark.parametrize(
    ("words", "option", "value"),
    CASES,
    ids=[f"{' '.join(w[:2]).replace('{src}', '')} {o} {v}" for w, o, v in CASES],
)
def test_a_bad_number_or_choice_is_one_line_before_the_model_loads(
    words: list[str],
    option: str,
    value: str,
    slow_model: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    src = tmp_path / "in.jsonl"
    src.write_text('{"instruction": "q", "completions": ["a", "b"]}\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    fill = {"src": str(src), "out": str(out), "model": str(slow_model)}
    argv = [w.format(**fill) for w in words] + [f"{option}={value}", "--no-progress"]
    if words[0] in ("compare", "calibrate", "pairs"):
        argv.remove("--no-progress")  # these draw no progress bar
    started = time.monotonic()
    code = run(argv)
    seconds = time.monotonic() - started
    lines = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1, lines
    assert lines[0].startswith(f"error: Invalid value for '{option}'"), lines[0]
    assert seconds < 5, f"took {seconds:.1f} s: the check ran after a model load"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.jsonl"]  # nothing written


def test_the_cli_choices_are_the_library_s() -> None:
    """The choices spelled out in the CLI (so that ``--help`` imports no generator) are the
    library's own."""
    import typing

    from ultrajudge.commands import generate, pairs
    from ultrajudge.generators.evol import ASPECTS, MUTATIONS
    from ultrajudge.generators.magpie import FAMILIES

    assert generate.MUTATION_CHOICES == MUTATIONS
    assert generate.ASPECT_CHOICES == ASPECTS
    hints = typing.get_type_hints(generate.magpie, include_extras=True)
    family = typing.get_args(typing.get_args(hints["template_family"])[0])[0]
    assert set(typing.get_args(family)) == set(FAMILIES)
    from ultrajudge.analysis.pairs import STRATEGIES

    strategy = typing.get_args(typing.get_type_hints(pairs.pairs, include_extras=True)["strategy"])
    assert typing.get_args(strategy[0]) == STRATEGIES


def test_good_values_at_the_edges_are_accepted(tmp_path: Path) -> None:
    """The bounds are inclusive where the option allows it (a similarity threshold of 1,
    no retries)."""
    src = tmp_path / "in.jsonl"
    src.write_text('{"instruction": "Say hi."}\n', encoding="utf-8")
    answers = tmp_path / "answers.jsonl"
    answers.write_text('{"output": "hi"}\n', encoding="utf-8")
    out = tmp_path / "out.jsonl"
    argv = ["generate", "pool", str(src), "-o", str(out), "-g", f"model=scripted:{answers}"]
    assert run([*argv, "--similarity-threshold", "1", "--max-retries", "0", "--no-progress"]) == 0
    (row,) = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert row["instruction"] == "Say hi." and row["completions"] == ["hi"]
    assert row["near_duplicate"] == [False]
