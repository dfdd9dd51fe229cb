"""Pair filters: each optional, each counted, each says why it dropped a pair.

A filter looks at the pairs still in the running (a pandas DataFrame, one row per
pair, as :func:`ultrajudge.analysis.pairs.build_pairs` writes them) and returns a
:class:`Verdict`: which pairs it drops, a reason for each, and any values it
computed (similarity, outlier features) so they can be inspected on the dropped
rows. :func:`apply_filters` runs filters in order; a pair is attributed to the
first filter that drops it, so the funnel adds up: each step's ``out`` is
``in - dropped`` and the next step's ``in``.

Filters, in the order :meth:`FilterConfig.filters` applies them:

* :class:`MarginFilter` — ``margin >= min_margin`` on the reduced score, and
  optionally every juror's own margin ``>= min_judge_margin`` (the
  lowest-agreeing judge decides; a juror with no rating fails it);
* :class:`JuryFilter` — drop pairs whose jurors disagree about the order
  (``order="no-reversal"``: some juror rates rejected above chosen;
  ``order="unanimous"``: some juror does not rate chosen strictly above), or
  whose jury spread (the larger of chosen's and rejected's) exceeds ``max_spread``;
* :class:`LengthRatioFilter` — drop pairs whose chosen text is more than
  ``max_ratio`` times longer than the rejected one (characters), a guard
  against length-biased judges;
* :class:`NearDuplicateFilter` — chosen and rejected too similar: lexical
  (:func:`ultrajudge.judge.similarity.lexical_similarity`) by default, cosine similarity of
  sentence-transformers embeddings when a model is named;
* :class:`DuplicatePromptFilter` — the same prompt (case, punctuation and
  spacing ignored) in several source rows: the first row's pairs are kept;
* :class:`OutlierFilter` — IsolationForest or a robust z-score over per-pair
  features (see :data:`FEATURES`), last, so it sees the cleaned population.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar, Literal, Protocol

import numpy as np
import pandas as pd

from ultrajudge.judge.errors import ConfigError
from ultrajudge.judge.similarity import (
    NEAR_DUPLICATE_THRESHOLD,
    lexical_similarity,
    normalise_words,
)

__all__ = [
    "EMBEDDING_THRESHOLD",
    "FEATURES",
    "DuplicatePromptFilter",
    "FilterConfig",
    "FilterResult",
    "JuryFilter",
    "LengthRatioFilter",
    "MarginFilter",
    "NearDuplicateFilter",
    "OutlierFilter",
    "PairFilter",
    "Verdict",
    "apply_filters",
    "pair_features",
]

#: Default cosine similarity at or above which two embedded texts are near-duplicates
#: (paraphrases commonly score 0.8-0.9 with sentence-transformers models).
EMBEDDING_THRESHOLD = 0.95
_EPS = 1e-9  # margins are differences of means: 4.3333 - 3.3333 must count as 1.0


@dataclass(frozen=True)
class Verdict:
    """Which pairs a filter drops (boolean array), why, and values it computed."""

    drop: np.ndarray
    reason: Sequence[str]
    info: Mapping[str, Any] = field(default_factory=dict)


class PairFilter(Protocol):
    name: ClassVar[str]

    def __call__(self, pairs: pd.DataFrame) -> Verdict: ...


@dataclass(frozen=True)
class FilterResult:
    """The pairs kept and dropped (with ``dropped_by``/``drop_reason``), and the funnel:
    one row per filter with ``in``, ``dropped`` and ``out`` pair counts."""

    kept: pd.DataFrame
    dropped: pd.DataFrame
    funnel: pd.DataFrame


def _juror_columns(pairs: pd.DataFrame) -> list[str]:
    return [c.removeprefix("score_chosen__") for c in pairs if c.startswith("score_chosen__")]


def _require_jury(pairs: pd.DataFrame, what: str) -> list[str]:
    names = _juror_columns(pairs)
    if not names:
        raise ConfigError(
            f"{what} needs per-judge scores (ratings__<judge> columns): score with a jury "
            "(several --judge) or drop this filter"
        )
    return names


def _judge_margins(pairs: pd.DataFrame, names: Sequence[str]) -> np.ndarray:
    """Pairs x jurors matrix of each juror's own margin (nan where a juror has no rating)."""
    return np.column_stack(
        [
            pairs[f"score_chosen__{n}"].to_numpy(dtype=float)
            - pairs[f"score_rejected__{n}"].to_numpy(dtype=float)
            for n in names
        ]
    )


