"""Cheap lexical similarity between texts, for flagging near-identical completions.

One measure, used wherever ultrajudge asks "are these two texts nearly the
same?" (model pooling flags them; the pair filters can drop them): the Jaccard
similarity of the two texts' sets of word bigrams, after case-folding and
dropping punctuation. It costs linear time, needs no model, and is order-aware
enough that two texts with the same words in a different order are not equal.

Threshold: :data:`NEAR_DUPLICATE_THRESHOLD` (0.7) flags texts that differ by
about one word in seven or less, e.g. ``"The cat sat on the mat today"`` and
``"The cat sat on the mat yesterday"`` share 5 of 7 distinct bigrams (0.714).
Two rephrasings of the same idea score far lower (usually below 0.3).
"""

from __future__ import annotations

import re
from collections.abc import Sequence

__all__ = [
    "NEAR_DUPLICATE_THRESHOLD",
    "lexical_similarity",
    "near_duplicates",
    "normalise_words",
]

#: Default similarity at or above which two texts count as near-identical.
NEAR_DUPLICATE_THRESHOLD = 0.7

_WORD = re.compile(r"\w+")


def normalise_words(text: str) -> list[str]:
    """Case-folded words, punctuation and whitespace dropped.

    >>> normalise_words("Hello,  WORLD! It's me.")
    ['hello', 'world', 'it', 's', 'me']
    """
    return _WORD.findall(text.casefold())


def _shingles(words: list[str], k: int) -> set[tuple[str, ...]]:
    if len(words) < k:
        return {tuple(words)} if words else set()
    return {tuple(words[i : i + k]) for i in range(len(words) - k + 1)}


def lexical_similarity(a: str, b: str, *, k: int = 2) -> float:
    """Jaccard similarity of the word ``k``-shingles of ``a`` and ``b``, in [0, 1].

    ``J = |S(a) ∩ S(b)| / |S(a) ∪ S(b)|`` where ``S`` is the set of ``k``
    consecutive normalised words (a text shorter than ``k`` words is one shingle).
    Two texts with no words at all are identical (1.0); one empty text and one
    non-empty text share nothing (0.0). Symmetric.

    >>> round(lexical_similarity("The cat sat on the mat today", "the cat sat on the mat, yesterday"), 3)
    0.714
    >>> lexical_similarity("Same text.", "same TEXT")
    1.0
    """
    if k < 1:
        raise ValueError(f"k must be >= 1, got {k}")
    sa, sb = _shingles(normalise_words(a), k), _shingles(normalise_words(b), k)
    if not sa and not sb:
        return 1.0
    return len(sa & sb) / len(sa | sb)


def near_duplicates(
    texts: Sequence[str], *, threshold: float = NEAR_DUPLICATE_THRESHOLD, k: int = 2
) -> tuple[list[bool], list[float]]:
    """For each text, whether it is near-identical to an *earlier* one, and its highest
    similarity to any earlier text (0.0 for the first).

    The first of a group of near-identical texts is never flagged, so dropping the
    flagged ones keeps one of each group.

    >>> near_duplicates(["a b c", "x y z", "A b c!"])
    ([False, False, True], [0.0, 0.0, 1.0])
    """
    if not 0.0 <= threshold <= 1.0:
        raise ValueError(f"threshold must be in [0, 1], got {threshold}")
    flags: list[bool] = []
    best: list[float] = []
    for j, text in enumerate(texts):
        score = max((lexical_similarity(texts[i], text, k=k) for i in range(j)), default=0.0)
        best.append(score)
        flags.append(j > 0 and score >= threshold)
    return flags, best
