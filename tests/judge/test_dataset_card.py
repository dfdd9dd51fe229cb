"""The dataset card of a pushed output: front matter the Hub reads, the run record's facts,
and never a key from the command line (a property test over key shapes and positions)."""

from __future__ import annotations

from pathlib import Path

import datasets
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from ultrajudge.judge.dataset_card import card_facts, dataset_card

_BODY = st.text("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-", min_size=12, max_size=40)  # fmt: skip
_KEY = st.builds(lambda prefix, body: prefix + body, st.sampled_from(["sk-", "sk-proj-", "hf_"]), _BODY)  # fmt: skip
_OPTION = st.sampled_from(["api_key={}", "API_KEY={}", "token={}", "{}", "password={}"])


@settings(max_examples=200, deadline=None)
@given(key=_KEY, option=_OPTION, before=st.integers(0, 3))
def test_no_key_on_the_command_line_reaches_the_card(key: str, option: str, before: int) -> None:
    rows = datasets.Dataset.from_list([{"judge": "openai:m@http://127.0.0.1:1/v1 (vllm)"}])
    argv = ["ultrajudge", "score", "in.jsonl", *["--no-progress"] * before, "-O", option.format(key)]  # fmt: skip
    facts = card_facts(Path("/nonexistent/out.jsonl"), rows, version="0.1.0", command=argv)
    card = dataset_card(facts)
    assert key not in card and "***" in card
    assert "ultrajudge score in.jsonl" in card


def test_the_card_front_matter_is_yaml_the_hub_reads() -> None:
    rows = datasets.Dataset.from_list([{"rating_status": ["ok", "parse_error"]}] * 1500)
    facts = card_facts(Path("/nonexistent/out.jsonl"), rows, version="0.1.0", command=["u"])
    card = dataset_card(facts, configs=["default", "scored"])
    meta = yaml.safe_load(card.split("---\n")[1])
    assert meta == {
        "size_categories": ["1K<n<10K"],
        "task_categories": ["text-generation"],
        "tags": ["ultrajudge", "llm-as-judge"],
        "configs": [
            {
                "config_name": "default",
                "data_files": [{"split": "train", "path": "data/train-*"}],
                "default": True,
            },
            {
                "config_name": "scored",
                "data_files": [{"split": "train", "path": "scored/train-*"}],
            },
        ],
    }
    assert "- statuses: ok 1500, parse_error 1500" in card
    assert "- judge: (not recorded)" in card and "1500 rows" in card
