"""Local Hugging Face model backend (``transformers`` + ``torch``)."""

from __future__ import annotations

import functools
import hashlib
import logging
import math
from collections.abc import Iterator, Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ultrajudge.judge.backends.base import register_backend, require_extra
from ultrajudge.judge.backends.cpu import cpu_supports_bf16, release_freed_memory
from ultrajudge.judge.backends.decode import decoding_attention
from ultrajudge.judge.backends.kernels import SoftmaxTally
from ultrajudge.judge.backends.packed import (
    MIN_SHARED,
    Chain,
    Node,
    PackingUnsupported,
    Piece,
    build_tree,
    check_supported,
    crop,
    lcp,
    run_nodes,
)
from ultrajudge.judge.backends.positions import Chooser, PositionRequest, score_positions_portable
from ultrajudge.judge.errors import ConfigError, UserError
from ultrajudge.judge.types import (
    TOO_LONG,
    Capabilities,
    Completion,
    Conversation,
    GenerationParams,
    LogprobRequest,
    TokenDistribution,
)

logger = logging.getLogger(__name__)  # a child of the "ultrajudge" logger


class ModelLoadError(UserError, RuntimeError):
    """The model or tokenizer could not be loaded; the message says what to do."""


def choose_device_dtype(device: str | None, dtype: str | None) -> tuple[str, Any]:
    import torch

    if device in (None, "auto"):
        device = "cuda" if torch.cuda.is_available() else "cpu"
    if dtype in (None, "auto"):
        if device.startswith("cuda"):
            dtype = "bfloat16" if torch.cuda.is_bf16_supported() else "float16"
        else:
            dtype = "bfloat16" if cpu_supports_bf16() else "float32"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise ConfigError(
            f"-O device={device}: this torch ({torch.__version__}) sees no CUDA device; use "
            "-O device=cpu, or install a CUDA build of torch on a machine with a GPU"
        )
    try:
        return device, getattr(torch, dtype)
    except AttributeError:
        raise ConfigError(
            f"unknown dtype {dtype!r}; use auto, bfloat16, float16 or float32"
        ) from None


def check_model_source(target: str) -> bool:
    """Fail at once, with one line, on a model that cannot load: a local path (it starts with
    ``/``, ``.`` or ``~``, or has more than one ``/``) that is no directory, or a Hub id while
    the Hub does not answer within 3 s (the Hub client would retry for about a minute).
    Returns whether to load from the local Hub cache only (the Hub is unreachable)."""
    path = Path(target).expanduser()
    if path.is_dir():
        return False
    if target.startswith(("/", ".", "~")) or target.count("/") > 1 or path.exists():
        raise ModelLoadError(
            f"no such directory: {target!r}; pass the folder that holds the model's "
            "config.json and weights (or a Hub id such as org/name)"
        )
    import os

    offline = os.environ.get("HF_HUB_OFFLINE", "0").lower() in ("1", "true", "yes")
    if not offline and _hub_reachable():
        return False
    from huggingface_hub import try_to_load_from_cache

    if isinstance(try_to_load_from_cache(target, "config.json"), str):
        return True  # cached earlier: load it from the cache, offline
    why = "HF_HUB_OFFLINE is set" if offline else "the Hugging Face Hub did not answer within 3 s"
    raise ModelLoadError(
        f"cannot load {target!r}: it is no local directory, {why}, and the model is not in "
        "the local cache; check the name and the network, or pass a local model directory"
    )


def _hub_reachable(timeout: float = 3.0) -> bool:
    """One TCP connection to the Hub's endpoint; True when a proxy is set (it decides)."""
    import os
    import socket
    from urllib.parse import urlparse

    if any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return True
    url = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        with socket.create_connection((url.hostname or "huggingface.co", port), timeout=timeout):
            return True
    except OSError:
        return False


def _batches(
    order: list[int], lengths: list[int], batch_size: int, max_tokens: int
) -> Iterator[list[int]]:
    """Consecutive groups of ``order`` (sorted by length) within a row and token budget."""
    batch: list[int] = []
    for i in order:
        longest = max([lengths[j] for j in batch] + [lengths[i]])
        if batch and (len(batch) >= batch_size or longest * (len(batch) + 1) > max_tokens):
            yield batch
            batch = []
        batch.append(i)
    if batch:
        yield batch