@dataclass(frozen=True)
class MarginFilter:
    min_margin: float = 0.0
    min_judge_margin: float | None = None
    name: ClassVar[str] = "margin"

    def __call__(self, pairs: pd.DataFrame) -> Verdict:
        margin = pairs["margin"].to_numpy(dtype=float)
        drop = margin < self.min_margin - _EPS
        reason = [f"margin {m:g} < {self.min_margin:g}" for m in margin]
        info: dict[str, Any] = {}
        if self.min_judge_margin is not None:
            names = _require_jury(pairs, "--min-judge-margin")
            per_judge = _judge_margins(pairs, names)
            lowest = np.where(np.isnan(per_judge).any(axis=1), -np.inf, per_judge.min(axis=1))
            info["min_judge_margin"] = lowest
            judge_drop = ~drop & (lowest < self.min_judge_margin - _EPS)
            reason = [
                f"lowest judge margin {low:g} < {self.min_judge_margin:g}" if jd else r
                for r, low, jd in zip(reason, lowest, judge_drop)
            ]
            drop = drop | judge_drop
        return Verdict(drop, reason, info)


@dataclass(frozen=True)
class JuryFilter:
    order: Literal["any", "no-reversal", "unanimous"] = "no-reversal"
    max_spread: float | None = None
    name: ClassVar[str] = "jury"

    def __post_init__(self) -> None:
        if self.order not in ("any", "no-reversal", "unanimous"):
            raise ConfigError(
                f"jury order must be any, no-reversal or unanimous, got {self.order!r}"
            )

    def __call__(self, pairs: pd.DataFrame) -> Verdict:
        names = _require_jury(pairs, "the jury filter")
        diffs = _judge_margins(pairs, names)
        reversed_ = np.asarray((diffs < 0).any(axis=1), bool)
        not_above = np.asarray((~(diffs > 0)).any(axis=1), bool)  # a tie or a missing rating
        drop = {
            "any": np.zeros(len(pairs), bool),
            "no-reversal": reversed_,
            "unanimous": not_above,
        }[self.order].copy()
        reason = [
            "a judge prefers rejected" if r else "a judge does not prefer chosen" for r in reversed_
        ]
        spread = np.fmax(
            pairs["spread_chosen"].to_numpy(dtype=float),
            pairs["spread_rejected"].to_numpy(dtype=float),
        )
        if self.max_spread is not None:
            wide = ~drop & (spread > self.max_spread + _EPS)
            reason = [
                f"jury spread {s:g} > {self.max_spread:g}" if w else r
                for r, s, w in zip(reason, spread, wide)
            ]
            drop |= wide
        return Verdict(drop, reason, {"jury_spread": spread})


