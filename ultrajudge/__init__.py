"""ultrajudge: an LLM-as-judge toolkit. Score datasets UltraFeedback style, compare judges,
build filtered DPO pairs; the same from the ``ultrajudge`` command line.

The Python API (each name loads on first use, so ``import ultrajudge`` stays light):

- :class:`Judge` — rate completions; an instance is a batched ``Dataset.map`` function.
- :class:`PairwiseJudge` — ``judge(prompts, completion_pairs) -> [0 | 1 | -1]``, both orders.
- :func:`compare` — agreement of judges with each other and with human labels.
- :func:`build_pairs` — DPO pairs (TRL's format) from a scored dataset, filters included.
- Agreement statistics: :func:`cohen_kappa`, :func:`fleiss_kappa`, :func:`krippendorff_alpha`,
  :func:`gwet_ac1`, :func:`icc`, :func:`spearman`, :func:`kendall_tau_b`, :func:`pearson`,
  :func:`exact_agreement`, :func:`within_one_agreement`, :func:`preference_accuracy`,
  :func:`bootstrap_ci`.

Subpackages: ``ultrajudge.judge`` (backends, prompts, parsing, rating, the store),
``ultrajudge.analysis``, ``ultrajudge.generators``, ``ultrajudge.prompts``.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, tuple[str, ...]] = {
    "ultrajudge.api": ("Judge", "PairwiseJudge", "build_pairs"),
    "ultrajudge.analysis.compare": ("compare",),
    "ultrajudge.analysis.agreement": (
        "bootstrap_ci",
        "cohen_kappa",
        "exact_agreement",
        "fleiss_kappa",
        "gwet_ac1",
        "icc",
        "kendall_tau_b",
        "krippendorff_alpha",
        "pearson",
        "preference_accuracy",
        "spearman",
        "within_one_agreement",
    ),
}

__all__ = [
    "Judge",
    "PairwiseJudge",
    "__version__",
    "bootstrap_ci",
    "build_pairs",
    "cohen_kappa",
    "compare",
    "exact_agreement",
    "fleiss_kappa",
    "gwet_ac1",
    "icc",
    "kendall_tau_b",
    "krippendorff_alpha",
    "pearson",
    "preference_accuracy",
    "spearman",
    "within_one_agreement",
]

if TYPE_CHECKING:
    from ultrajudge.analysis.agreement import (
        bootstrap_ci,
        cohen_kappa,
        exact_agreement,
        fleiss_kappa,
        gwet_ac1,
        icc,
        kendall_tau_b,
        krippendorff_alpha,
        pearson,
        preference_accuracy,
        spearman,
        within_one_agreement,
    )
    from ultrajudge.analysis.compare import compare
    from ultrajudge.api import Judge, PairwiseJudge, build_pairs


def __getattr__(name: str) -> Any:
    for module, names in _EXPORTS.items():
        if name in names:
            value = getattr(importlib.import_module(module), name)
            globals()[name] = value
            return value
    raise AttributeError(f"module 'ultrajudge' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
