"""The vllm: backend's requests against a stand-in ``vllm`` module (the real engine is tested
by scripts/test-vllm.sh, tests marked ``vllm``): engine options, the continued-prefix logprob
call with exact scale-token log-probabilities, structured output, raw token prompts, the
pre-flight for over-long prompts, a dying engine; ratings read through the rating code."""

from __future__ import annotations

import json
import math
import sys
import types
from dataclasses import dataclass, field, replace
from typing import Any

import pytest

from ultrajudge.judge.backends.transformers import ModelLoadError
from ultrajudge.judge.backends.vllm import EngineDied, build_vllm
from ultrajudge.judge.errors import ConfigError
from ultrajudge.judge.rating import RatingConfig, rate_rows
from ultrajudge.judge.types import GenerationParams, LogprobRequest, Message, final_failure


@dataclass
class FakeSamplingParams:
    n: int = 1
    max_tokens: int = 16
    temperature: float = 1.0
    top_p: float = 1.0
    seed: int | None = None
    stop: list[str] | None = None
    logprobs: int | None = None
    prompt_logprobs: int | None = None
    logprob_token_ids: list[int] | None = None
    structured_outputs: Any = None


class ClientError(Exception):
    """vLLM's VLLMClientError: a request refused, and no ValueError."""


@dataclass
class FakeStructured:
    regex: str | None = None
    json: Any = None


@dataclass
class Logprob:
    logprob: float


@dataclass
class Output:
    text: str
    token_ids: list[int]
    finish_reason: str = "stop"
    logprobs: Any = None


@dataclass
class Result:
    prompt_token_ids: list[int]
    outputs: list[Output]


@dataclass
class FakeLLM:
    tokenizer: Any
    max_model_len: int = 4096
    calls: list[tuple[str, Any, Any, dict]] = field(default_factory=list)
    fail: bool = False
    #: a call holding a prompt with this text is refused as a whole (vLLM checks every
    #: prompt of a call before it runs any)
    refuse: str | None = None
    refusal: type[Exception] = ValueError
    #: token id -> logprob served for the next token (others absent)
    logprobs: dict[int, float] = field(default_factory=dict)

    @property
    def model_config(self) -> Any:
        return types.SimpleNamespace(
            max_model_len=self.max_model_len, dtype="bfloat16", max_logprobs=20
        )

    def get_tokenizer(self) -> Any:
        return self.tokenizer

    def _answer(self, ids: list[int], sampling: FakeSamplingParams) -> Result:
        if self.fail:
            raise RuntimeError("EngineDeadError: engine core died")
        step = None
        if sampling.logprob_token_ids is not None:
            step = {t: Logprob(self.logprobs.get(t, -30.0)) for t in sampling.logprob_token_ids}
        return Result(
            ids,
            [Output("#### Output for Text 1\nRating: 4\nRationale: ok", [5, 6], logprobs=[step])],
        )

    def _check(self, prompts: list) -> None:
        if self.refuse is not None and any(self.refuse in str(p) for p in prompts):
            raise self.refusal(f"the prompt holds {self.refuse!r}")

    def chat(self, conversations, sampling, **kwargs):
        self._check(conversations)
        self.calls.append(("chat", conversations, sampling, kwargs))
        out = []
        for messages in conversations:
            cont = kwargs.get("continue_final_message", False)
            ids = self.tokenizer.apply_chat_template(
                messages, tokenize=True, add_generation_prompt=not cont, continue_final_message=cont
            )
            out.append(
                self._answer(list(ids["input_ids"] if hasattr(ids, "keys") else ids), sampling)
            )
        return out

    def generate(self, prompts, sampling, **kwargs):
        self._check(prompts)
        self.calls.append(("generate", prompts, sampling, kwargs))
        return [self._answer(p["prompt_token_ids"], sampling) for p in prompts]


@pytest.fixture()
def fake_vllm(monkeypatch, tiny_model_dir):
    from transformers import AutoTokenizer

    built: list[dict] = []
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)

    def LLM(**kwargs):
        built.append(kwargs)
        return FakeLLM(tokenizer, max_model_len=kwargs.get("max_model_len", 4096))

    module = types.ModuleType("vllm")
    module.LLM = LLM  # type: ignore[attr-defined]
    module.SamplingParams = FakeSamplingParams  # type: ignore[attr-defined]
    sp = types.ModuleType("vllm.sampling_params")
    sp.StructuredOutputsParams = FakeStructured  # type: ignore[attr-defined]
    exceptions = types.ModuleType("vllm.exceptions")
    exceptions.VLLMClientError = ClientError  # type: ignore[attr-defined]
    module.__path__ = []  # type: ignore[attr-defined]  # a package: vllm.exceptions imports
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setitem(sys.modules, "vllm.sampling_params", sp)
    monkeypatch.setitem(sys.modules, "vllm.exceptions", exceptions)
    return built


