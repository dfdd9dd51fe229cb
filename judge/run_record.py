"""The run record: ``<out>.run.json``, written next to every output of a judging command.

It says what produced the output, machine-readably: the ultrajudge version, the command
line (API keys redacted), the judge's id and what the backend resolved it to (the Hub
commit of a local model, the ``model`` and ``system_fingerprint`` an API server
reported), the settings that change judgments (templates, generation parameters), the
status histogram, tokens, cost, retries, start and end time, and the store's path.
"""

from __future__ import annotations

import json
import math
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ultrajudge.judge.runner import RunSummary

__all__ = [
    "record_path",
    "redact_command",
    "redact_values",
    "run_record",
    "summary_dict",
    "with_cumulative",
    "write_run_record",
]

_SECRET = re.compile(r"((?:api_key|token|password|secret)[A-Za-z_]*=)[^\s]+", re.IGNORECASE)
_SECRET_KEY = re.compile(r"(?:.*_)?(?:api_key|token|password|secret)", re.IGNORECASE)
_KEYLIKE = re.compile(r"\b(sk|hf)-?[A-Za-z0-9_\-]{8,}")


def record_path(out: str | Path) -> Path:
    """``scored.jsonl`` → ``scored.jsonl.run.json`` (a folder output: ``out.run.json`` beside it)."""
    out = Path(out)
    return out.parent / f"{out.name.rstrip('/')}.run.json"


def redact_command(argv: Sequence[str]) -> list[str]:
    """The command line with key-like values replaced by ``***``.

    >>> redact_command(["score", "-O", "api_key=sk-abcdef123456", "--out", "x.jsonl"])
    ['score', '-O', 'api_key=***', '--out', 'x.jsonl']
    """
    return [_KEYLIKE.sub("***", _SECRET.sub(r"\1***", arg)) for arg in argv]


def redact_values(value: Any) -> Any:
    """``value`` (settings: mappings, lists, strings) with secrets replaced by ``***``: the
    value of a key named like ``api_key``/``token``/``password``/``secret``, and key-like
    strings anywhere.

    >>> redact_values({"options": {"api_key": "abc", "base_url": "http://h"}, "n": 2})
    {'options': {'api_key': '***', 'base_url': 'http://h'}, 'n': 2}
    """
    if isinstance(value, Mapping):
        return {
            k: "***" if _SECRET_KEY.fullmatch(str(k)) and v is not None else redact_values(v)
            for k, v in value.items()
        }
    if isinstance(value, (list, tuple)):
        return [redact_values(v) for v in value]
    if isinstance(value, str):
        return redact_command([value])[0]
    return value


def summary_dict(summary: RunSummary) -> dict[str, Any]:
    """``summary`` as strict JSON (an undefined rate is null)."""
    return {k: _finite(v) for k, v in summary.as_dict().items()}


def _finite(value: Any) -> Any:
    """nan (an undefined rate) as null: the record is strict JSON."""
    return None if isinstance(value, float) and math.isnan(value) else value


def _iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat(timespec="seconds")


