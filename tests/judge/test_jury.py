"""Juries: names, reducers, quorum and spread, and scoring a dataset with several judges."""

from __future__ import annotations

import re
from pathlib import Path

import datasets
import pytest

from ultrajudge.judge.backends.scripted import ScriptedBackend, auto_ultrafeedback
from ultrajudge.judge.errors import ConfigError
from ultrajudge.judge.io import Columns
from ultrajudge.judge.jury import (
    Juror,
    Jury,
    jury_from_mapping,
    parse_juror,
    reduce_completion,
    score_with_jury,
    slugify,
)
from ultrajudge.judge.rating import RatingConfig
from ultrajudge.judge.store import ResultStore


def _jury(n: int = 3, **kwargs: object) -> Jury:
    return Jury(tuple(Juror(f"j{i}", f"spec{i}") for i in range(n)), **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("spec", "slug"),
    [
        ("./models/tiny-judge/", "tiny_judge"),
        ("openai:gpt-4o-mini", "openai_gpt_4o_mini"),
        ("scripted:auto", "scripted_auto"),
        ("Qwen/Qwen2.5-1.5B-Instruct", "qwen2_5_1_5b_instruct"),
        ("C:\\models\\Judge", "judge"),
        ("./7b", "j_7b"),
    ],
)
def test_slugify(spec: str, slug: str) -> None:
    assert slugify(spec) == slug


def test_parse_juror_named_and_derived() -> None:
    assert parse_juror("big=openai:gpt-4o", {"concurrency": "4"}) == Juror(
        "big", "openai:gpt-4o", {"concurrency": "4"}
    )
    assert parse_juror("Big-One=./m") == Juror("big_one", "./m")
    assert parse_juror("./models/tiny-judge") == Juror("tiny_judge", "./models/tiny-judge")


def test_jury_rejects_bad_configurations() -> None:
    with pytest.raises(ValueError, match="at least two"):
        _jury(1)
    with pytest.raises(ValueError, match=r"\['a'\] used more than once.*NAME=SPEC"):
        Jury((Juror("a", "x"), Juror("a", "y")))
    with pytest.raises(ValueError, match="reducers are"):
        _jury(reducer="max")
    with pytest.raises(ValueError, match="quorum"):
        _jury(quorum=4)
    with pytest.raises(ValueError, match="column-safe"):
        Juror("has space", "x")


@pytest.mark.parametrize(
    ("reducer", "values", "expected"),
    [
        ("mean", [1, 4, 5], 10 / 3),
        ("median", [1, 4, 5], 4.0),
        ("median", [1, 2, 4, 5], 3.0),
        ("trimmed_mean", [1, 4, 5], 10 / 3),  # floor(0.2 * 3) = 0: nothing trimmed
        ("trimmed_mean", [1, 4, 4, 5, 5], 13 / 3),  # one trimmed at each end
        ("majority", [4, 4, 5], 4.0),
        ("majority", [3, 4, 5], None),  # no most common value
        ("majority", [4, 4, 5, 5], None),
    ],
)
def test_reducers(reducer: str, values: list[int], expected: float | None) -> None:
    jury = _jury(len(values), reducer=reducer)
    value, status, _ = reduce_completion(values, ["ok"] * len(values), jury)
    if expected is None:
        assert (value, status) == (None, "no_majority")
    else:
        assert status == "ok" and value == pytest.approx(expected)


def test_spread_and_quorum() -> None:
    assert reduce_completion([1, 3, 5], ["ok"] * 3, _jury(spread="range"))[2] == 4.0
    assert reduce_completion([1, 3, 5], ["ok"] * 3, _jury())[2] == pytest.approx((8 / 3) ** 0.5)
    # a failed juror: no jury rating unless the quorum allows it
    statuses = ["ok", "parse_error", "ok"]
    assert reduce_completion([2, None, 4], statuses, _jury()) == (None, "parse_error", 1.0)
    assert reduce_completion([2, None, 4], statuses, _jury(quorum=2)) == (3.0, "ok", 1.0)
    assert reduce_completion([2, None, None], ["ok", "na", "missing"], _jury(quorum=2))[:2] == (
        None,
        "na",
    )
    assert reduce_completion([2, None, None], ["ok", "na", "na"], _jury())[2] is None


