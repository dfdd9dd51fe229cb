"""Each pair filter on constructed data where the right answer is known; the funnel adds up."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from ultrajudge.analysis.filters import (
    DuplicatePromptFilter,
    FilterConfig,
    JuryFilter,
    LengthRatioFilter,
    MarginFilter,
    NearDuplicateFilter,
    OutlierFilter,
    apply_filters,
)


def _pair(**kw: Any) -> dict[str, Any]:
    base = {
        "prompt": f"prompt {kw.get('source_row', 0)}",
        "chosen": "a good and complete answer",
        "rejected": "a poor answer of similar size",
        "score_chosen": 4.0,
        "score_rejected": 2.0,
        "source_row": 0,
        "spread_chosen": None,
        "spread_rejected": None,
        "mass_chosen": None,
        "mass_rejected": None,
    }
    base.update(kw)
    base["margin"] = base["score_chosen"] - base["score_rejected"]
    return base


def _frame(pairs: list[dict[str, Any]]) -> pd.DataFrame:
    return pd.DataFrame(pairs)


def _kept(frame: pd.DataFrame, f: Any) -> list[int]:
    return list(apply_filters(frame, [f]).kept["source_row"])


def test_margin_filter_keeps_margins_at_the_bound() -> None:
    frame = _frame(
        [
            _pair(source_row=0, score_chosen=3.5, score_rejected=3.0),
            _pair(source_row=1, score_chosen=4.0, score_rejected=3.0),
            _pair(source_row=2, score_chosen=13 / 3, score_rejected=10 / 3),  # 0.99999...
            _pair(source_row=3, score_chosen=5.0, score_rejected=1.0),
        ]
    )
    result = apply_filters(frame, [MarginFilter(1.0)])
    assert list(result.kept["source_row"]) == [1, 2, 3]
    assert list(result.dropped["drop_reason"]) == ["margin 0.5 < 1"]


def test_margin_filter_on_the_lowest_agreeing_judge() -> None:
    frame = _frame(
        [
            _pair(source_row=0, score_chosen__a=5.0, score_rejected__a=1.0, score_chosen__b=3.0, score_rejected__b=2.5),
            _pair(source_row=1, score_chosen__a=5.0, score_rejected__a=2.0, score_chosen__b=4.0, score_rejected__b=2.0),
            _pair(source_row=2, score_chosen__a=5.0, score_rejected__a=2.0, score_chosen__b=None, score_rejected__b=2.0),
        ]
    )  # fmt: skip
    result = apply_filters(frame, [MarginFilter(0.0, min_judge_margin=1.0)])
    assert list(result.kept["source_row"]) == [1]
    assert list(result.dropped["min_judge_margin"]) == [0.5, -np.inf]
    assert result.dropped["drop_reason"].iloc[0] == "lowest judge margin 0.5 < 1"


def _jury_pairs() -> pd.DataFrame:
    rows = []
    for i, (a, b, spread) in enumerate(
        [((5, 1), (4, 2), 0.5), ((5, 1), (3, 3), 1.0), ((5, 1), (2, 4), 2.0)]
    ):
        rows.append(
            _pair(
                source_row=i,
                score_chosen__a=a[0], score_rejected__a=a[1],
                score_chosen__b=b[0], score_rejected__b=b[1],
                spread_chosen=spread, spread_rejected=0.0,
            )
        )  # fmt: skip
    return _frame(rows)


@pytest.mark.parametrize(
    ("order", "max_spread", "kept"),
    [
        ("no-reversal", None, [0, 1]),  # row 2: judge b prefers rejected
        ("unanimous", None, [0]),  # row 1: judge b ties
        ("any", 0.75, [0]),
        ("any", None, [0, 1, 2]),
    ],
)
def test_jury_filter(order: str, max_spread: float | None, kept: list[int]) -> None:
    assert _kept(_jury_pairs(), JuryFilter(order, max_spread)) == kept  # type: ignore[arg-type]


def test_jury_filters_need_a_jury() -> None:
    with pytest.raises(ValueError, match="score with a jury"):
        apply_filters(_frame([_pair()]), [JuryFilter("unanimous")])
    with pytest.raises(ValueError, match="score with a jury"):
        apply_filters(_frame([_pair()]), [MarginFilter(0, min_judge_margin=1)])


def test_length_ratio_filter() -> None:
    frame = _frame(
        [
            _pair(source_row=0, chosen="x" * 30, rejected="y" * 10),
            _pair(source_row=1, chosen="x" * 31, rejected="y" * 10),
            _pair(source_row=2, chosen="x" * 10, rejected="y" * 100),  # shorter chosen is fine
        ]
    )
    result = apply_filters(frame, [LengthRatioFilter(3.0)])
    assert list(result.kept["source_row"]) == [0, 2]
    assert result.dropped["length_ratio"].tolist() == [3.1]


def test_near_duplicate_pair_is_caught() -> None:
    frame = _frame(
        [
            _pair(source_row=0, chosen="The cat sat on the mat today", rejected="the cat sat on the mat, yesterday"),
            _pair(source_row=1, chosen="Paris is the capital of France.", rejected="It is Lyon, I think."),
            _pair(source_row=2, chosen="Same words here!", rejected="same words HERE"),
        ]
    )  # fmt: skip
    result = apply_filters(frame, [NearDuplicateFilter(0.7)])
    assert list(result.kept["source_row"]) == [1]
    assert result.dropped["similarity"].round(3).tolist() == [0.714, 1.0]
    assert result.dropped["drop_reason"].iloc[0] == "lexical similarity 0.714 >= 0.7"


def test_near_duplicates_by_embedding_use_cosine_similarity() -> None:
    vectors = {"a": [1.0, 0.0], "b": [0.96, 0.28], "c": [0.0, 1.0]}
    encoder = lambda texts: np.array([vectors[t] for t in texts])  # noqa: E731
    frame = _frame(
        [
            _pair(source_row=0, chosen="a", rejected="b"),
            _pair(source_row=1, chosen="a", rejected="c"),
        ]
    )
    result = apply_filters(frame, [NearDuplicateFilter(0.9, encoder=encoder)])
    assert list(result.kept["source_row"]) == [1]
    assert result.dropped["similarity"].tolist() == pytest.approx([0.96])


def test_near_duplicates_with_a_local_sentence_transformers_model(
    tmp_path: Path, tiny_model_dir: Path
) -> None:
    st = pytest.importorskip("sentence_transformers", reason="the 'embeddings' extra")
    try:  # sentence-transformers >= 6
        from sentence_transformers.sentence_transformer import modules
    except ImportError:
        from sentence_transformers import models as modules

    transformer = modules.Transformer(str(tiny_model_dir))
    pooling = modules.Pooling(transformer.auto_model.config.hidden_size, pooling_mode="mean")
    st.SentenceTransformer(modules=[transformer, pooling], device="cpu").save(str(tmp_path / "st"))
    frame = _frame(
        [
            _pair(source_row=0, chosen="the cat sat", rejected="the cat sat"),
            _pair(source_row=1, chosen="write python code", rejected="the answer is bad"),
        ]
    )
    config = FilterConfig(embedding_model=str(tmp_path / "st"))
    (only,) = config.filters()
    assert isinstance(only, NearDuplicateFilter) and only.threshold == 0.95
    result = apply_filters(frame, [only])
    assert list(result.kept["source_row"]) == [1]
    assert result.dropped["similarity"].tolist() == pytest.approx([1.0])


def test_missing_sentence_transformers_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "sentence_transformers", None)
    with pytest.raises(ValueError, match=r"pip install 'ultrajudge\[embeddings\]'"):
        apply_filters(_frame([_pair()]), [NearDuplicateFilter(model="some/model")])


def test_duplicate_prompts_keep_the_first_source_row() -> None:
    frame = _frame(
        [
            _pair(source_row=3, prompt="What is 2+2?"),
            _pair(source_row=1, prompt="what is 2 + 2"),
            _pair(source_row=1, prompt="what is 2 + 2", chosen="another pair of row 1"),
            _pair(source_row=2, prompt="What is 3+3?"),
        ]
    )
    result = apply_filters(frame, [DuplicatePromptFilter()])
    assert list(result.kept["source_row"]) == [1, 1, 2]
    assert result.dropped["drop_reason"].tolist() == ["same prompt as source row 1"]


def _population(n: int = 40, seed: int = 0) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    pairs = []
    for i in range(n):
        chosen = " ".join(["word"] * rng.randint(40, 60))
        rejected = " ".join(["word"] * rng.randint(40, 60))
        pairs.append(_pair(source_row=i, chosen=chosen, rejected=rejected, score_chosen=rng.choice([4.0, 5.0]), score_rejected=rng.choice([2.0, 3.0])))  # fmt: skip
    return pairs


@pytest.mark.parametrize("method", ["zscore", "iforest"])
def test_planted_outlier_is_removed_and_its_features_are_kept(method: str) -> None:
    pairs = _population()
    pairs.insert(17, _pair(source_row=99, chosen="word " * 2000, rejected="w", score_chosen=5.0, score_rejected=1.0))  # fmt: skip
    result = apply_filters(_frame(pairs), [OutlierFilter(method, contamination=0.03)])  # type: ignore[arg-type]
    dropped = result.dropped
    assert 99 in set(dropped["source_row"])
    assert 99 not in set(result.kept["source_row"])
    if method == "zscore":
        assert list(dropped["source_row"]) == [99]
    else:
        assert len(dropped) <= 2
    planted = dropped[dropped["source_row"] == 99].iloc[0]
    assert planted["feature_len_chosen"] == 10000 and planted["feature_len_rejected"] == 1
    assert planted["feature_margin"] == 4.0
    assert planted["outlier_score"] == dropped["outlier_score"].max()
    assert "feature_spread" not in dropped  # no jury: no spread feature


def test_outlier_features_include_spread_and_mass_when_present() -> None:
    pairs = _population(12)
    for i, p in enumerate(pairs):
        p.update(spread_chosen=0.1 * i, spread_rejected=0.0, mass_chosen=0.9, mass_rejected=0.8)
    result = apply_filters(_frame(pairs), [OutlierFilter("zscore", threshold=100)])
    assert result.kept["feature_spread"].tolist() == pytest.approx([0.1 * i for i in range(12)])
    assert set(result.kept["feature_mass"]) == {0.8}


def test_robust_z_with_zero_mad_does_not_flag_the_population() -> None:
    pairs = [_pair(source_row=i) for i in range(10)] + [
        _pair(source_row=10, score_chosen=5.0, score_rejected=1.0)
    ]
    result = apply_filters(_frame(pairs), [OutlierFilter("zscore")])
    assert list(result.dropped["source_row"]) == [10]  # MAD 0: mean absolute deviation stands in


def _random_pairs(n: int, seed: int) -> pd.DataFrame:
    rng = random.Random(seed)
    words = ["alpha", "beta", "gamma", "delta", "eps"]
    rows = []
    for i in range(n):
        chosen = " ".join(rng.choices(words, k=rng.randint(1, 30)))
        rejected = (
            chosen if rng.random() < 0.1 else " ".join(rng.choices(words, k=rng.randint(1, 30)))
        )
        sc, sr = rng.randint(2, 5), rng.randint(1, 4)
        sc, sr = max(sc, sr + 0.5), min(sc, sr)
        rows.append(
            _pair(
                source_row=rng.randint(0, n // 2),
                prompt=rng.choice(["p1", "P1!", "p2", "p3", f"u{i}"]),
                chosen=chosen, rejected=rejected + " x", score_chosen=float(sc), score_rejected=float(sr),
                score_chosen__a=float(sc), score_rejected__a=float(sr),
                score_chosen__b=float(rng.randint(1, 5)), score_rejected__b=float(rng.randint(1, 5)),
                spread_chosen=rng.random(), spread_rejected=rng.random(),
            )
        )  # fmt: skip
    return _frame(rows)


@pytest.mark.parametrize("seed", range(5))
def test_the_funnel_adds_up(seed: int) -> None:
    frame = _random_pairs(80, seed)
    config = FilterConfig(
        min_margin=1.0,
        jury_order="no-reversal",
        max_spread=0.9,
        max_length_ratio=3.0,
        near_duplicates=0.6,
        duplicate_prompts=True,
        outliers="iforest",
        contamination=0.1,
    )
    result = apply_filters(frame, config.filters())
    funnel = result.funnel
    assert list(funnel["step"]) == [
        "margin",
        "jury",
        "length_ratio",
        "near_duplicate",
        "duplicate_prompt",
        "outlier",
    ]
    assert funnel["in"].iloc[0] == len(frame)
    assert (funnel["out"] == funnel["in"] - funnel["dropped"]).all()
    assert (funnel["in"].iloc[1:].to_numpy() == funnel["out"].iloc[:-1].to_numpy()).all()
    assert funnel["out"].iloc[-1] == len(result.kept)
    assert funnel["dropped"].sum() == len(result.dropped) == len(frame) - len(result.kept)
    counts = result.dropped["dropped_by"].value_counts().to_dict()
    assert {k: v for k, v in zip(funnel["step"], funnel["dropped"]) if v} == counts
    assert result.dropped["drop_reason"].map(bool).all()


def test_no_filters_and_empty_input() -> None:
    frame = _frame([_pair()])
    result = apply_filters(frame, [])
    assert len(result.kept) == 1 and len(result.dropped) == 0 and len(result.funnel) == 0
    empty = apply_filters(frame.iloc[0:0], FilterConfig(min_margin=1, outliers="zscore").filters())
    assert empty.funnel.to_dict("records") == [
        {"step": "margin", "in": 0, "dropped": 0, "out": 0},
        {"step": "outlier", "in": 0, "dropped": 0, "out": 0},
    ]


def test_filter_config_validates_eagerly() -> None:
    assert FilterConfig().filters() == []
    with pytest.raises(ValueError, match="valid keys are min_margin, min_judge_margin"):
        FilterConfig.from_mapping({"min_margn": 1})
    with pytest.raises(ValueError, match="contamination"):
        FilterConfig.from_mapping({"outliers": "iforest", "contamination": 0.9})
    with pytest.raises(ValueError, match="outlier method"):
        FilterConfig.from_mapping({"outliers": "lof"})
    with pytest.raises(ValueError, match="jury order"):
        FilterConfig.from_mapping({"jury_order": "all"})
