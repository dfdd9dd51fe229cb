"""Agreement between raters: judges with each other and with human labels.

The statistics live in modules by concept and are re-exported here, so
``from ultrajudge.analysis.agreement import cohen_kappa`` keeps working:

* :mod:`~ultrajudge.analysis.kappa`: Cohen's kappa, Fleiss' kappa, Gwet's AC1, Krippendorff's
  alpha (chance-corrected agreement);
* :mod:`~ultrajudge.analysis.correlation`: Spearman, Kendall tau-b, Pearson, ICC;
* :mod:`~ultrajudge.analysis.table_stats`: exact and within-one agreement, and every two-rater
  statistic as a function of the contingency table (:data:`STATISTICS`, :func:`pairwise_matrix`);
* :mod:`~ultrajudge.analysis.verdicts`: pairwise verdicts against gold, and between judges;
* :mod:`~ultrajudge.analysis.bootstrap`: percentile intervals resampling items or rows;
* :mod:`~ultrajudge.analysis.agreement_data`: validation and contingency tables.

Conventions (the numbers depend on them):

* Two-rater statistics take two equal-length vectors ``(a, b)`` and drop items where either
  rating is missing (``nan`` or ``None``). Multi-rater statistics take an items × raters matrix
  with ``nan`` in missing cells.
* Ratings live on an explicit ``scale`` (the rating values, e.g. ``(1, 2, 3, 4, 5)``) or an
  explicit ``categories`` list, never on the values that happen to occur; a value off the list
  raises ``ValueError``.
* Degenerate data follows the mathematics: a statistic is nan exactly where its formula divides
  by zero (0/0), and otherwise takes the value the formula gives, as the reference libraries do:
  Cohen's kappa with one constant rater is 0 (scikit-learn), Gwet's AC1 when every rating agrees
  is 1 (irrCAC), ICC(2,1) of two raters constant on different values is 0 (pingouin). Each
  docstring states its exact "undefined when" case. This supersedes DESIGN.md's earlier blanket
  rule "undefined (a constant rater, a single category) → nan, never 1.0 or 0.0" (issue 14).
  No warning is emitted for degenerate data.
"""

from __future__ import annotations

from ultrajudge.analysis.agreement_data import contingency_table, contingency_tables
from ultrajudge.analysis.bootstrap import FLOAT_STATISTICS, FloatStatistic, bootstrap_ci
from ultrajudge.analysis.correlation import icc, kendall_tau_b, pearson, spearman
from ultrajudge.analysis.kappa import cohen_kappa, fleiss_kappa, gwet_ac1, krippendorff_alpha
from ultrajudge.analysis.table_stats import (
    STATISTICS,
    TableStatistic,
    exact_agreement,
    pairwise_matrix,
    within_one_agreement,
)
from ultrajudge.analysis.verdicts import (
    PREFERENCE_LABELS,
    PreferenceAccuracy,
    label_agreement,
    preference_accuracy,
)

__all__ = [
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
]
