"""The dataset card (the repo's README.md) of an output pushed to the Hub.

It says what the output's run record says: the judge id(s), the template(s) and scale(s),
the command line (API keys redacted), the ultrajudge version, the row count and the status
histogram, whether a local judge's compiled softmax kernel ran, plus the column mapping the
output was judged by. The front matter is what the
Hub reads: ``configs`` (where each config's Parquet files are), tags, task category and
size category; no licence (ultrajudge cannot know the data's).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ultrajudge.judge.datafiles import read_json_beside
from ultrajudge.judge.hub import data_dir
from ultrajudge.judge.run_record import record_path, redact_command

__all__ = ["CardFacts", "card_facts", "dataset_card", "size_category"]

TAGS = ("ultrajudge", "llm-as-judge")
TASK_CATEGORY = "text-generation"
_STATUS_COLUMNS = ("rating_status", "status")


@dataclass(frozen=True)
class CardFacts:
    """What the card states about one output."""

    command: tuple[str, ...]
    version: str
    rows: int
    judges: tuple[str, ...] = ()
    templates: tuple[str, ...] = ()
    scales: tuple[str, ...] = ()
    statuses: Mapping[str, int] = field(default_factory=dict)
    columns: Mapping[str, Any] | None = None
    #: (judge id, summary) of each judge whose record says how its softmax kernel ran
    softmax_kernel: tuple[tuple[str, str], ...] = ()


def card_facts(
    out: str | Path,
    ds: Any,
    *,
    version: str,
    command: Sequence[str],
    columns: Mapping[str, Any] | None = None,
    source: str | Path | None = None,
) -> CardFacts:
    """The facts of the output ``out`` (its rows ``ds``), from its run record
    ``<out>.run.json`` where it has one. Without one (``pairs``, ``generate``), the judges,
    templates and scales come from the run record of ``source`` (the scored input of
    ``pairs``), else from the rows' ``judge`` columns; the command line is ``command``, the
    version ``version`` and the statuses the rows' status column. ``columns``: the
    recorded column mapping, if any."""
    own = _read_record(out)
    judging = own or (_read_record(source) if source is not None else {})
    judges = [str(j.get("id")) for j in judging.get("judges", []) if isinstance(j, Mapping)]
    summary = own.get("summary")
    statuses = summary.get("statuses") if isinstance(summary, Mapping) else None
    settings = judging.get("settings", {})
    return CardFacts(
        command=tuple(redact_command(own.get("command") or command)),
        version=str(own.get("ultrajudge") or version),
        rows=len(ds),
        judges=tuple(judges or _judge_ids(ds)),
        templates=tuple(_unique(_values(settings, "template"))),
        scales=tuple(_unique(_scale_text(s) for s in _values(settings, "scale"))),
        statuses=dict(statuses) if isinstance(statuses, Mapping) else _status_counts(ds),
        columns=columns,
        softmax_kernel=tuple(_softmax_kernel(judging.get("judges"))),
    )


def dataset_card(facts: CardFacts, *, configs: Iterable[str] = ("default",)) -> str:
    """The README.md text: YAML front matter the Hub accepts, then the facts.

    >>> text = dataset_card(CardFacts(("ultrajudge", "pairs", "s.jsonl"), "0.1.0", 3))
    >>> text.splitlines()[:4]
    ['---', 'size_categories:', '- n<1K', 'task_categories:']
    >>> "ultrajudge pairs s.jsonl" in text.splitlines()
    True
    """
    from huggingface_hub import DatasetCard, DatasetCardData

    data = DatasetCardData(
        size_categories=[size_category(facts.rows)],
        task_categories=[TASK_CATEGORY],
        tags=list(TAGS),
        configs=[_config_entry(c) for c in configs],
    )
    return str(DatasetCard(f"---\n{data.to_yaml()}\n---\n\n{_body(facts)}"))


def size_category(rows: int) -> str:
    """The Hub's size category of a dataset of ``rows`` rows.

    >>> [size_category(n) for n in (0, 999, 1000, 250_000, 10**13)]
    ['n<1K', 'n<1K', '1K<n<10K', '100K<n<1M', 'n>1T']
    """
    bounds = ["1K", "10K", "100K", "1M", "10M", "100M", "1B", "10B", "100B", "1T"]
    if rows < 1000:
        return "n<1K"
    for k, upper in enumerate(bounds[1:], 1):
        if rows < 1000 * 10**k:
            return f"{bounds[k - 1]}<n<{upper}"
    return "n>1T"


def _config_entry(config: str) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "config_name": config,
        "data_files": [{"split": "train", "path": f"{data_dir(config)}/train-*"}],
    }
    if config == "default":
        entry["default"] = True
    return entry


def _body(facts: CardFacts) -> str:
    command = " ".join(facts.command).replace("```", "'''")
    lines = [
        "# Judged with ultrajudge",
        "",
        f"Written by ultrajudge {facts.version}: {facts.rows} rows.",
        "",
        "```bash",
        command,
        "```",
        "",
        f"- judge: {_listed(facts.judges)}",
        f"- template: {_listed(facts.templates)}",
        f"- scale: {_listed(facts.scales)}",
    ]
    if facts.statuses:
        counts = ", ".join(f"{k} {v}" for k, v in sorted(facts.statuses.items(), key=lambda kv: (-kv[1], kv[0])))  # fmt: skip
        lines.append(f"- statuses: {counts}")
    for judge, summary in facts.softmax_kernel:
        who = f" (`{judge}`)" if len(facts.softmax_kernel) > 1 else ""
        lines.append(f"- softmax kernel{who}: {summary}")
    if facts.columns:
        lines.append(f"- columns: `{json.dumps(dict(facts.columns), sort_keys=True)}`")
    return "\n".join(lines) + "\n"


def _listed(values: Sequence[str]) -> str:
    return ", ".join(f"`{v}`" for v in values) if values else "(not recorded)"


def _read_record(out: str | Path) -> dict[str, Any]:
    data = read_json_beside(
        record_path(out),
        "cannot read the run record {path} for the dataset card ({error}); rerun the command "
        "to write it again",
    )
    return data if isinstance(data, dict) else {}


def _softmax_kernel(judges: Any) -> list[tuple[str, str]]:
    """(id, summary) of the recorded judges' ``resolved.softmax_kernel`` (local models).

    >>> _softmax_kernel([{"id": "j", "resolved": {"softmax_kernel": {"summary": "ran"}}}, {"id": "k"}])
    [('j', 'ran')]
    """
    found = []
    for judge in judges if isinstance(judges, list) else []:
        resolved = judge.get("resolved") if isinstance(judge, Mapping) else None
        kernel = resolved.get("softmax_kernel") if isinstance(resolved, Mapping) else None
        if isinstance(kernel, Mapping) and isinstance(kernel.get("summary"), str):
            found.append((str(judge.get("id")), kernel["summary"]))
    return found


def _values(node: Any, key: str) -> list[Any]:
    """Every value of ``key`` anywhere in nested mappings and lists (the settings)."""
    if isinstance(node, Mapping):
        found = [node[key]] if key in node else []
        return found + [v for child in node.values() for v in _values(child, key)]
    if isinstance(node, list):
        return [v for child in node for v in _values(child, key)]
    return []


def _scale_text(scale: Any) -> str:
    if isinstance(scale, list):
        return ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in scale)
    return str(scale)


def _unique(values: Iterable[Any]) -> list[str]:
    return list(dict.fromkeys(str(v) for v in values if v is not None))


def _judge_ids(ds: Any) -> list[str]:
    """Judge ids in the rows' ``judge`` and ``judge__<name>`` columns (at most 20)."""
    names = [c for c in ds.column_names if c == "judge" or c.startswith("judge__")]
    found: list[str] = []
    for name in names:
        for value in ds.unique(name):
            for v in value if isinstance(value, list) else [value]:
                if v is not None and str(v) not in found:
                    found.append(str(v))
    return found[:20]


def _status_counts(ds: Any) -> dict[str, int]:
    for name in _STATUS_COLUMNS:
        if name in ds.column_names:
            counts: Counter[str] = Counter()
            for value in ds[name]:
                counts.update(str(v) for v in (value if isinstance(value, list) else [value]))
            return dict(counts)
    return {}
