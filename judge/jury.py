"""A jury: several judges rate the same rows; an explicit reducer combines their ratings.

Every juror scores the whole dataset through the results store, each resuming on its
own. Local models judge one after the other, so one model is in memory at a time;
jurors that take concurrent requests (API servers) judge at the same time, each with its
own ``concurrency`` in flight, beside the local ones. A juror that stops (an unreachable
server) calls off the others: nothing new is asked, what finished is stored. Its
columns are kept with a ``__<name>`` suffix (``ratings__<name>``,
``rating_status__<name>``, ``judge__<name>`` ...), then the reducer writes the
jury's ``ratings`` and ``rating_status``, and ``jury_spread`` says how far the
jurors were apart on each completion.

Juror names label columns, so they are short slugs (``[a-z0-9_]``, a letter
first). Name a juror with ``NAME=SPEC`` (``--judge qwen=Qwen/Qwen2.5-7B-Instruct``);
without a name the slug is derived from the spec's last path component
(``./models/tiny-judge`` → ``tiny_judge``, ``openai:gpt-4o-mini`` →
``openai_gpt_4o_mini``). Two jurors with the same name are an error.

Reducers (over the values of the jurors that rated a completion):

* ``mean`` and ``median``;
* ``trimmed_mean``: the mean after dropping ``floor(trim · n)`` values at each end
  (``trim=0.2`` trims one of five jurors at each end, none of three);
* ``majority``: the most common value (for label-like scales); a tie between the
  most common values is no verdict (``rating_status = "no_majority"``).

A completion gets a jury rating only when at least ``quorum`` jurors rated it
(default: all of them); otherwise its rating is None and its status is the first
failed juror's status (``parse_error``, ``backend_error``, ...), so it never enters
a pair. ``jury_spread`` is the population standard deviation (``spread="std"``) or
the range (``spread="range"``) of the jurors' values; None with fewer than two.
"""

from __future__ import annotations

import math
import re
import statistics
import threading
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

from ultrajudge.judge.backends.base import Backend, build_backend
from ultrajudge.judge.errors import ConfigError
from ultrajudge.judge.io import Columns
from ultrajudge.judge.rating import RatingConfig
from ultrajudge.judge.runner import RunSummary, concurrent_requests, result_of
from ultrajudge.judge.scoring import add_score_columns, judge_dataset
from ultrajudge.judge.store import ResultStore

__all__ = [
    "JURY_KEYS",
    "REDUCERS",
    "Juror",
    "Jury",
    "juror_from_item",
    "jury_from_mapping",
    "parse_juror",
    "reduce_completion",
    "score_with_jury",
    "slugify",
]

Reducer = Callable[[Sequence[float], float], "float | None"]
Spread = Literal["std", "range"]
_NAME = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
_NAMED_SPEC = re.compile(r"^([A-Za-z][\w-]{0,39})=(.+)$")
#: The per-judge output columns of ``add_score_columns`` that a juror's suffix is added to.
JUROR_COLUMN_PREFIXES = ("ratings", "rationales", "rating_status", "judge", "rating_raw")


def _mean(values: Sequence[float], trim: float) -> float:
    return math.fsum(values) / len(values)


def _median(values: Sequence[float], trim: float) -> float:
    return float(statistics.median(values))


def _trimmed_mean(values: Sequence[float], trim: float) -> float:
    k = math.floor(trim * len(values))
    kept = sorted(values)[k : len(values) - k]
    return math.fsum(kept) / len(kept)


def _majority(values: Sequence[float], trim: float) -> float | None:
    counts = Counter(values).most_common()
    if len(counts) > 1 and counts[0][1] == counts[1][1]:
        return None
    return float(counts[0][0])


#: Reducers by name: ``reducer(values, trim)``; None means "no verdict".
REDUCERS: dict[str, Reducer] = {
    "mean": _mean,
    "median": _median,
    "trimmed_mean": _trimmed_mean,
    "majority": _majority,
}