def test_jury_from_mapping_validates_keys() -> None:
    jury = jury_from_mapping(
        {
            "reducer": "median",
            "trim": "0.25",
            "judges": ["./a", {"name": "b", "model": "scripted:auto", "options": {"log": "x"}}],
        }
    )
    assert jury.names == ["a", "b"] and jury.trim == 0.25
    assert jury.jurors[1].options == {"log": "x"}
    with pytest.raises(ValueError, match="valid keys are judges, reducer, trim, spread, quorum"):
        jury_from_mapping({"judges": ["./a", "./b"], "reduce": "mean"})
    with pytest.raises(ValueError, match="valid keys are name, model, options"):
        jury_from_mapping({"judges": [{"model": "./a", "temp": 1}, "./b"]})


def _shift(by: int):
    def respond(prompt: str) -> str:
        out = auto_ultrafeedback(prompt)
        return re.sub(
            r"Rating: (\d)", lambda m: f"Rating: {min(5, max(1, int(m.group(1)) + by))}", out
        )

    return respond


@pytest.fixture()
def rows() -> datasets.Dataset:
    return datasets.Dataset.from_list(
        [
            {"id": "r0", "instruction": "Say hi.", "completions": ["hi", "hello", "yo"]},
            {"id": "r1", "instruction": "Count to 3.", "completions": ["1 2 3", "one"]},
            {"id": "r2", "instruction": "Name a colour.", "completions": ["red", "blue"]},
        ]
    )


def test_score_with_jury_keeps_every_judge_and_resumes(
    tmp_path: Path, rows: datasets.Dataset
) -> None:
    backends = {
        "up": ScriptedBackend(responder=_shift(1), id="scripted:up"),
        "same": ScriptedBackend(id="scripted:same"),
        "down": ScriptedBackend(responder=_shift(-1), id="scripted:down"),
    }
    jury = Jury(tuple(Juror(n, n) for n in backends), reducer="median")
    with ResultStore(tmp_path / "s.sqlite") as store:
        scored, summaries = score_with_jury(
            rows,
            jury,
            columns=Columns(),
            configs=[RatingConfig()],
            store=store,
            progress=False,
            loader=lambda spec, **_: backends[spec],
        )
    assert [len(b.calls) for b in backends.values()] == [3, 3, 3]
    assert {n: s.made_now for n, s in summaries.items()} == {"up": 3, "same": 3, "down": 3}
    for name in backends:
        for prefix in ("ratings", "rationales", "rating_status", "judge", "rating_raw"):
            assert f"{prefix}__{name}" in scored.column_names
    assert scored.column_names[:3] == ["id", "instruction", "completions"]
    for row in scored:
        for k, value in enumerate(row["ratings"]):
            per_judge = sorted(row[f"ratings__{n}"][k] for n in backends)
            assert value == per_judge[1]  # the median of three
        assert row["judge"] == "jury:median(up, same, down)"
        assert row["judge__up"].startswith("scripted:up | ")
        assert set(row["rating_status"]) == {"ok"}
        assert all(s is not None and s >= 0 for s in row["jury_spread"])

    # a rerun (with the scored output as input: its old columns are replaced) asks nobody
    with ResultStore(tmp_path / "s.sqlite") as store:
        again, summaries = score_with_jury(
            scored,
            jury,
            columns=Columns(),
            configs=[RatingConfig()],
            store=store,
            progress=False,
            loader=lambda spec, **_: backends[spec],
        )
    assert [len(b.calls) for b in backends.values()] == [3, 3, 3]
    assert all(s.from_store == 3 for s in summaries.values())
    assert again.column_names == scored.column_names
    assert again["ratings"] == scored["ratings"]