@dataclass
class TransformersBackend:
    """A causal LM loaded with ``from_pretrained``; left padding; length-sorted batches.

    ``score_positions`` (teacher-forced logprob scoring) runs *packed*: sequences are
    concatenated with no padding, shared prefixes are computed once, and the prefix of
    the previous call (the template) is kept for the next; see ``ultrajudge.judge.backends.packed``.
    ``tokens_processed`` and ``padding_tokens`` count what the model was actually fed;
    ``resolved["softmax_kernel"]`` says which path computed the packed attention's softmax
    in this backend's forwards so far (``kernels.SoftmaxTally.record``).
    """

    model_path: str
    device: str | None = None
    dtype: str | None = None
    batch_size: int = 64
    max_batch_tokens: int = 16384
    #: Tokens per packed forward. Small: the activations stay in the CPU caches (measured on
    #: 2 Zen 5 cores: 2048 runs 20-40% faster than 16384), and GEMMs are already efficient.
    max_packed_tokens: int = 2048
    trust_remote_code: bool = False
    revision: str | None = None  # a Hub branch, tag or commit to load (``-O revision=``)
    id: str = ""
    capabilities: Capabilities = field(init=False)
    tokens_processed: int = field(default=0, init=False)
    #: What the model resolved to (the Hub commit) and how it ran (``softmax_kernel``): the
    #: run record. Updated in place: a pipeline's record holds this very mapping.
    resolved: dict[str, Any] = field(default_factory=dict, init=False)
    padding_tokens: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.device, torch_dtype = choose_device_dtype(self.device, self.dtype)
        offline = check_model_source(self.model_path)
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(
                self.model_path,
                trust_remote_code=self.trust_remote_code,
                revision=self.revision,
                local_files_only=offline,
            )
            self.model = AutoModelForCausalLM.from_pretrained(
                self.model_path,
                revision=self.revision,
                dtype=torch_dtype,
                attn_implementation="sdpa",
                trust_remote_code=self.trust_remote_code,
                local_files_only=offline,
            ).to(self.device)  # type: ignore[arg-type]  # transformers' stubs type .to() oddly
        except OSError as exc:
            where = (
                ""
                if Path(self.model_path).exists()
                else (
                    " It is not a local directory, and the Hub could not serve it (no network, "
                    "a typo, or a gated model). Pass the path of a local model directory instead."
                )
            )
            raise ModelLoadError(
                f"could not load judge model {self.model_path!r}: {exc}.{where}"
            ) from exc
        self.model.eval()
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        if not self.id:
            commit = getattr(self.model.config, "_commit_hash", None)  # set for Hub models
            self.resolved.update({"commit": commit} if commit else {})
            model = _model_fingerprint(self.model_path, commit)
            self.id = f"transformers:{model}:{str(torch_dtype).split('.')[-1]}"
        self.capabilities = Capabilities(
            logprobs=True,
            max_top_logprobs=self.tokenizer.vocab_size,
            max_context=getattr(self.model.config, "max_position_embeddings", None),
        )
        self._packed_error: str | None = None
        self._prefix: tuple[list[int], Chain] | None = None  # the last call's shared prefix
        self._softmax = SoftmaxTally()
        try:
            check_supported(self.model)
        except PackingUnsupported as exc:
            self._packed_error = str(exc)
        self._note_softmax()

    # -- prompts ---------------------------------------------------------------

    def render(self, conversation: Conversation, *, generation_prompt: bool = True) -> str:
        if not getattr(self.tokenizer, "chat_template", None):
            raise ModelLoadError(
                f"the tokenizer of {self.model_path!r} has no chat template; judge with a chat "
                "(instruct) model, or add a chat_template to its tokenizer_config.json"
            )
        text = self.tokenizer.apply_chat_template(
            [m.as_dict() for m in conversation],
            tokenize=False,
            add_generation_prompt=generation_prompt,
        )
        return str(text)

    def encode(self, text: str) -> list[int]:
        # Chat templates already write BOS; don't add a second one.
        return self.tokenizer(text, add_special_tokens=False)["input_ids"]

    # -- generation ------------------------------------------------------------

    def chat(
        self, conversations: Sequence[Conversation], params: GenerationParams
    ) -> list[Completion]:
        return self.complete([self.render(c) for c in conversations], params)

    def complete(self, prompts: Sequence[str], params: GenerationParams) -> list[Completion]:
        ids = [self.encode(p) for p in prompts]
        lengths = [len(x) for x in ids]
        out: list[Completion | None] = [self._too_long(n, params) for n in lengths]
        order = sorted((i for i in range(len(ids)) if out[i] is None), key=lambda i: -lengths[i])
        budget = max(self.max_batch_tokens, max(lengths, default=0) + params.max_new_tokens)
        for batch in _batches(
            order, [n + params.max_new_tokens for n in lengths], self.batch_size, budget
        ):
            for i, completion in zip(batch, self._generate([ids[i] for i in batch], params)):
                out[i] = completion
        self._release()
        return [c for c in out if c is not None]

    def _too_long(self, n_tokens: int, params: GenerationParams) -> Completion | None:
        """A failed item for a prompt whose tokens and new tokens exceed the context."""
        limit = self.capabilities.max_context
        if limit is None or n_tokens + params.max_new_tokens <= limit:
            return None
        return Completion(
            "",
            n_tokens,
            0,
            "error",
            error=f"{TOO_LONG} the prompt has {n_tokens} tokens and {params.max_new_tokens} "
            f"more do not fit the model's {limit}; not generated. Shorten the input",
        )

    def _over_context(self, text: str, extra: int) -> TokenDistribution | None:
        """A failed (``too_long``) distribution when ``text`` and ``extra`` more tokens do not
        fit the context, else None. Only a text whose UTF-8 bytes could exceed it is
        tokenized (a token covers at least one byte; one more for a prefix-space token)."""
        limit = self.capabilities.max_context
        if limit is None or len(text.encode()) + 1 + extra <= limit:
            return None
        n = len(self.encode(text))
        if n + extra <= limit:
            return None
        return TokenDistribution(
            {},
            n,
            error=f"{TOO_LONG} the prompt has {n} tokens and the answer {extra} more; the model "
            f"reads {limit}; not scored. Shorten the input",
        )

    def _position_overflow(self, request: PositionRequest) -> TokenDistribution | None:
        """:meth:`_over_context` of a teacher-forced request: its prompt, every forced
        text, and up to 4 tokens for each chosen value between them."""
        prompt = request.raw_prompt if request.raw_prompt is not None else self.render(request.messages)  # fmt: skip
        return self._over_context(prompt + "".join(request.forced), 4 * (len(request.forced) - 1))

    def _generate(self, batch: list[list[int]], params: GenerationParams) -> list[Completion]:
        import torch

        input_ids, attention = self._left_pad(batch)
        cache = self._prefill(batch, params.max_new_tokens)
        if cache is None:
            self._count(batch, padded=True)
        if params.temperature > 0:
            torch.manual_seed(params.seed)
        kwargs: dict[str, Any] = {
            "max_new_tokens": params.max_new_tokens,
            "do_sample": params.temperature > 0,
            "pad_token_id": self.tokenizer.pad_token_id,
        }
        if params.temperature > 0:
            kwargs.update(temperature=params.temperature, top_p=params.top_p)
        if params.stop:
            kwargs.update(stop_strings=list(params.stop), tokenizer=self.tokenizer)
        # Decoding steps attend with explicit matmuls on CPU (ultrajudge.judge.backends.decode).
        fast = cache is not None and self.device == "cpu"
        with torch.inference_mode(), decoding_attention(self.model) if fast else nullcontext():
            generated = self.model.generate(
                input_ids=input_ids, attention_mask=attention, **{_cache_kwarg(): cache}, **kwargs
            )
        new = generated[:, input_ids.shape[1] :].tolist()
        return [self._decode(tokens, len(prompt), params) for tokens, prompt in zip(new, batch)]

    def _decode(self, tokens: list[int], prompt_len: int, params: GenerationParams) -> Completion:
        eos = self.model.generation_config.eos_token_id
        eos_ids = set(eos if isinstance(eos, list) else [eos]) | {self.tokenizer.eos_token_id}
        eos_ids.discard(None)
        n = next((k for k, t in enumerate(tokens) if t in eos_ids), None)
        finish = "stop" if n is not None else "length"
        tokens = tokens if n is None else tokens[:n]
        text = str(self.tokenizer.decode(tokens, skip_special_tokens=True))
        for stop in params.stop:
            if stop in text:
                text, finish = text.split(stop, 1)[0], "stop"
        return Completion(text, prompt_len, len(tokens), finish)

    def _count(self, batch: list[list[int]], *, padded: bool) -> None:
        width = max(len(x) for x in batch)
        self.tokens_processed += width * len(batch) if padded else sum(map(len, batch))
        self.padding_tokens += sum(width - len(x) for x in batch) if padded else 0

    def _prefill(self, batch: list[list[int]], max_new_tokens: int) -> Any:
        """The KV cache of every prompt but its last token, computed packed (no padding, the
        shared template prefix once), laid out left-padded as ``generate`` expects; None
        where packing is unavailable (``generate`` then prefills itself). The cache is
        static (allocated once): a growing one copies itself at every new token, which
        was 64% of the decoding time."""
        import torch
        from transformers import StaticCache

        if self._packed_error is not None or min(map(len, batch)) < 2:
            return None
        seqs = [x[:-1] for x in batch]
        base = self._cached_prefix(seqs)
        nodes, _, chains = build_tree(seqs, base, keep_leaves=True)
        try:
            self._run(nodes)
        except PackingUnsupported as exc:
            self._packed_error, self._prefix = str(exc), None
            self._note_softmax()
            return None
        self._remember_prefix(seqs, base, nodes)
        self.tokens_processed += len(batch)  # the last tokens, fed by generate
        width = max(map(len, seqs))
        cache = StaticCache(config=self.model.config, max_cache_len=width + 1 + max_new_tokens)
        for layer in range(self.model.config.num_hidden_layers):
            keys = [_left_padded(chain, layer, 0, width) for chain in chains]
            values = [_left_padded(chain, layer, 1, width) for chain in chains]
            cache.update(torch.cat(keys), torch.cat(values), layer)
        return cache

    def _left_pad(self, batch: list[list[int]]) -> tuple[Any, Any]:
        import torch

        width = max(len(x) for x in batch)
        pad = self.tokenizer.pad_token_id
        input_ids = torch.tensor([[pad] * (width - len(x)) + x for x in batch], device=self.device)
        attention = torch.tensor(
            [[0] * (width - len(x)) + [1] * len(x) for x in batch], device=self.device
        )
        return input_ids, attention

    # -- log-probabilities -----------------------------------------------------

    def candidate_token_ids(self, candidates: Sequence[str]) -> dict[str, int]:
        """Single-token spellings of each candidate, with and without a leading space."""
        found: dict[str, int] = {}
        for c in candidates:
            for spelled in (c, " " + c):
                ids = self.encode(spelled)
                if len(ids) == 1:
                    found[str(self.tokenizer.decode(ids))] = ids[0]
        return found

    def next_token_logprobs(
        self, requests: Sequence[LogprobRequest], *, candidates: Sequence[str] = (), top_k: int = 20
    ) -> list[TokenDistribution]:
        import torch

        texts = [
            (r.raw_prompt if r.raw_prompt is not None else self.render(r.messages))
            + r.assistant_prefix
            for r in requests
        ]
        out: list[TokenDistribution | None] = [self._over_context(t, 0) for t in texts]
        ids = [self.encode(t) if d is None else [] for t, d in zip(texts, out)]
        wanted = self.candidate_token_ids(candidates)
        order = sorted((i for i in range(len(ids)) if out[i] is None), key=lambda i: -len(ids[i]))
        for batch in _batches(order, [len(x) for x in ids], self.batch_size, self.max_batch_tokens):
            input_ids, attention = self._left_pad([ids[i] for i in batch])
            self._count([ids[i] for i in batch], padded=True)
            with torch.inference_mode():
                logits = self.model(
                    input_ids=input_ids, attention_mask=attention, logits_to_keep=1
                ).logits
            dists = self._distributions(logits[:, -1, :], wanted, top_k)
            for i, dist in zip(batch, dists):
                out[i] = TokenDistribution(dist, len(ids[i]))
        return [d for d in out if d is not None]

    def _distributions(self, logits: Any, wanted: dict[str, int], top_k: int) -> list[dict]:
        """Candidate and top-k log-probabilities of each row of ``logits`` [rows, vocab]."""
        import torch

        logprobs = torch.log_softmax(logits.float(), dim=-1)
        ids = list(wanted.values())
        picked = logprobs[:, ids].tolist() if ids else [[] for _ in range(len(logprobs))]
        top = torch.topk(logprobs, k=min(top_k, logprobs.shape[-1]), dim=-1) if top_k else None
        out = []
        for row in range(logprobs.shape[0]):
            dist: dict[str, float] = {}
            if top is not None:
                for t, v in zip(top.indices[row].tolist(), top.values[row].tolist()):
                    dist[str(self.tokenizer.decode([t]))] = v
            dist.update(zip(wanted, picked[row]))
            out.append({k: v for k, v in dist.items() if math.isfinite(v)})
        return out

    # -- teacher-forced positions, packed (fast path) ------------------------------

    def score_positions(
        self,
        requests: Sequence[PositionRequest],
        *,
        candidates: Sequence[str],
        choose: Chooser,
        top_k: int = 20,
    ) -> list[list[TokenDistribution]]:
        """Same result as ``score_positions_portable`` (within float tolerance), but one
        prefill per prompt, shared prefixes once, no padding; see the class docstring. A
        request over the context gets a ``too_long`` distribution at every position."""
        refused = [self._position_overflow(r) for r in requests]
        if any(refused):
            fits = [r for r, d in zip(requests, refused) if d is None]
            done = iter(self.score_positions(fits, candidates=candidates, choose=choose, top_k=top_k) if fits else [])  # fmt: skip
            return [[d] * len(r.forced) if d else next(done) for r, d in zip(requests, refused)]
        if self._packed_error is None:
            try:
                scored = self._score_packed(requests, candidates, choose, top_k)
                self._release()
                return scored
            except PackingUnsupported as exc:
                self._packed_error, self._prefix = str(exc), None
                self._note_softmax()
        logger.warning(
            "%s: packed scoring unavailable (%s); scoring each position with a padded forward "
            "instead",
            self.model_path,
            self._packed_error,
        )
        return score_positions_portable(
            self, requests, candidates=candidates, choose=choose, top_k=top_k
        )

    def _score_packed(
        self,
        requests: Sequence[PositionRequest],
        candidates: Sequence[str],
        choose: Chooser,
        top_k: int,
    ) -> list[list[TokenDistribution]]:
        if not requests:
            return []
        wanted = self.candidate_token_ids(candidates)
        prompts = [
            r.raw_prompt if r.raw_prompt is not None else self.render(r.messages) for r in requests
        ]
        seqs = [self.encode(p + r.forced[0]) for p, r in zip(prompts, requests)]
        base = self._cached_prefix(seqs)
        multi = any(len(r.forced) > 1 for r in requests)
        nodes, reads, chains = build_tree(seqs, base, keep_leaves=multi)
        self._run(nodes)
        self._remember_prefix(seqs, base, nodes)
        out: list[list[TokenDistribution]] = [[] for _ in requests]
        choices: list[list[str]] = [[] for _ in requests]
        todo = list(range(len(requests)))
        while todo:
            logits = [reads[i][0].logits[reads[i][1]] for i in todo]
            for i, dist in zip(todo, self._distributions(_stack(logits), wanted, top_k)):
                out[i].append(TokenDistribution(dist, len(seqs[i])))
            todo = [i for i in todo if len(out[i]) < len(requests[i].forced)]
            steps = []
            for i in todo:
                choices[i].append(choose(out[i][-1]))
                node = self._extend(i, prompts[i] + requests[i].prefix(choices[i]), seqs, chains)
                node.keep = len(out[i]) + 1 < len(requests[i].forced)
                reads[i] = (node, 0)
                steps.append(node)
            self._run(steps)
        return out

    def _release(self) -> None:
        """Between batches, on CPU: ``release_freed_memory`` (hands freed memory back to
        the OS once the resident size has grown; ``keep_freed_memory`` kept it for reuse)."""
        if self.device == "cpu":
            release_freed_memory()

    def _run(self, nodes: list[Node]) -> None:
        try:
            processed, padding = run_nodes(
                self.model, nodes, max_tokens=self.max_packed_tokens, softmax=self._softmax
            )
        finally:
            self._note_softmax()
        self.tokens_processed += processed
        self.padding_tokens += padding

    def _note_softmax(self) -> None:
        """``resolved["softmax_kernel"]``: which path computed each packed attention block's
        softmax so far, counted where it ran (the compiled kernel, or PyTorch and why)."""
        idle = (
            f"packed attention unavailable ({self._packed_error}); the model's own attention ran"
            if self._packed_error
            else "no packed attention forward ran (every judgment came from the store, or "
            "none took the packed path)"
        )
        self.resolved["softmax_kernel"] = self._softmax.record(idle=idle)

    def _extend(self, i: int, text: str, seqs: list[list[int]], chains: list[Chain]) -> Node:
        """A node that continues request ``i``'s chain to ``text``'s tokens (re-tokenised in
        full, so a merge across the boundary recomputes the merged token)."""
        tokens = self.encode(text)
        common = min(lcp(tokens, seqs[i]), len(tokens) - 1)
        chain = crop(chains[i], common)
        node = Node(tokens[common:], common, chain, reads=[len(tokens) - common - 1])
        seqs[i], chains[i] = tokens, [*chain, Piece(node, len(node.tokens))]
        return node

    def _cached_prefix(self, seqs: list[list[int]]) -> Chain:
        if self._prefix is None:
            return []
        tokens, chain = self._prefix
        common = min(lcp(tokens, s) for s in seqs)
        if common < MIN_SHARED or any(len(s) <= common for s in seqs):
            return []
        return crop(chain, common)

    def _remember_prefix(self, seqs: list[list[int]], base: Chain, nodes: list[Node]) -> None:
        """Keep the prefix every sequence shared (usually the template) for the next call,
        as one compact node (its keys and values copied out of the packed batch)."""
        import torch

        root = nodes[0]
        shared = (
            len(seqs) > 1
            and root.keep
            and root.parents == base
            and all(
                s[: root.pos0 + len(root.tokens)] == seqs[0][: root.pos0 + len(root.tokens)]
                for s in seqs
            )
        )
        if not shared or root.kv is None:
            return
        pieces = [*base, Piece(root, len(root.tokens))]
        kv = []
        for layer in range(len(root.kv)):
            ks = [p.node.kv[layer][0][:, :, : p.length] for p in pieces]  # type: ignore[index]
            vs = [p.node.kv[layer][1][:, :, : p.length] for p in pieces]  # type: ignore[index]
            kv.append((torch.cat(ks, dim=2), torch.cat(vs, dim=2)))
        length = root.pos0 + len(root.tokens)
        node = Node(list(seqs[0][:length]), 0, [], keep=True, kv=kv, done=True)
        self._prefix = (node.tokens, [Piece(node, length)])


