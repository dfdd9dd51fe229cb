"""The Python API: ``Dataset.map(Judge(...), batched=True)`` resumable through the store with a
stable fingerprint, ``PairwiseJudge`` in TRL's shape, the lazy top-level exports."""

from __future__ import annotations

import doctest
import pickle
import pydoc
import re
import subprocess
import sys
from pathlib import Path

import pytest
from datasets import load_dataset
from datasets.fingerprint import Hasher

import ultrajudge
from ultrajudge import api
from ultrajudge.api import Judge, PairwiseJudge
from ultrajudge.judge.backends.scripted import ScriptedBackend
from ultrajudge.judge.io import load_rows

EXAMPLES = Path(__file__).resolve().parents[1] / "ultrajudge" / "examples"
_RESPONSE = re.compile(r"\[Start of Assistant ([AB])'s answer\]\n(.*?)\n\[End of", re.S)


def test_dataset_map_scores_the_examples_then_reruns_from_the_store(tmp_path: Path) -> None:
    ds = load_dataset("json", data_files=str(EXAMPLES / "feedback.jsonl"), split="train")
    store = tmp_path / "results.sqlite"
    judge = Judge("scripted:auto", store=store, batch_size=4)
    scored = ds.map(judge, batched=True, batch_size=8)
    calls = len(judge.backend.calls)  # type: ignore[attr-defined]
    assert calls == len(ds) == 20  # one prompt per instruction
    assert scored.column_names == [*ds.column_names, "ratings", "rationales", "rating_status", "judge", "rating_raw"]  # fmt: skip
    # The same values as `ultrajudge score` writes (same library functions, same keys).
    from typer.testing import CliRunner

    from ultrajudge.cli import _register, app

    _register()
    out = tmp_path / "cli.jsonl"
    args = ["score", str(EXAMPLES / "feedback.jsonl"), "-j", "scripted:auto", "-o", str(out)]
    result = CliRunner().invoke(app, [*args, "--store", str(store), "--no-progress"])
    assert result.exit_code == 0, result.output
    assert "20 from the store" in result.output
    assert load_rows(str(out))["ratings"] == scored["ratings"]
    # A new judge on the same store, a new map without datasets' cache: zero judge calls.
    again = Judge("scripted:auto", store=store)
    rescored = ds.map(again, batched=True, load_from_cache_file=False)
    assert again.backend.calls == []  # type: ignore[attr-defined]
    assert rescored["ratings"] == scored["ratings"]
    assert rescored["rating_status"] == scored["rating_status"]
    statuses = {s for row in scored["rating_status"] for s in row}
    assert statuses == {"ok"} and len(scored["ratings"][0]) == len(ds[0]["completions"])


def test_the_fingerprint_is_the_judges_identity_not_its_closure(tmp_path: Path) -> None:
    a = Judge("scripted:auto", store=tmp_path / "a.sqlite")
    b = Judge("scripted:auto", store=tmp_path / "a.sqlite")
    other = Judge("scripted:auto", store=tmp_path / "a.sqlite", aspect="honesty")
    assert Hasher.hash(a) == Hasher.hash(b) != Hasher.hash(other)
    assert a.identity() == b.identity() != other.identity()
    clone = pickle.loads(pickle.dumps(a))  # rebuilt from its arguments: a worker process can
    assert clone.identity() == a.identity() and clone is not a
    with pytest.raises(TypeError, match="pass a spec"):
        pickle.dumps(Judge(ScriptedBackend()))


def test_several_aspects_and_named_columns(tmp_path: Path) -> None:
    from datasets import Dataset

    ds = Dataset.from_dict({"prompt": ["Say hi."], "chosen": ["hello"], "rejected": ["hi"]})
    judge = Judge(
        "scripted:auto",
        aspect=["helpfulness", "honesty"],
        instruction_col="prompt",
        completion_cols=["chosen", "rejected"],
    )
    row = ds.map(judge, batched=True)[0]
    assert row["rating_status_helpfulness"] == row["rating_status_honesty"] == ["ok", "ok"]
    assert len(row["ratings"]) == 2 and row["prompt"] == "Say hi."


def _longer_wins(prompt: str) -> str:
    """A consistent judge: the longer answer wins, whichever is shown first."""
    answers = dict(_RESPONSE.findall(prompt))
    if len(answers["A"]) == len(answers["B"]):
        return "Same length.\n[[C]]"
    return f"Longer wins.\n[[{'A' if len(answers['A']) > len(answers['B']) else 'B'}]]"


def test_pairwise_judge_answers_in_trls_shape_whatever_the_order(tmp_path: Path) -> None:
    backend = ScriptedBackend(responder=_longer_wins)
    judge = PairwiseJudge(backend, store=tmp_path / "pw.sqlite")
    prompts = ["Say hi.", "Name a colour.", "Count to two.", "Greet me."]
    pairs = [["hello there", "hi"], ["red", "a deep blue"], ["uno", "one"], ["yo", "hey"]]
    assert judge.judge(prompts, pairs) == [0, 1, -1, 1]
    assert len(backend.calls) == 8  # both orders of each pair
    swapped = [[b, a] for a, b in pairs]
    assert judge.judge(prompts, swapped, shuffle_order=False) == [1, 0, -1, 0]
    assert len(backend.calls) == 8  # the same two orders: all from the store
    assert judge.verdicts(prompts[:1], pairs[:1]) == ["A"]
    with pytest.raises(ValueError, match="one pair"):
        judge.judge(prompts, pairs[:3])


def test_a_position_biased_judge_gets_ties() -> None:
    biased = PairwiseJudge(ScriptedBackend(responder=lambda p: "First.\n[[A]]"))
    assert biased.judge(["Q"], [["x", "yy"]]) == [-1]  # the two orders disagree


def test_top_level_exports_are_lazy_documented_and_complete() -> None:
    code = (
        "import sys, ultrajudge; heavy = ('datasets', 'torch', 'pandas', 'ultrajudge.api'); "
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
    for name in ultrajudge.__all__:
        assert getattr(ultrajudge, name) is not None
        if name != "__version__":
            assert getattr(ultrajudge, name).__doc__, name
    text = pydoc.render_doc(ultrajudge)
    for name in ("Judge", "PairwiseJudge", "compare", "build_pairs", "cohen_kappa"):
        assert name in text
    assert ultrajudge.Judge is Judge and ultrajudge.compare.__module__.endswith("compare")
    with pytest.raises(AttributeError):
        ultrajudge.no_such_name  # noqa: B018


def test_the_api_docstring_examples_run() -> None:
    assert doctest.testmod(api).failed == 0


def test_all_names_exactly_the_lazy_exports() -> None:
    exported = {n for names in ultrajudge._EXPORTS.values() for n in names}
    assert set(ultrajudge.__all__) == exported | {"__version__"}