def test_engine_options_prefix_caching_on_model_defaults_off(fake_vllm, tiny_model_dir):
    backend = build_vllm(str(tiny_model_dir), max_model_len="128", gpu_memory_utilization="0.5",
                         tensor_parallel_size="2", quantization="fp8")  # fmt: skip
    (kwargs,) = fake_vllm
    assert kwargs["enable_prefix_caching"] is True and kwargs["generation_config"] == "vllm"
    assert kwargs["max_model_len"] == 128 and kwargs["tensor_parallel_size"] == 2
    assert kwargs["gpu_memory_utilization"] == 0.5 and kwargs["quantization"] == "fp8"
    assert "revision" not in kwargs
    assert backend.id.startswith("vllm:tiny-judge@") and backend.id.endswith(":bfloat16:fp8")
    assert backend.capabilities.max_context == 128 and backend.capabilities.structured_regex
    assert backend.resolved == {
        "vllm": "unknown",
        "max_context": 128,
        "max_context_source": "option max_model_len",
    }
    with pytest.raises(ConfigError, match="bad option for the vllm backend"):
        build_vllm(str(tiny_model_dir), colour="red")
    with pytest.raises(ConfigError, match="max_model_len=4k: the vllm backend needs a number"):
        build_vllm(str(tiny_model_dir), max_model_len="4k")
    assert build_vllm(str(tiny_model_dir), trust_remote_code="yes").trust_remote_code is True