def run_record(
    summary: RunSummary,
    *,
    version: str,
    command: Sequence[str],
    judges: Iterable[object],
    settings: Mapping[str, Any],
    store: str | Path,
    started: float,
    ended: float | None = None,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The record as a JSON-ready dict; ``judges`` are backends (their ``id`` and, where
    the backend has one, its ``resolved`` mapping); ``extra`` adds fields of a command's
    own (a pipeline's file and steps)."""
    ended = time.time() if ended is None else ended
    return {
        "ultrajudge": version,
        "command": redact_command(command),
        "judges": [
            {"id": _judge_id(b), "resolved": dict(getattr(b, "resolved", None) or {})}
            for b in judges
        ],
        "settings": redact_values(dict(settings)),
        "summary": summary_dict(summary),
        "started": _iso(started),
        "ended": _iso(ended),
        "seconds": round(ended - started, 3),
        "store": str(store),
        **(extra or {}),
    }


def _judge_id(backend: object) -> str:
    """The backend's ``id``; its ``str`` only when it has none (``getattr``'s default would
    be built for every backend: a repr holding each prompt a scripted judge was sent)."""
    judge_id = getattr(backend, "id", None)
    return str(backend) if judge_id is None else str(judge_id)


_SUMMED = ("prompt_tokens", "completion_tokens", "seconds", "made_now")


def with_cumulative(record: Mapping[str, Any], previous: Any) -> dict[str, Any]:
    """``record`` with ``cumulative``: its summary's tokens, judging seconds, cost, API
    requests and store entries made, added to the ``previous`` record's cumulative figures
    when that record is of the same judges and store (a resumed run adds to what the runs
    before it spent); ``runs`` counts them. A cost or request count unknown in any run is
    unknown (None). Each of a pipeline's ``steps`` gets its own ``cumulative`` the same
    way, from the previous record's step of the same name and backends: a step's
    ``summary`` is this run's, its ``cumulative`` all runs'.

    >>> first = {"judges": [{"id": "j"}], "store": "s", "summary": {"prompt_tokens": 10,
    ...          "completion_tokens": 2, "seconds": 1.0, "made_now": 4, "cost_usd": 0.5}}
    >>> again = dict(first, summary={"prompt_tokens": 0, "completion_tokens": 0,
    ...              "seconds": 0.0, "made_now": 0, "cost_usd": 0.0})
    >>> with_cumulative(again, with_cumulative(first, None))["cumulative"]
    {'prompt_tokens': 10, 'completion_tokens': 2, 'seconds': 1.0, 'made_now': 4, 'cost_usd': 0.5, 'requests': None, 'runs': 2}
    """
    same = _same_run(record, previous)
    before = previous.get("cumulative") if same else None
    out = {**record, "cumulative": _cumulative(record.get("summary"), before)}
    steps = record.get("steps")
    if isinstance(steps, list):
        earlier = _steps_by_name(previous) if same else {}
        out["steps"] = [_step_cumulative(step, earlier) for step in steps]
    return out


def _cumulative(summary: Any, before: Any) -> dict[str, Any]:
    """One run's figures (``summary``) added to the runs' before it (``before``, or None)."""
    summary = summary if isinstance(summary, Mapping) else {}
    api = summary.get("api")
    now: dict[str, Any] = {k: summary.get(k) or 0 for k in _SUMMED}
    now |= {"cost_usd": summary.get("cost_usd"), "requests": None, "runs": 1}
    if isinstance(api, Mapping):
        now["requests"] = api.get("requests")
    if not isinstance(before, Mapping):
        return now
    cost = _add_known(now["cost_usd"], before.get("cost_usd"))
    requests = _add_known(now["requests"], before.get("requests"))
    now = {k: now[k] + (before.get(k) or 0) for k in _SUMMED}
    runs = 1 + (before.get("runs") or 0)
    return now | {"cost_usd": cost, "requests": None if requests is None else int(requests), "runs": runs}  # fmt: skip


def _steps_by_name(previous: Any) -> dict[str, Mapping[str, Any]]:
    steps = previous.get("steps") if isinstance(previous, Mapping) else None
    return {
        str(s.get("step")): s
        for s in (steps if isinstance(steps, list) else ())
        if isinstance(s, Mapping)
    }


def _step_cumulative(step: Any, earlier: Mapping[str, Mapping[str, Any]]) -> Any:
    """``step`` with its ``cumulative``, added to the earlier record's step of the same name
    when that step ran the same backends (else this run starts the count)."""
    if not isinstance(step, Mapping):
        return step
    before = earlier.get(str(step.get("step")))
    if before is None or before.get("backends") != step.get("backends"):
        before = {}
    return {**step, "cumulative": _cumulative(step.get("summary"), before.get("cumulative"))}


def _same_run(record: Mapping[str, Any], previous: Any) -> bool:
    if not isinstance(previous, Mapping):
        return False
    ids = [j.get("id") for j in previous.get("judges") or () if isinstance(j, Mapping)]
    return previous.get("store") == record.get("store") and ids == [
        j.get("id") for j in record.get("judges") or ()
    ]


def _add_known(a: Any, b: Any) -> float | None:
    """``a + b`` when both are numbers; None (unknown) otherwise."""
    numbers = [v for v in (a, b) if isinstance(v, int | float) and not isinstance(v, bool)]
    return float(sum(numbers)) if len(numbers) == 2 else None


def write_run_record(
    out: str | Path, record: Mapping[str, Any], *, protect: Iterable[str | Path | None] = ()
) -> Path:
    """Write ``record`` to :func:`record_path` of ``out`` (atomically), with its
    :func:`with_cumulative` figures over the runs that wrote ``out`` before."""
    from ultrajudge.judge.io import write_text

    try:
        previous = json.loads(record_path(out).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        previous = None
    record = with_cumulative(record, previous)
    text = json.dumps(record, indent=2, ensure_ascii=False, default=str)
    return write_text(record_path(out), text + "\n", protect=protect)
