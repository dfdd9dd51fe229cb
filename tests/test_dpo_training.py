"""A real training check: TRL's DPOTrainer trains on the exported pairs as they are.

The bundled examples are scored (scripted judge), turned into pairs, written to
JSONL, read back, and given to ``DPOTrainer`` for two optimiser steps on a tiny
random model, in both TRL formats. The loss must be finite.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import pytest

trl = pytest.importorskip("trl", reason="trl is a test extra: pip install 'ultrajudge[trl]'")


EXAMPLES = Path(__file__).resolve().parents[1] / "ultrajudge" / "examples" / "feedback.jsonl"


@pytest.fixture(scope="module")
def scored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from ultrajudge.judge.backends import build_backend
    from ultrajudge.judge.io import Columns, load_rows, save_rows
    from ultrajudge.judge.rating import RatingConfig
    from ultrajudge.judge.scoring import add_score_columns, judge_dataset
    from ultrajudge.judge.store import ResultStore

    tmp = tmp_path_factory.mktemp("dpo")
    ds, backend, configs = (
        load_rows(str(EXAMPLES)),
        build_backend("scripted:auto"),
        [RatingConfig()],
    )
    with ResultStore(tmp / "store.sqlite") as store:
        summary = judge_dataset(
            backend, ds, columns=Columns(), configs=configs, store=store, progress=False
        )
        out = add_score_columns(
            backend, ds, columns=Columns(), configs=configs, store=store, summary=summary
        )
    return save_rows(out, tmp / "scored.jsonl")


@pytest.mark.slow
@pytest.mark.parametrize("fmt", ["standard", "conversational"])
def test_dpo_trainer_trains_on_exported_pairs(
    fmt: str, scored: Path, tiny_model_dir: Path, tmp_path: Path
) -> None:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from ultrajudge.analysis.filters import FilterConfig
    from ultrajudge.analysis.pairs import PairBuilder, make_pairs, write_outputs
    from ultrajudge.judge.io import load_rows

    outcome = make_pairs(
        load_rows(str(scored)),
        PairBuilder("best-vs-random-lower"),
        FilterConfig(min_margin=1.0).filters(),
        format=fmt,  # type: ignore[arg-type]
    )
    write_outputs(outcome, out=tmp_path / "pairs.jsonl")
    train = load_rows(str(tmp_path / "pairs.jsonl"))
    assert len(train) >= 4

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_pretrained(tiny_model_dir, dtype=torch.float32)
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    # transformers 5 renamed gradient_checkpointing; switch it off under either name
    fields = {f.name for f in dataclasses.fields(trl.DPOConfig)}
    checkpointing = (
        "activation_checkpointing"
        if "activation_checkpointing" in fields
        else "gradient_checkpointing"
    )
    args = trl.DPOConfig(
        output_dir=str(tmp_path / "out"),
        max_steps=2,
        per_device_train_batch_size=2,
        learning_rate=1e-4,
        max_length=256,
        report_to=[],
        use_cpu=True,
        logging_steps=1,
        save_strategy="no",
        **{checkpointing: False},
        dataloader_num_workers=0,
        seed=0,
    )
    trainer = trl.DPOTrainer(
        model=model, args=args, train_dataset=train, processing_class=tokenizer
    )
    # the transformers judge backend switches autograd off process-wide when it loads a
    # model (an earlier test may have loaded one); training needs it on
    with torch.enable_grad():
        result = trainer.train()
    assert result.global_step == 2
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 2 and all(math.isfinite(x) for x in losses)
    assert math.isfinite(result.training_loss)
