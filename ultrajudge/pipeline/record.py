"""Run records of ``ultrajudge run``: one ``<out>.run.json`` beside every dataset it writes.

Each record has the schema of ``ultrajudge score``'s (:mod:`ultrajudge.judge.run_record`)
plus ``pipeline`` (the file's path and SHA-256, read when the run started) and ``steps``
(every generate step and every juror with its own summary and the backends it loaded).
Its ``summary`` is the step that made the dataset: the generate steps added for
``generated``; the judgments for ``scored``, ``pairs`` and ``dropped`` (for a jury, the
statuses of the reduced ratings, with every juror's tokens, seconds and cost added), so
``compare`` reads a judge's cost from ``scored``'s record as from ``score``'s.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ultrajudge.judge.runner import RunSummary
from ultrajudge.judge.types import INPUT_STATUSES

__all__ = ["BackendLog", "SeenBackend", "file_digest", "judgment_summary", "pipeline_records"]

Loader = Callable[..., Any]


@dataclass(frozen=True)
class SeenBackend:
    """A backend a step loaded: its id and its live ``resolved`` mapping (filled while it
    runs: an API server's ``model``), without holding the model itself."""

    id: str
    resolved: Mapping[str, Any]


@dataclass
class BackendLog:
    """The backends each step loaded, in order (``step`` → backends)."""

    steps: dict[str, list[SeenBackend]] = field(default_factory=dict)

    def wrap(self, loader: Loader, step: str) -> Loader:
        """``loader``, noting every backend it builds under ``step``."""

        def load(spec: str, **options: Any) -> Any:
            backend = loader(spec, **options)
            resolved = getattr(backend, "resolved", None)
            seen = SeenBackend(str(getattr(backend, "id", spec)), resolved if resolved is not None else {})  # fmt: skip
            self.steps.setdefault(step, []).append(seen)
            return backend

        return load

    def of(self, prefix: str) -> list[SeenBackend]:
        """Every backend of the steps whose name starts with ``prefix``, each id once."""
        seen: dict[str, SeenBackend] = {}
        for step, backends in self.steps.items():
            if step.startswith(prefix):
                seen.update((b.id, b) for b in backends if b.id not in seen)
        return list(seen.values())


def file_digest(path: Path) -> dict[str, str]:
    """``{"path": ..., "sha256": ...}`` of a file (the pipeline file a run read)."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    return {"path": str(path.resolve()), "sha256": digest}


def judgment_summary(
    summaries: Mapping[str, RunSummary], statuses: Iterable[Sequence[str]]
) -> RunSummary:
    """One summary of the judgments: every juror's counts, tokens, seconds and cost added,
    and the statuses of the output's ``rating_status`` cells (a jury's reduced ones)."""
    given = [as_run_summary(s) for s in summaries.values()]
    if len(given) == 1 and given[0] is next(iter(summaries.values())):
        return given[0]
    total = RunSummary()
    for s in given:
        total.add(s)
        total.rows, total.completions = max(total.rows, s.rows), max(total.completions, s.completions)  # fmt: skip
    total.statuses = Counter(status for row in statuses for status in row)
    return total


def as_run_summary(summary: Any) -> RunSummary:
    """A Ray run's summary (shards, rows, seconds) as a :class:`RunSummary`."""
    if isinstance(summary, RunSummary):
        return summary
    return RunSummary(
        rows=int(getattr(summary, "rows", 0)),
        made_now=int(getattr(summary, "made_now", 0)),
        from_store=int(getattr(summary, "from_store", 0)),
        seconds=float(getattr(summary, "seconds", 0.0)),
    )


def failed_judgments(summary: RunSummary) -> tuple[int, int]:
    """``(failed, judged)``: statuses about the input (never judged) count in neither."""
    judged = {s: n for s, n in summary.statuses.items() if s not in INPUT_STATUSES}
    failed = sum(n for s, n in judged.items() if s not in ("ok", "na"))
    return failed, sum(judged.values())


def step_entries(
    generation: Sequence[tuple[str, RunSummary]],
    scoring: Mapping[str, RunSummary],
    backends: BackendLog,
) -> list[dict[str, Any]]:
    """Every step with its summary and backend ids, in the order they ran."""
    from ultrajudge.judge.run_record import summary_dict

    steps = [
        {
            "step": f"generate {name}",
            "backends": [b.id for b in backends.steps.get(f"generate {k}", [])],
            "summary": summary_dict(as_run_summary(s)),
        }
        for k, (name, s) in enumerate(generation)
    ]
    for name, s in scoring.items():
        ids = [b.id for b in backends.steps.get(f"score {name}", [])]
        entry = {"step": f"score with {name}", "backends": ids, "summary": summary_dict(as_run_summary(s))}  # fmt: skip
        steps.append(entry)
    return steps


def pipeline_records(
    files: Mapping[str, Path],
    *,
    generated: RunSummary | None,
    judgments: RunSummary | None,
    backends: BackendLog,
    common: Mapping[str, Any],
) -> dict[str, dict[str, Any]]:
    """The record of each dataset in ``files`` (label → path; ``report`` is no dataset;
    ``generated_partial``: the rows of a run stopped by a generator, ``"partial": true``).
    ``common`` holds what every record shares (version, command, pipeline, settings,
    steps, started, store); each gets its own ``summary``, ``judges``, ``ended``."""
    from ultrajudge.judge.run_record import run_record

    records = {}
    for label in files:
        if label == "report":
            continue
        made_by = generated if label.startswith("generated") else judgments
        if made_by is None:
            continue
        judges = backends.of("generate" if label.startswith("generated") else "score")
        record = {**run_record(made_by, judges=judges, **common), "dataset": label}
        if label.startswith("generated"):  # the rows of a step whose generator failed
            record["partial"] = label == "generated_partial"
        records[label] = record
    return records
