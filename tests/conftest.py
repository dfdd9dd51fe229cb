"""Shared fixtures: tiny random chat models built locally (no test downloads anything)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

# No test touches the network: hubs are unreachable on the build machines, and a
# hub client that tries anyway waits on timeouts. Set before any HF library loads.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest

from ultrajudge.judge.tiny import build_tiny_model

EXAMPLES = Path(__file__).resolve().parents[1] / "ultrajudge" / "examples"


@pytest.fixture()
def no_library_progress_bars() -> Iterator[None]:
    """``datasets``' progress bars off for one test, then as the test found them. The CLI
    turns them off through the environment before ``datasets`` loads; in a test session it
    loaded long ago, and a test counting stderr lines would count the bars."""
    from datasets.utils.logging import (
        disable_progress_bar,
        enable_progress_bar,
        is_progress_bar_enabled,
    )

    was_enabled = is_progress_bar_enabled()
    disable_progress_bar()
    yield
    if was_enabled:  # other tests rely on the state they set
        enable_progress_bar()


@pytest.fixture(scope="session")
def tiny_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer random Llama with a locally trained BPE tokenizer and a ChatML template,
    loadable with ``from_pretrained`` like any user's model."""
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-judge", seed=0)


@pytest.fixture(scope="session")
def tiny_backend(tiny_model_dir: Path):
    """The tiny model loaded through the transformers backend, in float32 for exact tests."""
    from ultrajudge.judge.backends import build_backend

    return build_backend(str(tiny_model_dir), dtype="float32", device="cpu")


@pytest.fixture()
def examples_file() -> Path:
    return EXAMPLES / "feedback.jsonl"