def slugify(spec: str) -> str:
    """A column-safe name derived from a judge spec.

    >>> slugify("./models/tiny-judge/"), slugify("openai:gpt-4o-mini"), slugify("scripted:auto")
    ('tiny_judge', 'openai_gpt_4o_mini', 'scripted_auto')
    >>> slugify("Qwen/Qwen2.5-1.5B-Instruct")
    'qwen2_5_1_5b_instruct'
    """
    last = spec.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1]
    slug = re.sub(r"[^a-z0-9]+", "_", last.lower()).strip("_")
    if not slug or not slug[0].isalpha():
        slug = f"j_{slug}".rstrip("_")
    return slug[:40].rstrip("_")


@dataclass(frozen=True)
class Juror:
    """One judge of a jury: its column-safe name, its spec, and its backend options."""

    name: str
    spec: str
    options: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not _NAME.match(self.name):
            raise ConfigError(
                f"juror name {self.name!r} is not column-safe: use 1-40 characters of "
                "a-z, 0-9 and _, starting with a letter (e.g. --judge qwen7b=./models/qwen)"
            )
        if not self.spec:
            raise ConfigError(f"juror {self.name!r} has no model spec")


def parse_juror(text: str, options: Mapping[str, str] | None = None) -> Juror:
    """``"NAME=SPEC"`` or ``"SPEC"`` (name derived with :func:`slugify`).

    >>> parse_juror("big=openai:gpt-4o").name, parse_juror("./m/tiny-judge").name
    ('big', 'tiny_judge')
    """
    match = _NAMED_SPEC.match(text.strip())
    if match:
        return Juror(match.group(1).lower().replace("-", "_"), match.group(2), dict(options or {}))
    return Juror(slugify(text.strip()), text.strip(), dict(options or {}))


@dataclass(frozen=True)
class Jury:
    """Jurors and how their ratings are combined (see the module docstring)."""

    jurors: tuple[Juror, ...]
    reducer: str = "mean"
    trim: float = 0.2
    spread: Spread = "std"
    quorum: int | None = None  # jurors that must rate a completion; None: all

    def __post_init__(self) -> None:
        if len(self.jurors) < 2:
            raise ConfigError(f"a jury needs at least two judges, got {len(self.jurors)}")
        names = [j.name for j in self.jurors]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ConfigError(
                f"juror name(s) {repeated} used more than once; name each judge: "
                "--judge NAME=SPEC (e.g. --judge a=./model --judge b=./model)"
            )
        for k, juror in enumerate(self.jurors):
            for other in self.jurors[:k]:
                if (juror.spec, dict(juror.options)) == (other.spec, dict(other.options)):
                    raise _same_judge(other.name, juror.name, juror.spec)
        if self.reducer not in REDUCERS:
            raise ConfigError(f"unknown reducer {self.reducer!r}; reducers are {sorted(REDUCERS)}")
        if not 0 <= self.trim < 0.5:
            raise ConfigError(f"trim must be in [0, 0.5), got {self.trim}")
        if self.spread not in ("std", "range"):
            raise ConfigError(f"spread must be 'std' or 'range', got {self.spread!r}")
        if self.quorum is not None and not 1 <= self.quorum <= len(self.jurors):
            raise ConfigError(f"quorum must be between 1 and {len(self.jurors)}, got {self.quorum}")

    @property
    def names(self) -> list[str]:
        return [j.name for j in self.jurors]

    def id(self) -> str:
        """The jury's ``judge`` column value, e.g. ``jury:mean(a, b, c)``."""
        return f"jury:{self.reducer}({', '.join(self.names)})"


JURY_KEYS = ("judges", "reducer", "trim", "spread", "quorum")
JUROR_KEYS = ("name", "model", "options")