def test_a_failed_juror_rating_fails_the_jury_rating(
    tmp_path: Path, rows: datasets.Dataset
) -> None:
    broken = ScriptedBackend(responder=lambda p: "I cannot rate this.", id="scripted:broken")
    backends = {"ok": ScriptedBackend(), "broken": broken}
    jury = Jury((Juror("ok", "ok"), Juror("broken", "broken")))
    with ResultStore(tmp_path / "s.sqlite") as store:
        scored, _ = score_with_jury(
            rows,
            jury,
            columns=Columns(),
            configs=[RatingConfig(max_retries=0)],
            store=store,
            progress=False,
            loader=lambda spec, **_: backends[spec],
        )
    for row in scored:
        assert all(v is None for v in row["ratings"])
        assert set(row["rating_status"]) == set(row["rating_status__broken"]) != {"ok"}
        assert all(v is not None for v in row["ratings__ok"])


def test_one_judge_twice_is_refused_before_it_shares_its_judgments(
    tmp_path: Path, rows: datasets.Dataset
) -> None:
    """Two jurors that are one judge would read each other's judgments from the store and
    agree perfectly: the same spec and options are refused when the jury is built, and
    specs that load to one judge id (here ``x`` and ``y``) when the second loads, before
    it judges anything."""
    with pytest.raises(ConfigError, match="jurors 'a' and 'b' are the same judge"):
        Jury((Juror("a", "./m", {"dtype": "float32"}), Juror("b", "./m", {"dtype": "float32"})))
    Jury((Juror("a", "./m", {"dtype": "float32"}), Juror("b", "./m", {"dtype": "bfloat16"})))
    backends = {"x": ScriptedBackend(id="scripted:one"), "y": ScriptedBackend(id="scripted:one")}
    jury = Jury((Juror("a", "x"), Juror("b", "y")))
    same = r"jurors 'a' and 'b' are the same judge \(scripted:one\)"
    with ResultStore(tmp_path / "s.sqlite") as store, pytest.raises(ConfigError, match=same):
        score_with_jury(rows, jury, columns=Columns(), configs=[RatingConfig()], store=store,
                        progress=False, loader=lambda spec, **_: backends[spec])  # fmt: skip
    assert [len(b.calls) for b in backends.values()] == [3, 0]


def test_a_seeded_scripted_judge_is_another_judge() -> None:
    """``scripted:auto`` with ``-O seed=N``: its own id and its own stable ratings (a demo
    jury's second member); seed 0 is ``scripted:auto`` itself."""
    from ultrajudge.judge.backends import build_backend
    from ultrajudge.judge.types import GenerationParams

    plain, zero, one = (
        build_backend("scripted:auto", **o) for o in ({}, {"seed": "0"}, {"seed": "1"})
    )
    assert (plain.id, zero.id, one.id) == ("scripted:auto", "scripted:auto", "scripted:auto:seed=1")
    prompts = [f"#### Text 1\nanswer {i}\n#### Text 2\nother {i}" for i in range(20)]
    texts = {b.id: [c.text for c in b.complete(prompts, GenerationParams())] for b in (plain, one)}
    assert texts["scripted:auto"] == [c.text for c in zero.complete(prompts, GenerationParams())]
    assert texts["scripted:auto"] != texts["scripted:auto:seed=1"]
    assert all(t.count("Rating: ") == 2 for t in texts["scripted:auto:seed=1"])  # well formed
    assert one.complete(prompts[:1], GenerationParams())[0].text == texts["scripted:auto:seed=1"][0]
    for bad in ("-1", "x", "1.5"):
        with pytest.raises(ConfigError, match="seed must be a whole number >= 0"):
            build_backend("scripted:auto", seed=bad)
