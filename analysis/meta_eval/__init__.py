"""Meta-evaluation: a judge on the human-labelled suites, in the suites' own numbers and ours.

``SUITES`` names every suite; :func:`load_suite_rows` reads one (its Hub id, or a local file
in the suite's own format) into the canonical layout; :class:`SuiteJudging` judges it; each
suite's ``score`` turns the judged rows into a :class:`MetaResult`.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Any

from ultrajudge.analysis.meta_eval.judgebench import JUDGEBENCH
from ultrajudge.analysis.meta_eval.mtbench import MT_BENCH
from ultrajudge.analysis.meta_eval.pointwise import HELPSTEER2, ULTRAFEEDBACK
from ultrajudge.analysis.meta_eval.rewardbench import REWARDBENCH
from ultrajudge.analysis.meta_eval.rewardbench2 import REWARDBENCH2
from ultrajudge.analysis.meta_eval.run import JudgingOptions, SuiteJudging
from ultrajudge.analysis.meta_eval.suite import MetaResult, Suite
from ultrajudge.analysis.meta_eval.votes import vote_correct, vote_sum_accuracy
from ultrajudge.judge.errors import ConfigError

__all__ = [
    "SUITES",
    "JudgingOptions",
    "MetaResult",
    "Suite",
    "SuiteJudging",
    "get_suite",
    "load_suite_rows",
    "vote_correct",
    "vote_sum_accuracy",
]

SUITES: MappingProxyType[str, Suite] = MappingProxyType(
    {
        s.name: s
        for s in (JUDGEBENCH, REWARDBENCH, REWARDBENCH2, MT_BENCH, HELPSTEER2, ULTRAFEEDBACK)
    }
)


def get_suite(name: str) -> Suite:
    """The suite called ``name`` (``-`` and ``_`` are the same)."""
    key = name.strip().lower().replace("-", "_")
    if key not in SUITES:
        raise ConfigError(f"unknown suite {name!r}; suites are {', '.join(SUITES)}")
    return SUITES[key]


def load_suite_rows(
    suite: Suite, data: str | None = None, *, split: str | None = None, limit: int | None = None
) -> Any:
    """The suite's rows in the canonical layout, from ``data`` (a local file in the suite's
    format) or else its Hub id, split ``split`` (default: the suite's)."""
    from ultrajudge.judge.io import load_rows

    ds = load_rows(data or suite.hub_id, split=split or suite.split, limit=limit)
    return suite.normalize(ds)
