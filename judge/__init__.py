"""ultrajudge's scoring core: types, backends, prompts, parsing, rating, store.

This package depends on nothing else in the project; ``analysis`` and
``generators`` build on it.
"""

from ultrajudge.judge.types import (
    Capabilities,
    Completion,
    GenerationParams,
    LogprobRequest,
    Message,
    Rating,
    RatingStatus,
    RowJudgment,
    TokenDistribution,
)

__all__ = [
    "Capabilities",
    "Completion",
    "GenerationParams",
    "LogprobRequest",
    "Message",
    "Rating",
    "RatingStatus",
    "RowJudgment",
    "TokenDistribution",
]
