"""The vllm: backend on the real engine (the community CPU build runs it here): logprob
ratings equal the transformers backend's, the continued prefix is tokenised the same, an
over-long prompt is marked too_long. Marked ``vllm``; ``scripts/test-vllm.sh`` runs them in a
venv of their own (vLLM pins its own torch). Skipped where vllm does not import."""

from __future__ import annotations

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

    return VllmBackend(str(model_dir), dtype="float32", max_model_len=2048)


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
