"""Generate steps of a pipeline file: each names a ``generators`` function and its config.

:mod:`.build_steps` builds them from the validated file; :class:`GenerateStep` runs one
through a :class:`ultrajudge.generators.engine.Session` and estimates its model calls for
``--dry-run``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

Loader = Callable[..., Any]


def resolve_spec(spec: str, base: Path) -> str:
    """A model spec naming a folder or file next to the YAML becomes an absolute path."""
    if (base / spec).exists() and not Path(spec).is_absolute():
        return str(base / spec)
    name, sep, target = spec.partition(":")
    if sep and target and not Path(target).is_absolute() and (base / target).exists():
        return f"{name}:{base / target}"
    return spec


@dataclass(frozen=True)
class GenerateStep:
    """One generator over the rows: its kind, its ``generators`` config, and its model."""

    kind: str
    config: Any
    model: str = ""
    options: Mapping[str, str] = field(default_factory=dict)
    system: str | None = None  # magpie without an input: the one system prompt

    def run(self, rows: list[dict[str, Any]], session: Any, loader: Loader) -> list[dict[str, Any]]:
        if self.kind == "pool":
            from ultrajudge.generators.pooling import pool_completions

            return pool_completions(rows, self.config, session, loader=loader)
        module, func = _RUNNERS[self.kind]
        run = getattr(__import__(f"ultrajudge.generators.{module}", fromlist=[func]), func)
        backend = loader(self.model, **self.options)
        return list(run(rows, backend, self.config, session, model=self.model))

    def estimate(self, rows: int, completions: int) -> tuple[int, int, int]:
        """``(model calls, rows out, completions out)`` at most, before retries."""
        c = self.config
        if self.kind == "pool":
            k = len(c.generators) * c.n
            return rows * k, rows, completions + rows * k
        if self.kind == "evol_quality":
            sources = completions if c.completions_col else rows
            return sources * c.evolutions, rows, completions + sources
        if self.kind == "evol_instruct":
            answers = rows if c.answers else 0
            return rows * c.evolutions + answers, rows, answers
        if self.kind == "self_instruct":
            answers = rows * c.n if c.answers else 0
            return rows + answers, rows * c.n, answers
        per_conversation = 1 if c.only_instruction else 2 * c.turns  # magpie
        out = rows * c.n
        return out * per_conversation, out, 0 if c.only_instruction else out

    def describe(self) -> str:
        if self.kind == "pool":
            return f"pool: {len(self.config.generators)} generator(s) x n={self.config.n}"
        return f"{self.kind}: {self.model}"


_RUNNERS = {
    "evol_quality": ("evol", "evolve_responses"),
    "evol_instruct": ("evol", "evolve_instructions"),
    "self_instruct": ("self_instruct", "self_instruct"),
    "magpie": ("magpie", "magpie"),
}