@functools.cache
def _cache_kwarg() -> str:
    """The keyword ``generate`` takes a ready KV cache under: ``cache`` in the transformers
    releases that renamed it (passing ``past_key_values`` there is a FutureWarning, and an
    error from 6.0), ``past_key_values`` before. Detected from the names ``generate`` knows,
    not from a version number."""
    from transformers.generation import utils

    return "cache" if "cache" in getattr(utils, "ALL_CACHE_NAMES", ()) else "past_key_values"


def _left_padded(chain: Chain, layer: int, which: int, width: int) -> Any:
    """A chain's keys (``which=0``) or values (1) of one layer, left-padded to ``width``."""
    import torch

    parts = [p.node.kv[layer][which][:, :, : p.length] for p in chain]  # type: ignore[index]
    pad = width - sum(p.length for p in chain)
    return torch.nn.functional.pad(torch.cat(parts, dim=2), (0, 0, pad, 0))


def _stack(rows: list[Any]) -> Any:
    import torch

    return torch.stack(rows)


def _model_fingerprint(model_path: str, commit: str | None = None) -> str:
    """A Hub model by id and the commit it resolved to (a new commit pushed to the judge's
    repository is another judge); a local directory by name + a hash of its files' sizes,
    heads and tails.

    >>> _model_fingerprint("org/judge", "0123456789abcdef")
    'org/judge@0123456789abcdef'
    """
    path = Path(model_path)
    if not path.is_dir():
        return f"{model_path}@{commit}" if commit else model_path
    digest = hashlib.sha256()
    for f in sorted(path.iterdir()):
        if not f.is_file():
            continue
        size = f.stat().st_size
        digest.update(f"{f.name}:{size}".encode())
        with open(f, "rb") as fh:  # head and tail: cheap even for multi-GB weights
            digest.update(fh.read(1 << 16))
            fh.seek(max(0, size - (1 << 16)))
            digest.update(fh.read(1 << 16))
    return f"{path.name}@{digest.hexdigest()[:12]}"


@register_backend("transformers")
def build_transformers(target: str, **options: Any) -> TransformersBackend:
    """A local directory or a Hub id; options: device, dtype, batch_size, max_batch_tokens,
    max_packed_tokens."""
    require_extra("hf", ("torch", "transformers"), f"judge {target!r} is a local model, which")
    for key in ("batch_size", "max_batch_tokens", "max_packed_tokens"):
        if key in options:
            options[key] = int(options[key])
    if "trust_remote_code" in options:
        options["trust_remote_code"] = str(options["trust_remote_code"]).lower() in (
            "1",
            "true",
            "yes",
        )
    try:
        return TransformersBackend(target, **options)
    except TypeError as exc:
        raise ConfigError(f"bad option for the transformers backend: {exc}") from exc
