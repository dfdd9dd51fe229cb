"""The vllm: backend on the real engine (the community CPU build runs it here): logprob
ratings equal the transformers backend's, prompts are tokenised the same, exact
log-probabilities past the engine's max_logprobs, an over-long prompt is marked too_long, a
prompt the engine refuses fails alone; through the CLI: the run record's resolved block, an
over-long row never reaches the engine (both modes), a finished rerun asks the engine for
nothing and writes the same bytes, a Hub model is named by the commit loaded. Marked
``vllm``; ``scripts/test-vllm.sh`` runs them in a venv of their own (vLLM pins its own
torch). Skipped where vllm does not import."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("vllm")

from ultrajudge.judge.rating import RatingConfig, rate_rows
from ultrajudge.judge.tiny import TinyShape, build_tiny_model
from ultrajudge.judge.types import GenerationParams, LogprobRequest, Message

pytestmark = pytest.mark.vllm

ITEMS = [
    ("What is synthetic data?", ["Data made by a program.", "A kind of music."]),
    ("Name a prime number.", ["7", "Eight", "Two is the only even prime."]),
]


#: vLLM's CPU attention has kernels for head sizes 32, 64, 80, ... (not the tests' usual 16).
SHAPE = TinyShape(
    hidden_size=128, num_attention_heads=2, num_key_value_heads=1, intermediate_size=256
)


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return build_tiny_model(tmp_path_factory.mktemp("vllm") / "tiny-64", shape=SHAPE, seed=0)


@pytest.fixture(scope="module")
def engine(model_dir):
    from ultrajudge.judge.backends.vllm import VllmBackend

    backend = VllmBackend(str(model_dir), dtype="float32", max_model_len=2048)
    yield backend
    # stop the engine's process now, while pytest's streams still take its log lines
    core = getattr(getattr(backend.llm, "llm_engine", None), "engine_core", None)
    if core is not None:
        core.shutdown()


@pytest.fixture(scope="module")
def hf(model_dir):
    from ultrajudge.judge.backends import build_backend

    return build_backend(str(model_dir), dtype="float32", device="cpu")


def test_logprob_ratings_equal_the_transformers_backend(engine, hf):
    config = RatingConfig(mode="logprob", min_mass=0.0)
    ours = rate_rows(engine, ITEMS, config)
    theirs = rate_rows(hf, ITEMS, config)
    for a, b in zip(ours, theirs):
        for x, y in zip(a.ratings, b.ratings):
            assert x.status == y.status == "ok"
            assert x.value == pytest.approx(y.value, abs=5e-3)
            assert x.probs == pytest.approx(y.probs, abs=5e-3)


def test_the_continued_prefix_is_tokenised_like_the_transformers_backend(engine, hf):
    messages = (Message("system", "You judge."), Message("user", "Rate: 2 + 2 = 4"))
    prefix = "#### Output for Text 1\nRating:"
    expected = hf.encode(hf.render(messages) + prefix)
    assert engine.prompt_ids(messages, prefix=prefix) == expected
    sampling = engine.logprob_sampling(engine.candidate_token_ids(["1"]), 5)
    (result,) = engine.llm.chat(
        [[m.as_dict() for m in messages] + [{"role": "assistant", "content": prefix}]],
        sampling,
        use_tqdm=False,
        add_generation_prompt=False,
        continue_final_message=True,
    )
    assert list(result.prompt_token_ids) == expected


def test_an_over_long_prompt_is_too_long_and_the_rest_is_judged(engine):
    long = (Message("user", " ".join(["word"] * 3000)),)
    short = (Message("user", "hi"),)
    out = engine.chat([short, long], GenerationParams(max_new_tokens=4))
    assert out[0].error is None and out[0].completion_tokens >= 1
    assert out[1].error is not None and out[1].error.startswith("too_long")
    (dist,) = engine.next_token_logprobs([LogprobRequest(long, "Rating: ")], candidates=["1"])
    assert dist.error is not None and dist.error.startswith("too_long")


def test_the_generation_prompt_is_tokenised_like_the_engine(engine):
    messages = (Message("system", "You judge."), Message("user", "Rate: 2 + 2 = 4"))
    ids = engine.prompt_ids(messages)
    (result,) = engine.llm.chat(
        [[m.as_dict() for m in messages]],
        engine._sampling(GenerationParams(max_new_tokens=1)),
        use_tqdm=False,
    )
    assert list(result.prompt_token_ids) == ids  # what the too_long pre-flight counts


def test_exact_logprobs_of_more_tokens_than_max_logprobs(engine, hf):
    letters = [chr(c) for c in range(ord("a"), ord("z") + 1)]
    wanted = engine.candidate_token_ids(letters)
    assert len(set(wanted.values())) > engine.capabilities.max_top_logprobs == 20
    assert engine.logprob_sampling(wanted, 20).logprobs is None
    req = LogprobRequest((Message("user", "Pick a letter."),), "Letter:")
    (dist,) = engine.next_token_logprobs([req], candidates=letters)
    (ref,) = hf.next_token_logprobs([req], candidates=letters, top_k=1)
    assert dist.error is None and set(wanted) <= set(dist.logprobs)
    for text in wanted:
        assert dist.logprobs[text] == pytest.approx(ref.logprobs[text], abs=1e-4)


def test_a_prompt_the_engine_refuses_fails_alone(engine):
    # vLLM refuses an empty prompt (VLLMValidationError, no ValueError): not a dead engine
    out = engine.complete(["", "Hello"], GenerationParams(max_new_tokens=2))
    assert out[0].error is not None and out[0].error.startswith("refused: vLLM refused")
    assert "empty" in out[0].error
    assert out[1].error is None and out[1].completion_tokens >= 1


# -- through the CLI, on the module's engine ----------------------------------------------

LONG = " ".join(["word"] * 3000)  # about 3000 tokens: over the engine's 2048


@pytest.fixture()
def cli_engine(engine, model_dir, monkeypatch, no_library_progress_bars):
    """The CLI's ``vllm.LLM(...)`` gets the module's engine (one start per module), after
    checking it asked for the same one; ``prompts`` records what reached it."""
    import vllm

    prompts: list[str] = []
    chat, generate = engine.llm.chat, engine.llm.generate

    def build(**kwargs):
        assert kwargs == engine.engine_kwargs(), kwargs
        return engine.llm

    def counted_chat(conversations, *args, **kwargs):
        prompts.extend(json.dumps(c) for c in conversations)
        return chat(conversations, *args, **kwargs)

    def counted_generate(items, *args, **kwargs):
        prompts.extend(json.dumps(i) for i in items)
        return generate(items, *args, **kwargs)

    monkeypatch.setattr(vllm, "LLM", build)
    monkeypatch.setattr(engine.llm, "chat", counted_chat)
    monkeypatch.setattr(engine.llm, "generate", counted_generate)
    return prompts


def _rows(path: Path) -> Path:
    rows = [
        {"instruction": "What is synthetic data?", "completions": ["Data made by a program."]},
        {"instruction": "Say something long.", "completions": [LONG]},
        {"instruction": "Name a prime number.", "completions": ["7", "Eight"]},
    ]
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def _score(src: Path, out: Path, model_dir: Path, *more: str) -> int:
    from ultrajudge.cli import run

    return run(["score", str(src), "--judge", f"vllm:{model_dir}", "-O", "dtype=float32",
                "-O", "max_model_len=2048", "-a", "helpfulness", "-o", str(out),
                "--no-progress", *more])  # fmt: skip


def test_cli_logprob_run_record_too_long_and_a_rerun_from_the_store(
    cli_engine, engine, model_dir, tmp_path
):
    from ultrajudge.judge.io import load_rows

    src, out = _rows(tmp_path / "rows.jsonl"), tmp_path / "scored.jsonl"
    assert _score(src, out, model_dir, "--mode", "logprob", "--min-mass", "0") == 0
    rows = load_rows(str(out))
    assert [r["rating_status"] for r in rows] == [["ok"], ["too_long"], ["ok", "ok"]]
    assert rows[1]["ratings"] == [None]
    assert cli_engine and not any("word word word" in p for p in cli_engine)  # never sent
    record = json.loads((tmp_path / "scored.jsonl.run.json").read_text())
    (judge,) = record["judges"]
    import vllm

    assert judge == {
        "id": engine.id,
        "resolved": {
            "vllm": vllm.__version__,
            "max_context": 2048,
            "max_context_source": "option max_model_len",
        },
    }
    assert judge["id"].startswith("vllm:tiny-64@") and judge["id"].endswith(":float32")
    assert record["summary"]["statuses"]["too_long"] == 1
    first = out.read_bytes()
    cli_engine.clear()
    assert _score(src, out, model_dir, "--mode", "logprob", "--min-mass", "0") == 0
    assert cli_engine == []  # every judgment came from the store: the engine was asked nothing
    assert out.read_bytes() == first


def test_cli_generate_mode_marks_the_long_row_too_long_unsent(cli_engine, model_dir, tmp_path):
    from ultrajudge.judge.io import load_rows

    src, out = _rows(tmp_path / "rows.jsonl"), tmp_path / "generated.jsonl"
    code = _score(src, out, model_dir, "--mode", "generate", "--max-new-tokens", "8",
                  "--max-retries", "0", "--max-failure-rate", "1")  # fmt: skip
    assert code == 0
    statuses = [r["rating_status"] for r in load_rows(str(out))]
    assert statuses[1] == ["too_long"] and "too_long" not in statuses[0] + statuses[2]
    assert len(cli_engine) == 2 and not any("word word word" in p for p in cli_engine)


def test_a_hub_model_is_named_by_the_commit_loaded(model_dir, tmp_path):
    """A Hub id served from a local Hub cache (offline): the judge id and the run record
    name the commit the engine loaded. Its own process: the cache is read from the
    environment when huggingface_hub loads."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--uj-test--tiny"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    snapshot = repo / "snapshots" / commit
    snapshot.mkdir(parents=True)
    for f in Path(model_dir).iterdir():
        (snapshot / f.name).symlink_to(f)
    src, out = _rows(tmp_path / "rows.jsonl"), tmp_path / "hub.jsonl"
    env = dict(os.environ, HF_HUB_CACHE=str(tmp_path / "hub"), HF_HUB_OFFLINE="1")
    code = "from ultrajudge.cli import main; main()"
    argv = ["score", str(src), "--judge", "vllm:uj-test/tiny", "-O", "dtype=float32",
            "-O", "max_model_len=2048", "-a", "helpfulness", "-o", str(out), "--mode",
            "logprob", "--min-mass", "0", "--no-progress"]  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code, *argv], env=env, cwd=tmp_path,
                          capture_output=True, text=True, timeout=400)  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (judge,) = json.loads((tmp_path / "hub.jsonl.run.json").read_text())["judges"]
    assert judge["id"] == f"vllm:uj-test/tiny@{commit}:float32"
    assert judge["resolved"]["commit"] == commit
