"""Agreement, bias, comparison, pair building, filters and reports over judge outputs.

The public names of the submodules are importable from here (``from analysis import
cohen_kappa``). The function ``ultrajudge.analysis.compare.compare`` is not among them: the name is
its module's. They load on first use, so importing one submodule does not pay for the
others (``ultrajudge.analysis.agreement`` pulls in scikit-learn and SciPy).
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS: dict[str, tuple[str, ...]] = {
    "agreement": (
        "FLOAT_STATISTICS",
        "PREFERENCE_LABELS",
        "STATISTICS",
        "FloatStatistic",
        "PreferenceAccuracy",
        "TableStatistic",
        "bootstrap_ci",
        "cohen_kappa",
        "contingency_table",
        "contingency_tables",
        "exact_agreement",
        "fleiss_kappa",
        "gwet_ac1",
        "icc",
        "kendall_tau_b",
        "krippendorff_alpha",
        "label_agreement",
        "pairwise_matrix",
        "pearson",
        "preference_accuracy",
        "spearman",
        "within_one_agreement",
    ),
    "bias": (
        "NON_FAILURE_STATUSES",
        "FailureRates",
        "PositionBias",
        "failure_rates",
        "first_position_rate",
        "length_preference",
        "position_bias",
        "rating_length_correlation",
    ),
    "report": ("Report", "Section", "new_figure"),
    "compare": (
        "PAIRWISE_STATISTICS",
        "CompareOptions",
        "Comparison",
        "Source",
        "compare_pairwise",
        "compare_pointwise",
    ),
    "compare_report": ("build_report", "write_report"),
    "jury_agreement": ("JURY_COLUMNS", "format_jury_table", "jury_agreement", "jury_table"),
    "calibration": ("CalibrationMap", "CalibrationResult", "agreement_figures", "fit_calibration"),
    "length_control": ("LengthControl", "length_controlled_win_rate"),
    "meta_eval": ("SUITES", "MetaResult", "Suite", "get_suite"),
}

__all__ = sorted(name for names in _EXPORTS.values() for name in names)


def __getattr__(name: str) -> Any:
    for module, names in _EXPORTS.items():
        if name in names:
            value = getattr(importlib.import_module(f"ultrajudge.analysis.{module}"), name)
            globals()[name] = value
            return value
    raise AttributeError(f"module 'analysis' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