def jury_from_mapping(data: Mapping[str, Any]) -> Jury:
    """A jury from YAML-like data; unknown keys are an error naming the valid ones.

    ``{"reducer": "median", "judges": ["./a", {"name": "b", "model": "scripted:auto",
    "options": {"log": "calls.txt"}}]}``
    """
    unknown = sorted(set(data) - set(JURY_KEYS))
    if unknown:
        raise ConfigError(f"unknown jury key(s) {unknown}; valid keys are {', '.join(JURY_KEYS)}")
    judges = data.get("judges")
    if not isinstance(judges, list):
        raise ConfigError("a jury needs 'judges': a list of specs or {name, model, options}")
    jurors = tuple(juror_from_item(item) for item in judges)
    extra = {k: data[k] for k in ("reducer", "trim", "spread", "quorum") if k in data}
    if "trim" in extra:
        extra["trim"] = float(extra["trim"])
    return Jury(jurors, **extra)


def juror_from_item(item: Any) -> Juror:
    """A juror from a spec string (:func:`parse_juror`) or ``{name, model, options}``."""
    if isinstance(item, str):
        return parse_juror(item)
    if not isinstance(item, Mapping):
        raise ConfigError(f"a judge must be a spec string or a mapping, got {item!r}")
    unknown = sorted(set(item) - set(JUROR_KEYS))
    if unknown:
        raise ConfigError(f"unknown judge key(s) {unknown}; valid keys are {', '.join(JUROR_KEYS)}")
    if "model" not in item:
        raise ConfigError(f"judge {dict(item)!r} has no 'model'")
    options = item.get("options") or {}
    if not isinstance(options, Mapping):
        raise ConfigError(f"judge {item['model']!r}: options must be a mapping of KEY: VALUE")
    model = str(item["model"])
    name = str(item.get("name") or slugify(model))
    return Juror(name, model, {str(k): str(v) for k, v in options.items()})


def reduce_completion(
    values: Sequence[float | None], statuses: Sequence[str], jury: Jury
) -> tuple[float | None, str, float | None]:
    """``(rating, status, spread)`` of one completion from its jurors' values and statuses.

    >>> jury = Jury((Juror("a", "x"), Juror("b", "y"), Juror("c", "z")), reducer="median")
    >>> reduce_completion([1.0, 4.0, 5.0], ["ok", "ok", "ok"], jury)
    (4.0, 'ok', 1.699673171197595)
    >>> reduce_completion([1.0, None, 5.0], ["ok", "parse_error", "ok"], jury)
    (None, 'parse_error', 2.0)
    """
    rated = [float(v) for v, s in zip(values, statuses) if s == "ok" and v is not None]
    spread = _spread(rated, jury.spread)
    needed = jury.quorum if jury.quorum is not None else len(jury.jurors)
    if len(rated) < needed:
        failed = next((s for v, s in zip(values, statuses) if s != "ok" or v is None), "missing")
        return None, failed, spread
    value = REDUCERS[jury.reducer](rated, jury.trim)
    return (value, "ok", spread) if value is not None else (None, "no_majority", spread)


def _spread(values: Sequence[float], kind: Spread) -> float | None:
    if len(values) < 2:
        return None
    if kind == "range":
        return max(values) - min(values)
    return statistics.pstdev(values)


