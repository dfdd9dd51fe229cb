"""Integer rating scales: parsing ``1-10`` / ``0,1`` and carrying the scale in a judge id.

A scale is an increasing tuple of integers (``(1, 2, 3, 4, 5)``, ``(0, 1, 2, 3, 4)``,
``(1, ..., 10)``). The judge id of a rating run names its scale when it is not the default
1-5 (``... | scale=1-10``), so a scored file says which scale its ratings are on and
``ultrajudge compare`` reads it from there instead of assuming 1-5.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from ultrajudge.judge.errors import ConfigError

__all__ = [
    "DEFAULT_SCALE",
    "check_scale",
    "parse_scale",
    "scale_from_judge_ids",
    "scale_label",
    "scale_tag",
]

DEFAULT_SCALE: tuple[int, ...] = (1, 2, 3, 4, 5)
_RANGE = re.compile(r"\s*(-?[0-9]{1,6})\s*(?:-|\.\.|to)\s*(-?[0-9]{1,6})\s*")
_TAG = re.compile(r"\|\s*scale=([-0-9,]+)\s*(?:\||$)")


def check_scale(scale: Sequence[int]) -> tuple[int, ...]:
    """``scale`` as a tuple, or ``ValueError`` unless it is >= 2 increasing integers.

    >>> check_scale([0, 1])
    (0, 1)
    """
    values = tuple(scale)
    if any(isinstance(v, bool) or not isinstance(v, int) for v in values):
        raise ConfigError(f"a scale holds integers, got {scale!r}")
    if len(values) < 2 or list(values) != sorted(set(values)):
        raise ConfigError(f"a scale is at least two increasing integers, got {values!r}")
    return values


def parse_scale(text: str) -> tuple[int, ...]:
    """``"1-10"`` → 1..10, ``"0..4"`` → 0..4, ``"0,1"`` → (0, 1).

    >>> parse_scale("1-7")
    (1, 2, 3, 4, 5, 6, 7)
    >>> parse_scale("0, 1")
    (0, 1)
    >>> parse_scale("5-1")
    Traceback (most recent call last):
    ...
    ultrajudge.judge.errors.ConfigError: '5-1' is not a scale: write LOW-HIGH (1-10, 0-4) or a list (0,1)
    """
    hint = f"{text!r} is not a scale: write LOW-HIGH (1-10, 0-4) or a list (0,1)"
    m = _RANGE.fullmatch(text)
    if m is not None:
        low, high = int(m.group(1)), int(m.group(2))
        values: tuple[int, ...] = tuple(range(low, high + 1))
    else:
        try:
            values = tuple(int(v) for v in text.split(","))
        except ValueError:
            raise ConfigError(hint) from None
    try:
        return check_scale(values)
    except ValueError:
        raise ConfigError(hint) from None


def scale_label(scale: Sequence[int]) -> str:
    """``1-10`` for a contiguous scale, else the values joined by commas.

    >>> scale_label((1, 2, 3)), scale_label((0, 2, 4))
    ('1-3', '0,2,4')
    """
    values = tuple(scale)
    if values == tuple(range(values[0], values[-1] + 1)):
        return f"{values[0]}-{values[-1]}"
    return ",".join(str(v) for v in values)


def scale_tag(scale: Sequence[int]) -> str:
    """The judge-id part that names a non-default scale (empty for 1-5).

    >>> scale_tag((1, 2, 3, 4, 5)), scale_tag(range(1, 11))
    ('', ' | scale=1-10')
    """
    return "" if tuple(scale) == DEFAULT_SCALE else f" | scale={scale_label(scale)}"


def scale_from_judge_ids(judge_ids: Iterable[str | None]) -> tuple[int, ...] | None:
    """The one scale the judge ids name (1-5 for an id without a tag), None when there are
    no ids; ``ValueError`` when they name different scales.

    >>> scale_from_judge_ids(["m | t@1 | generate | greedy | scale=0-4", None])
    (0, 1, 2, 3, 4)
    >>> scale_from_judge_ids(["m | t@1 | generate | greedy"])
    (1, 2, 3, 4, 5)
    """
    found: set[tuple[int, ...]] = set()
    for judge_id in judge_ids:
        if not judge_id:
            continue
        m = _TAG.search(judge_id)
        found.add(parse_scale(m.group(1)) if m else DEFAULT_SCALE)
    if len(found) > 1:
        labels = ", ".join(sorted(scale_label(s) for s in found))
        raise ConfigError(f"the judges rated on different scales ({labels}); pass --scale")
    return found.pop() if found else None