def _lengths(pairs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    return (
        pairs["chosen"].str.len().to_numpy(dtype=float),
        pairs["rejected"].str.len().to_numpy(dtype=float),
    )


@dataclass(frozen=True)
class LengthRatioFilter:
    max_ratio: float
    name: ClassVar[str] = "length_ratio"

    def __post_init__(self) -> None:
        if self.max_ratio <= 0:
            raise ConfigError(f"max length ratio must be > 0, got {self.max_ratio}")

    def __call__(self, pairs: pd.DataFrame) -> Verdict:
        chosen, rejected = _lengths(pairs)
        ratio = chosen / np.maximum(rejected, 1)
        drop = ratio > self.max_ratio + _EPS
        reason = [f"chosen {r:.2f}x longer than rejected > {self.max_ratio:g}" for r in ratio]
        return Verdict(drop, reason, {"length_ratio": ratio})


Encoder = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class NearDuplicateFilter:
    threshold: float = NEAR_DUPLICATE_THRESHOLD
    model: str | None = None  # a sentence-transformers model: cosine similarity of embeddings
    encoder: Encoder | None = field(default=None, compare=False, repr=False)
    name: ClassVar[str] = "near_duplicate"

    def __post_init__(self) -> None:
        if not 0 <= self.threshold <= 1:
            raise ConfigError(f"near-duplicate threshold must be in [0, 1], got {self.threshold}")

    def __call__(self, pairs: pd.DataFrame) -> Verdict:
        chosen, rejected = list(pairs["chosen"]), list(pairs["rejected"])
        if self.model is None and self.encoder is None:
            sim = np.array([lexical_similarity(a, b) for a, b in zip(chosen, rejected)], float)
        else:
            encode = self.encoder or _sentence_encoder(self.model or "")
            sim = _cosine(encode(chosen), encode(rejected)) if len(chosen) else np.zeros(0)
        drop = sim >= self.threshold
        kind = "embedding" if self.model or self.encoder else "lexical"
        reason = [f"{kind} similarity {s:.3f} >= {self.threshold:g}" for s in sim]
        return Verdict(drop, reason, {"similarity": sim})


def _cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    a = np.asarray(a, float)
    b = np.asarray(b, float)
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    return np.einsum("ij,ij->i", a, b) / np.where(norms == 0, 1, norms)


def _sentence_encoder(model: str) -> Encoder:
    try:
        from sentence_transformers import SentenceTransformer
    except ModuleNotFoundError:
        raise ConfigError(
            f"embedding similarity with {model!r} needs sentence-transformers: "
            "pip install 'ultrajudge[embeddings]' (or leave out --embedding-model for lexical)"
        ) from None
    encoder = SentenceTransformer(model)
    return lambda texts: encoder.encode(texts, batch_size=64, convert_to_numpy=True)


@dataclass(frozen=True)
class DuplicatePromptFilter:
    name: ClassVar[str] = "duplicate_prompt"

    def __call__(self, pairs: pd.DataFrame) -> Verdict:
        keys = [" ".join(normalise_words(p)) for p in pairs["prompt"]]
        first_row: dict[str, int] = {}
        for key, row in zip(keys, pairs["source_row"]):
            first_row[key] = min(first_row.get(key, row), row)
        drop = np.array([first_row[k] != r for k, r in zip(keys, pairs["source_row"])], bool)
        reason = [f"same prompt as source row {first_row[k]}" for k in keys]
        return Verdict(drop, reason)


#: Per-pair outlier features: ``feature_<name>`` columns. ``spread`` (larger jury spread of
#: chosen and rejected) and ``mass`` (smaller logprob mass) only when the data has them.
FEATURES = ("margin", "spread", "len_chosen", "len_rejected", "length_ratio", "mass")


def pair_features(pairs: pd.DataFrame) -> pd.DataFrame:
    """The outlier features of every pair (lengths in characters)."""
    chosen, rejected = _lengths(pairs)
    frame = pd.DataFrame(
        {
            "feature_margin": pairs["margin"].to_numpy(dtype=float),
            "feature_len_chosen": chosen,
            "feature_len_rejected": rejected,
            "feature_length_ratio": chosen / np.maximum(rejected, 1),
        },
        index=pairs.index,
    )
    for name, (a, b, combine) in {
        "spread": ("spread_chosen", "spread_rejected", np.fmax),
        "mass": ("mass_chosen", "mass_rejected", np.fmin),
    }.items():
        if a in pairs and pairs[[a, b]].notna().any(axis=None):
            frame[f"feature_{name}"] = combine(
                pairs[a].to_numpy(dtype=float), pairs[b].to_numpy(dtype=float)
            )
    return frame


@dataclass(frozen=True)
class OutlierFilter:
    """``iforest``: scikit-learn's IsolationForest, dropping the ``contamination`` share
    (or its ``"auto"`` threshold). ``zscore``: the robust z-score
    ``z = 0.6745 (x − median) / MAD`` of each feature, dropping pairs with ``max |z| >
    threshold`` (3.5, Iglewicz & Hoaglin 1993); where MAD is 0 the mean absolute deviation
    × 1.2533 stands in, and a constant feature scores 0. Lengths and the length ratio
    enter both detectors as logarithms; missing feature values as the feature's median."""

    method: Literal["iforest", "zscore"] = "iforest"
    contamination: float | Literal["auto"] = 0.05
    threshold: float = 3.5
    seed: int = 0
    name: ClassVar[str] = "outlier"

    def __post_init__(self) -> None:
        if self.method not in ("iforest", "zscore"):
            raise ConfigError(f"outlier method must be iforest or zscore, got {self.method!r}")
        if self.contamination != "auto" and not 0 < float(self.contamination) <= 0.5:
            raise ConfigError(
                f"contamination must be in (0, 0.5] or 'auto', got {self.contamination}"
            )

    def __call__(self, pairs: pd.DataFrame) -> Verdict:
        features = pair_features(pairs)
        info: dict[str, Any] = {c: features[c].to_numpy() for c in features}
        if len(pairs) < 3:  # no population to stand out from
            info["outlier_score"] = np.zeros(len(pairs))
            return Verdict(np.zeros(len(pairs), bool), [""] * len(pairs), info)
        x = _detector_input(features)
        if self.method == "zscore":
            score = np.abs(_robust_z(x)).max(axis=1)
            drop = score > self.threshold
            reason = [f"robust z {s:.2f} > {self.threshold:g}" for s in score]
        else:
            from sklearn.ensemble import IsolationForest

            forest = IsolationForest(
                n_estimators=200, contamination=self.contamination, random_state=self.seed
            )
            drop = forest.fit_predict(x) == -1
            score = -forest.score_samples(x)
            reason = [f"isolation forest score {s:.3f}" for s in score]
        info["outlier_score"] = score
        return Verdict(drop, reason, info)


def _detector_input(features: pd.DataFrame) -> np.ndarray:
    x = features.copy()
    for c in ("feature_len_chosen", "feature_len_rejected", "feature_length_ratio"):
        x[c] = np.log(np.maximum(x[c], 1e-9) + (c != "feature_length_ratio"))
    return x.fillna(x.median()).fillna(0.0).to_numpy(dtype=float)


def _robust_z(x: np.ndarray) -> np.ndarray:
    median = np.median(x, axis=0)
    mad = np.median(np.abs(x - median), axis=0) / 0.6745
    mean_ad = np.mean(np.abs(x - median), axis=0) * 1.253314
    scale = np.where(mad > 0, mad, mean_ad)
    return np.where(scale > 0, (x - median) / np.where(scale > 0, scale, 1), 0.0)


def apply_filters(pairs: pd.DataFrame, filters: Sequence[PairFilter]) -> FilterResult:
    """Run ``filters`` in order over ``pairs``; see the module docstring."""
    current = pairs.reset_index(drop=True)
    dropped_parts, funnel = [], []
    for f in filters:
        n_in = len(current)
        if n_in:
            verdict = f(current)
            for key, values in verdict.info.items():
                current[key] = values
            drop = np.asarray(verdict.drop, bool)
            out = current[drop].copy()
            out["dropped_by"] = f.name
            out["drop_reason"] = [r for r, d in zip(verdict.reason, drop) if d]
            dropped_parts.append(out)
            current = current[~drop].reset_index(drop=True)
        funnel.append(
            {"step": f.name, "in": n_in, "dropped": n_in - len(current), "out": len(current)}
        )
    dropped = (
        pd.concat(dropped_parts, ignore_index=True)
        if dropped_parts
        else pairs.iloc[0:0].assign(dropped_by=[], drop_reason=[])
    )
    columns = ["step", "in", "dropped", "out"]
    return FilterResult(current, dropped, pd.DataFrame(funnel, columns=columns))


@dataclass(frozen=True)
class FilterConfig:
    """Every filter's setting (None/False: the filter is off), as CLI flags and YAML name them."""

    min_margin: float | None = None
    min_judge_margin: float | None = None
    jury_order: Literal["any", "no-reversal", "unanimous"] = "any"
    max_spread: float | None = None
    max_length_ratio: float | None = None
    near_duplicates: float | None = None  # threshold: 0.7 lexical, 0.95 embedding by default
    embedding_model: str | None = None
    duplicate_prompts: bool = False
    outliers: Literal["none", "iforest", "zscore"] = "none"
    contamination: float | Literal["auto"] = 0.05
    z_threshold: float = 3.5
    seed: int = 0

    def filters(self) -> list[PairFilter]:
        out: list[PairFilter] = []
        if self.min_margin is not None or self.min_judge_margin is not None:
            out.append(MarginFilter(self.min_margin or 0.0, self.min_judge_margin))
        if self.jury_order != "any" or self.max_spread is not None:
            out.append(JuryFilter(self.jury_order, self.max_spread))
        if self.max_length_ratio is not None:
            out.append(LengthRatioFilter(self.max_length_ratio))
        if self.near_duplicates is not None or self.embedding_model is not None:
            default = EMBEDDING_THRESHOLD if self.embedding_model else NEAR_DUPLICATE_THRESHOLD
            threshold = default if self.near_duplicates is None else self.near_duplicates
            out.append(NearDuplicateFilter(threshold, self.embedding_model))
        if self.duplicate_prompts:
            out.append(DuplicatePromptFilter())
        if self.outliers != "none":
            out.append(
                OutlierFilter(self.outliers, self.contamination, self.z_threshold, self.seed)  # type: ignore[arg-type]
            )
        return out

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> FilterConfig:
        """From YAML data; unknown keys are an error naming the valid ones."""
        valid = [f.name for f in fields(cls)]
        unknown = sorted(set(data) - set(valid))
        if unknown:
            raise ConfigError(f"unknown filter key(s) {unknown}; valid keys are {', '.join(valid)}")
        config = cls(**data)
        config.filters()  # validate every filter's arguments now
        return config