def score_with_jury(
    ds: Any,
    jury: Jury,
    *,
    columns: Columns,
    configs: Sequence[RatingConfig],
    store: ResultStore,
    chunk_rows: int = 16,
    progress: bool = True,
    loader: Callable[..., Backend] = build_backend,
) -> tuple[Any, dict[str, RunSummary]]:
    """Score ``ds`` with every juror, then reduce. Returns the dataset with every input
    column, each juror's suffixed columns, ``ratings``, ``rating_status``, ``judge``
    (the jury id), ``jury_spread``; and each juror's :class:`~ultrajudge.judge.runner.RunSummary`.

    Jurors are loaded in order; an API juror judges on a thread of its own while the next
    ones load and judge, a local one in this thread (and is let go before the next
    loads). The columns are read back from the store once every juror is done."""
    import datasets

    columns.validate(ds.column_names)
    inputs = [columns.instruction, *(columns.completion_columns or [columns.completions])]
    base = ds.select_columns(list(dict.fromkeys(inputs)))
    cancel = threading.Event()  # a juror stopped, or this thread was interrupted

    def judge(juror: Juror, backend: Backend) -> RunSummary:
        try:
            summary = judge_dataset(
                backend,
                base,
                columns=columns,
                configs=configs,
                store=store,
                chunk_rows=chunk_rows,
                progress=progress,
                desc=f"scoring ({juror.name})",
                cancel=cancel,
            )
        except BaseException:  # raised where this juror's result is read; the others stop
            cancel.set()
            raise
        if summary.stopped is not None:
            cancel.set()
        return summary

    def read_back(juror: Juror, backend: Backend, summary: RunSummary) -> Any:
        scored = add_score_columns(
            backend, base, columns=columns, configs=configs, store=store, summary=summary
        )
        new = [c for c in scored.column_names if c not in base.column_names]
        return scored.select_columns(new).rename_columns({c: f"{c}__{juror.name}" for c in new})

    parts: dict[str, Any] = {}
    summaries: dict[str, RunSummary] = {}
    api: dict[str, tuple[Juror, Backend, Future[RunSummary]]] = {}
    with ThreadPoolExecutor(len(jury.jurors), thread_name_prefix="ultrajudge-juror") as pool:
        try:
            ids: dict[str, str] = {}  # judge id -> juror: one judge twice shares its judgments
            for juror in jury.jurors:
                backend = loader(juror.spec, **juror.options)
                if backend.id in ids:
                    raise _same_judge(ids[backend.id], juror.name, backend.id)
                ids[backend.id] = juror.name
                if concurrent_requests(backend):
                    api[juror.name] = (juror, backend, pool.submit(judge, juror, backend))
                    continue
                summaries[juror.name] = judge(juror, backend)
                parts[juror.name] = read_back(juror, backend, summaries[juror.name])
                del backend  # let the model go before loading the next juror
            for name, (juror, backend, future) in api.items():
                summaries[name] = result_of(future)
                parts[name] = read_back(juror, backend, summaries[name])
        except BaseException:  # an interrupt or an error: the other jurors stop too
            cancel.set()
            raise
    per_juror = [parts[name] for name in jury.names]
    summaries = {name: summaries[name] for name in jury.names}
    reduced = datasets.Dataset.from_dict(_reduce_columns(per_juror, jury))
    added = {c for part in [*per_juror, reduced] for c in part.column_names}
    kept = ds.remove_columns([c for c in ds.column_names if c in added])
    return datasets.concatenate_datasets([kept, *per_juror, reduced], axis=1), summaries


def _same_judge(first: str, second: str, judge: str) -> ConfigError:
    return ConfigError(
        f"jurors {first!r} and {second!r} are the same judge ({judge}): they would share "
        "every judgment in the store and agree perfectly; give them different models, "
        "servers or options"
    )


def _reduce_columns(per_juror: Sequence[Any], jury: Jury) -> dict[str, list[Any]]:
    values = [part[f"ratings__{j.name}"] for part, j in zip(per_juror, jury.jurors)]
    statuses = [part[f"rating_status__{j.name}"] for part, j in zip(per_juror, jury.jurors)]
    out: dict[str, list[Any]] = {"ratings": [], "rating_status": [], "jury_spread": []}
    for row_values, row_statuses in zip(zip(*values), zip(*statuses)):
        reduced = [
            reduce_completion(v, s, jury) for v, s in zip(zip(*row_values), zip(*row_statuses))
        ]
        out["ratings"].append([r[0] for r in reduced])
        out["rating_status"].append([r[1] for r in reduced])
        out["jury_spread"].append([r[2] for r in reduced])
    out["judge"] = [jury.id()] * len(out["ratings"])
    return out
