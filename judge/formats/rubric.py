"""Score rubrics: small YAML files with the criteria and one line per score.

::

    # what the rubric is for (optional comment)
    criteria: Is the response factually correct?
    scores:
      1: The response is wrong on its main point or invents facts.
      ...
      5: The response is entirely correct and precise.

The scores' keys are the scale (integers, at least two; ``0: ...`` to ``4: ...`` makes a 0-4
scale). Other keys than ``criteria``, ``scores`` and ``name`` are refused, as are empty
descriptions. Bundled rubrics (``helpfulness``, ``harmlessness``, ``factual_correctness``,
``instruction_following``) live in ``prompts/rubrics/`` and load by name; anything else is a
path to a ``.yaml``/``.yml`` file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from ultrajudge.judge.errors import UserError

__all__ = ["Rubric", "RubricError", "bundled_rubrics", "load_rubric"]

_KEYS = frozenset({"name", "criteria", "scores"})


class RubricError(UserError, ValueError):
    """A rubric could not be found or read; the message names the file and what to fix."""


@dataclass(frozen=True)
class Rubric:
    """Criteria and the description of each score; ``scale`` is the scores in order."""

    name: str
    criteria: str
    scores: tuple[tuple[int, str], ...]

    @property
    def scale(self) -> tuple[int, ...]:
        return tuple(score for score, _ in self.scores)

    @property
    def id(self) -> str:
        """Name and content hash; part of every cache key of a judgment that used it."""
        digest = hashlib.sha256(repr((self.criteria, self.scores)).encode()).hexdigest()[:12]
        return f"{self.name}@{digest}"

    def text(self) -> str:
        """The rubric as Prometheus prompts show it.

        >>> print(Rubric("r", "Is it right?", ((0, "No."), (1, "Yes."))).text())
        [Is it right?]
        Score 0: No.
        Score 1: Yes.
        """
        lines = [f"[{self.criteria}]", *(f"Score {s}: {d}" for s, d in self.scores)]
        return "\n".join(lines)


def bundled_rubrics() -> list[str]:
    """Names of the rubrics shipped in ``prompts/rubrics/``."""
    root = resources.files("ultrajudge.prompts").joinpath("rubrics")
    return sorted(p.name.rsplit(".", 1)[0] for p in root.iterdir() if p.name.endswith(".yaml"))


def load_rubric(name_or_path: str | Path) -> Rubric:
    """A bundled rubric by name, or a YAML file by path."""
    path = Path(name_or_path)
    if path.suffix.lower() in (".yaml", ".yml"):
        if not path.is_file():
            raise RubricError(f"rubric file {path} not found")
        return _from_text(path.read_text(encoding="utf-8"), path.stem, str(path))
    resource = resources.files("ultrajudge.prompts").joinpath(f"rubrics/{name_or_path}.yaml")
    if not resource.is_file():
        raise RubricError(
            f"no rubric {str(name_or_path)!r}: not a .yaml file, nor a bundled rubric "
            f"(bundled: {', '.join(bundled_rubrics())})"
        )
    return _from_text(resource.read_text(encoding="utf-8"), str(name_or_path), str(name_or_path))


def _from_text(text: str, default_name: str, where: str) -> Rubric:
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RubricError(f"rubric {where}: not valid YAML ({exc})") from None
    if not isinstance(data, Mapping):
        raise RubricError(f"rubric {where}: expected a mapping with 'criteria' and 'scores'")
    unknown = sorted(set(map(str, data)) - _KEYS)
    if unknown:
        raise RubricError(f"rubric {where}: unknown key(s) {unknown}; keys are {sorted(_KEYS)}")
    criteria = data.get("criteria")
    if not isinstance(criteria, str) or not criteria.strip():
        raise RubricError(f"rubric {where}: 'criteria' must be a non-empty string")
    name = data.get("name", default_name)
    return Rubric(str(name), criteria.strip(), _scores(data.get("scores"), where))


def _scores(scores: Any, where: str) -> tuple[tuple[int, str], ...]:
    if not isinstance(scores, Mapping) or len(scores) < 2:
        raise RubricError(f"rubric {where}: 'scores' must map at least two scores to descriptions")
    out = []
    for key, description in scores.items():
        try:
            score = int(str(key).strip())
        except ValueError:
            raise RubricError(f"rubric {where}: score {key!r} is not an integer") from None
        if isinstance(key, (bool, float)) or not isinstance(description, str):
            raise RubricError(f"rubric {where}: score {key!r} needs an integer key and a text")
        if not description.strip():
            raise RubricError(f"rubric {where}: score {score} has an empty description")
        out.append((score, " ".join(description.split())))
    if len({s for s, _ in out}) != len(out):
        raise RubricError(f"rubric {where}: a score is given twice")
    return tuple(sorted(out))