def test_identity_and_the_resolved_record(fake_vllm, tiny_model_dir, tmp_path):
    import shutil

    plain = build_vllm(str(tiny_model_dir))
    assert plain.id == f"vllm:{plain.id.split(':')[1]}:bfloat16"  # no quantization, no tag
    assert plain.resolved["max_context_source"] == "vLLM's max_model_len from the model's config"
    other = shutil.copytree(tiny_model_dir, tmp_path / "tiny-judge")
    weights = next(other.glob("*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-8] + b"\x00" * 8)  # other weights, same name
    assert build_vllm(str(other)).id != plain.id
    assert build_vllm(str(tiny_model_dir)).id == plain.id
    # a Hub model is named with the commit the engine loaded; a local folder never is
    hub = build_vllm(str(tiny_model_dir))
    hub.model_path = "org/judge"
    assert hub._judge_id("0123abcd", "torch.float16") == "vllm:org/judge@0123abcd:float16"
    assert hub.resolved.get("commit") is None  # a local folder has no commit
    with pytest.raises(ModelLoadError, match="no such directory"):
        build_vllm(str(tmp_path / "missing"))
    assert len(fake_vllm) == 4  # the missing folder never started an engine


def test_logprob_call_continues_the_prefix_and_asks_exact_scale_tokens(fake_vllm, tiny_model_dir):
    backend = build_vllm(str(tiny_model_dir))
    wanted = backend.candidate_token_ids(["1", "2", "3", "4", "5"])
    backend.llm.logprobs = {
        wanted[k]: math.log(p) for k, p in zip(["1", "2", "3"], [0.5, 0.25, 0.25]) if k in wanted
    }
    req = LogprobRequest((Message("user", "rate this"),), "#### Output for Text 1\nRating: ")
    (dist,) = backend.next_token_logprobs([req], candidates=["1", "2", "3", "4", "5"])
    ((kind, conversations, sampling, kwargs),) = backend.llm.calls
    assert kind == "chat"
    assert kwargs == {
        "use_tqdm": False,
        "add_generation_prompt": False,
        "continue_final_message": True,
    }
    assert conversations[0][-1] == {"role": "assistant", "content": req.assistant_prefix}
    assert sampling.max_tokens == 1 and sampling.prompt_logprobs is None
    assert sampling.logprob_token_ids == sorted(set(wanted.values()))
    assert sampling.logprobs == len(sampling.logprob_token_ids)
    # more spellings than the engine's max_logprobs: logprobs unset, every id still asked
    backend.capabilities = replace(backend.capabilities, max_top_logprobs=3)
    many = backend.logprob_sampling(wanted, 20)
    assert many.logprobs is None and many.logprob_token_ids == sampling.logprob_token_ids
    assert dist.error is None and dist.prompt_tokens == len(
        backend.prompt_ids(req.messages, prefix=req.assistant_prefix)
    )
    for k, p in zip(["1", "2", "3"], [0.5, 0.25, 0.25]):
        if k in wanted:
            assert dist.logprobs[k] == pytest.approx(math.log(p))


def test_over_long_prompts_are_marked_before_the_call(fake_vllm, tiny_model_dir):
    backend = build_vllm(str(tiny_model_dir), max_model_len="40")
    short = (Message("user", "hi"),)
    long = (Message("user", " ".join(["word"] * 200)),)
    out = backend.chat([short, long, short], GenerationParams(max_new_tokens=4))
    assert [c.error is None for c in out] == [True, False, True]
    assert out[1].error.startswith("too_long: the prompt has") and "limit of 40" in out[1].error
    ((_, sent, _, _),) = backend.llm.calls
    assert len(sent) == 2  # the over-long one never reached vLLM
    dists = backend.next_token_logprobs([LogprobRequest(long, "Rating: ")], candidates=["1"])
    assert dists[0].error.startswith("too_long") and len(backend.llm.calls) == 1


def test_structured_raw_prompts_and_a_dying_engine(fake_vllm, tiny_model_dir):
    backend = build_vllm(str(tiny_model_dir))
    params = GenerationParams(max_new_tokens=8, temperature=0.7, seed=3, stop=("\n\n",))
    backend.chat_structured([(Message("user", "x"),)], params, regex=r"Rating: [1-5]")
    _, _, sampling, _ = backend.llm.calls[-1]
    assert sampling.structured_outputs == FakeStructured(regex=r"Rating: [1-5]")
    assert (sampling.temperature, sampling.seed, sampling.stop, sampling.max_tokens) == (
        0.7,
        3,
        ["\n\n"],
        8,
    )
    (done,) = backend.complete(["<|im_start|>user\n"], params)
    kind, prompts, _, _ = backend.llm.calls[-1]
    assert kind == "generate" and prompts == [
        {
            "prompt_token_ids": backend.tokenizer.encode(
                "<|im_start|>user\n", add_special_tokens=False
            )
        }
    ]
    assert done.completion_tokens == 2 and done.text.startswith("#### Output")
    backend.llm.fail = True
    with pytest.raises(EngineDied, match="rerun the same command to resume"):
        backend.chat([(Message("user", "x"),)], params)


def test_logprob_ratings_through_the_rating_code(fake_vllm, tiny_model_dir):
    backend = build_vllm(str(tiny_model_dir))
    wanted = backend.candidate_token_ids(["1", "2", "3", "4", "5"])
    probs = {"4": 0.75, "5": 0.25}
    backend.llm.logprobs = {
        i: math.log(probs[t.strip()])
        for t, i in wanted.items()
        if t.strip() in probs and not t.startswith(" ")
    }
    (row,) = rate_rows(backend, [("q", ["a", "b"])], RatingConfig(mode="logprob"))
    assert [r.status for r in row.ratings] == ["ok", "ok"], row.ratings[0].raw
    assert [r.value for r in row.ratings] == [pytest.approx(4.25)] * 2
    assert all(c[0] == "chat" and c[3]["continue_final_message"] for c in backend.llm.calls)


def test_a_dying_engine_is_one_line_exit_4_and_the_rerun_resumes(
    fake_vllm, tiny_model_dir, tmp_path, monkeypatch, capsys, no_library_progress_bars
):
    from ultrajudge.cli import run
    from ultrajudge.judge.io import load_rows

    src = tmp_path / "rows.jsonl"
    src.write_text(
        "".join(
            f'{{"instruction": "question {i}", "completions": ["answer {i}"]}}\n' for i in range(6)
        )
    )
    out = tmp_path / "scored.jsonl"
    sent: list[int] = []
    alive = FakeLLM.chat

    def dies_after_one_call(self, conversations, sampling, **kwargs):
        if sent:
            raise RuntimeError("EngineDeadError: engine core died")
        sent.append(len(conversations))
        return alive(self, conversations, sampling, **kwargs)

    monkeypatch.setattr(FakeLLM, "chat", dies_after_one_call)
    argv = ["score", str(src), "--judge", f"vllm:{tiny_model_dir}", "-o", str(out),
            "-a", "helpfulness", "--batch-size", "2", "--no-progress"]  # fmt: skip
    assert run(argv) == 4
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "the vLLM engine of" in err[0] and "rerun the same command" in err[0]
    assert "Traceback" not in err[0] and sent == [2]

    calls: list[int] = []
    monkeypatch.setattr(
        FakeLLM, "chat", lambda self, c, s, **k: (calls.append(len(c)), alive(self, c, s, **k))[1]
    )
    assert run(argv) == 0
    assert sum(calls) == 4  # the two rows judged before the engine died came from the store
    assert [r["instruction"] for r in load_rows(str(out))] == [f"question {i}" for i in range(6)]


@pytest.mark.parametrize("refusal", [ValueError, ClientError])
def test_a_refused_prompt_fails_alone_and_finally(fake_vllm, tiny_model_dir, refusal):
    backend = build_vllm(str(tiny_model_dir))
    backend.llm.refuse, backend.llm.refusal = "BAD", refusal
    convs = [(Message("user", text),) for text in ["a", "b", "BAD c", "d", "e"]]
    out = backend.chat(convs, GenerationParams(max_new_tokens=4))
    assert [c.error is None for c in out] == [True, True, False, True, True]
    assert out[2].error == "refused: vLLM refused the request: the prompt holds 'BAD'"
    assert final_failure("backend_error", out[2].error)  # the runner never asks it again
    sent = sorted(len(c[1]) for c in backend.llm.calls)
    assert sent == [2, 2]  # halved: [a b] ok; [BAD-c d e] refused -> [BAD-c] alone, [d e] ok
    reqs = [LogprobRequest(c, "Rating: ") for c in convs]
    dists = backend.next_token_logprobs(reqs, candidates=["1", "2"])
    assert [d.error is None for d in dists] == [True, True, False, True, True]
    assert dists[2].error.startswith("refused: vLLM refused the request")


def test_a_refused_row_is_backend_error_and_the_rest_is_scored(
    fake_vllm, tiny_model_dir, tmp_path, no_library_progress_bars
):
    from ultrajudge.cli import run
    from ultrajudge.judge.io import load_rows

    src = tmp_path / "rows.jsonl"
    texts = ["fine", "fine too", "BAD one", "fine again"]
    src.write_text("".join(f'{{"instruction": "q", "completions": ["{t}"]}}\n' for t in texts))
    out = tmp_path / "scored.jsonl"
    argv = ["score", str(src), "--judge", f"vllm:{tiny_model_dir}", "-o", str(out),
            "-a", "helpfulness", "--no-progress"]  # fmt: skip
    sent: list[int] = []
    real_chat = FakeLLM.chat

    def chat(self, conversations, sampling, **kwargs):
        self.refuse = "BAD"
        result = real_chat(self, conversations, sampling, **kwargs)
        sent.append(len(conversations))
        return result

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(FakeLLM, "chat", chat)
        assert run(argv) == 0
    rows = load_rows(str(out))
    assert [r["rating_status"] for r in rows] == [["ok"], ["ok"], ["backend_error"], ["ok"]]
    assert [r["ratings"] for r in rows] == [[4.0], [4.0], [None], [4.0]]
    assert sum(sent) == 3  # the refused one was never retried
    record = json.loads((tmp_path / "scored.jsonl.run.json").read_text())
    assert record["judges"][0]["resolved"]["max_context_source"].startswith("vLLM's")


def test_the_hub_commit_is_the_cache_snapshot_the_revision_points_to(tmp_path, tiny_model_dir):
    from ultrajudge.judge.backends.vllm import hub_commit

    old, new = "1" * 40, "2" * 40
    repo = tmp_path / "models--org--judge"
    for commit in (old, new):
        (repo / "snapshots" / commit).mkdir(parents=True)
        (repo / "snapshots" / commit / "config.json").write_text("{}")
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(new)
    (repo / "refs" / "v1").write_text(old)
    cache = str(tmp_path)
    assert hub_commit("org/judge", None, cache) == new
    assert hub_commit("org/judge", "v1", cache) == old
    assert hub_commit("org/judge", old, cache) == old
    assert hub_commit("org/other", None, cache) is None
    assert hub_commit(str(tiny_model_dir), None, cache) is None
