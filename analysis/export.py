"""TRL-ready preference pairs: standard or conversational format, validated, written.

TRL's preference trainers (``DPOTrainer``, ``RewardTrainer``) read ``prompt``,
``chosen`` and ``rejected``: strings in the *standard* format, message lists in
the *conversational* one (the prompt's messages ending in a user turn; chosen and
rejected one assistant turn each). ``RewardTrainer`` also reads ``margin``. The
export adds ``score_chosen``, ``score_rejected``, ``margin``, the judge ids
(``judge``; for a jury each juror's ``judge__<name>`` and scores
``score_chosen__<name>``/``score_rejected__<name>``) and the provenance:
``chosen_model``, ``rejected_model`` (from ``completion_models``), the
completions' indices, the source row and its id.

:func:`validate_pairs` checks the result before anything is written: no empty or
None text, no pair whose chosen equals its rejected, chosen scored above
rejected, and in conversational format a prompt that ends in a user turn (never
a system turn) with well-formed messages.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from ultrajudge.judge.errors import ConfigError, UserError

__all__ = ["FORMATS", "ExportError", "frame_records", "to_trl", "validate_pairs", "write_pairs"]

Format = Literal["standard", "conversational"]
FORMATS: tuple[str, ...] = ("standard", "conversational")
_SCORES = ("score_chosen", "score_rejected", "margin")
PROVENANCE = (
    "chosen_model",
    "rejected_model",
    "chosen_index",
    "rejected_index",
    "source_row",
    "source_id",
)


class ExportError(UserError, ValueError):
    """The pairs break a rule of the TRL format; the message lists the first offenders."""


def to_trl(pairs: pd.DataFrame, *, format: Format = "standard") -> list[dict[str, Any]]:
    """One TRL record per pair (see the module docstring), validated."""
    if format not in FORMATS:
        raise ConfigError(f"unknown format {format!r}; formats are {', '.join(FORMATS)}")
    jurors = [c.removeprefix("score_chosen__") for c in pairs if c.startswith("score_chosen__")]
    extra = ["judge", *(f"judge__{n}" for n in jurors)]
    extra += [f"score_{side}__{n}" for n in jurors for side in ("chosen", "rejected")]
    records = []
    for row in pairs.to_dict("records"):
        record: dict[str, Any] = _texts(row, format)
        record.update(
            score_chosen=float(row["score_chosen"]),
            score_rejected=float(row["score_rejected"]),
            margin=float(row["margin"]),
        )
        record.update({c: _plain(row.get(c)) for c in [*extra, *PROVENANCE]})
        records.append(record)
    validate_pairs(records, format=format)
    return records


def _texts(row: Mapping[str, Any], format: Format) -> dict[str, Any]:
    if format == "standard":
        return {"prompt": row["prompt"], "chosen": row["chosen"], "rejected": row["rejected"]}
    messages = row.get("prompt_messages")
    prompt = list(messages) if isinstance(messages, list) and messages else None
    return {
        "prompt": prompt or [{"role": "user", "content": row["prompt"]}],
        "chosen": [{"role": "assistant", "content": row["chosen"]}],
        "rejected": [{"role": "assistant", "content": row["rejected"]}],
    }


def _plain(value: Any) -> Any:
    """pandas' NaN for a missing value becomes None (JSON null, Arrow null)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item") and not isinstance(value, (list, dict, str)):
        return value.item()  # numpy scalars
    return value


def _problems(record: Mapping[str, Any], format: Format) -> list[str]:
    problems = []
    texts = {k: record.get(k) for k in ("prompt", "chosen", "rejected")}
    if format == "conversational":
        problems += _message_problems(texts)
        flat = {k: _joined(v) for k, v in texts.items()}
    else:
        flat = texts
        problems += [f"{k} is not a string" for k, v in texts.items() if not isinstance(v, str)]
    problems += [f"{k} is empty" for k, v in flat.items() if isinstance(v, str) and not v.strip()]
    problems += [f"{k} is None" for k, v in flat.items() if v is None]
    if flat["chosen"] is not None and flat["chosen"] == flat["rejected"]:
        problems.append("chosen is identical to rejected")
    sc, sr = record.get("score_chosen"), record.get("score_rejected")
    if not (isinstance(sc, float) and isinstance(sr, float) and sc > sr):
        problems.append(f"score_chosen {sc!r} is not above score_rejected {sr!r}")
    return problems


def _joined(messages: Any) -> str | None:
    if not isinstance(messages, list):
        return None
    return "\n".join(str(m.get("content") or "") for m in messages if isinstance(m, Mapping))


def _message_problems(texts: Mapping[str, Any]) -> list[str]:
    problems = []
    for key, messages in texts.items():
        if not isinstance(messages, list) or not messages:
            problems.append(f"{key} is not a non-empty list of messages")
            continue
        for m in messages:
            if not isinstance(m, Mapping) or m.get("role") not in ("system", "user", "assistant"):
                problems.append(f"{key} has a malformed message {m!r:.80}")
            elif not isinstance(m.get("content"), str) or not m["content"].strip():
                problems.append(f"{key} has a {m.get('role')} message with empty content")
    prompt = texts["prompt"]
    last = prompt[-1] if isinstance(prompt, list) and prompt else None
    if isinstance(last, Mapping) and last.get("role") != "user":
        problems.append(f"prompt ends in a {last.get('role')} turn, not a user turn")
    for key in ("chosen", "rejected"):
        value = texts[key]
        if isinstance(value, list) and any(
            isinstance(m, Mapping) and m.get("role") != "assistant" for m in value
        ):
            problems.append(f"{key} holds a turn that is not the assistant's")
    return problems


def validate_pairs(records: Iterable[Mapping[str, Any]], *, format: Format) -> None:
    """Raise :class:`ExportError` listing (up to ten) records that break a rule."""
    bad = []
    for i, record in enumerate(records):
        problems = _problems(record, format)
        if problems:
            bad.append(f"pair {i}: {'; '.join(problems)}")
    if bad:
        more = f" (and {len(bad) - 10} more)" if len(bad) > 10 else ""
        raise ExportError(
            f"{len(bad)} pair(s) are not valid TRL preference data{more}: " + " | ".join(bad[:10])
        )


def write_pairs(
    records: list[dict[str, Any]],
    out: str | Path | None,
    *,
    protect: Sequence[str | Path | None] = (),
) -> Any:
    """Write ``records`` as a ``datasets.Dataset`` to ``out`` (``.jsonl``, ``.parquet`` or a
    ``save_to_disk`` folder, atomically; nothing when ``out`` is None) and return it.
    Sharing on the Hub is the command line's ``--push-to-hub`` (:mod:`ultrajudge.judge.hub`)."""
    import datasets

    from ultrajudge.judge.io import save_rows

    if records:
        ds = datasets.Dataset.from_list(records)
    else:  # no pairs: the columns are still there (a Parquet file keeps them)
        ds = datasets.Dataset.from_dict({k: [] for k in ("prompt", "chosen", "rejected", *_SCORES)})
    if out is not None:
        save_rows(ds, out, protect=protect)
    return ds


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A DataFrame's rows as plain dicts (NaN → None), e.g. for the dropped-rows file."""
    return [{k: _plain(v) for k, v in row.items()} for row in frame.to_dict("records")]
