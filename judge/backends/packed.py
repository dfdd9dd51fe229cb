"""Packed, prefix-sharing forward passes for Hugging Face causal LMs: no padding masks.

Many token sequences are scored in one forward by concatenating them into a single
batch row ("packing"); attention is then computed per sequence, so nothing is padded
between sequences. Each sequence is a chain of *nodes*: token segments whose keys and
values later nodes attend to. A node attends to its ancestors' keys and values and
causally to its own, so a prefix shared by many sequences (the template, a row's
instruction) is computed once, and a teacher-forced continuation costs only its new
tokens. Attention is explicit matmuls in blocks (``attend_segment``): on CPU they run at
GEMM speed, where the fused attention kernel is several times slower on these shapes.

The model keeps its own modules: only its attention function is swapped (through
``transformers``' ``AttentionInterface``) for the duration of a packed forward. A model
whose attention does not go through that interface, or that uses sliding windows or
soft-capping, is refused (``PackingUnsupported``) and the caller falls back.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from ultrajudge.judge.backends.kernels import SoftmaxTally, causal_softmax_bf16

ATTENTION_NAME = "ultrajudge_packed"
MIN_SHARED = 16  # a shared run shorter than this is recomputed rather than made a node


class PackingUnsupported(RuntimeError):
    """This model cannot be run packed; use an ordinary (padded) forward instead."""


@dataclass(eq=False)
class Node:
    """A run of tokens at absolute positions ``pos0..``, attending to ``parents``."""

    tokens: list[int]
    pos0: int
    parents: list[Piece]
    keep: bool = False  # store keys/values: later nodes attend to this one
    reads: list[int] = field(default_factory=list)  # offsets whose next-token logits we want
    kv: list[Any] | None = None  # per layer (key, value), [1, kv_heads, len, head_dim]
    logits: Any = None  # [len(reads), vocab] after the forward
    done: bool = False


@dataclass(frozen=True, eq=False)
class Piece:
    """The first ``length`` tokens of ``node``: one link of an attention chain."""

    node: Node
    length: int


Chain = list[Piece]


def chain_length(chain: Chain) -> int:
    return sum(p.length for p in chain)


def crop(chain: Chain, length: int) -> Chain:
    """The chain's first ``length`` tokens."""
    out: Chain = []
    for piece in chain:
        if length <= 0:
            break
        out.append(Piece(piece.node, min(piece.length, length)))
        length -= piece.length
    return out


# -- attention ---------------------------------------------------------------------


@dataclass
class _Plan:
    segments: list[tuple[Node, int, int]]  # node, start and end in the packed row
    used: int = 0  # tokens before the padding
    layers: set[int] = field(default_factory=set)
    softmax: SoftmaxTally | None = None  # counts which path computed each softmax block


#: Query rows per attention block (fewer when the context is long: ``SCORE_BUDGET``).
Q_BLOCK = 256
#: Query and key lengths are padded to these multiples: oneDNN builds a new matmul kernel
#: (~0.5 ms) for every new shape, so a run sees a few hundred shapes, not one per segment.
Q_PAD, K_PAD = 32, 64
#: Score elements per block (heads x queries x keys); bounds memory for long contexts.
SCORE_BUDGET = 1 << 23

_TRIANGLES: dict[Any, Any] = {}


def _triangle(device: Any) -> Any:
    """Additive causal mask: row ``i`` may see columns ``0..i`` (float32, 0 or -inf)."""
    import torch

    tri = _TRIANGLES.get(device)
    if tri is None:
        blocked = torch.ones(Q_BLOCK, Q_BLOCK + K_PAD, dtype=torch.bool, device=device).triu_(1)
        tri = torch.zeros(blocked.shape, device=device).masked_fill_(blocked, float("-inf"))
        _TRIANGLES[device] = tri
    return tri


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def attend_segment(
    query: Any,
    keys: Any,
    values: Any,
    context: int,
    scale: float,
    out: Any,
    *,
    tally: SoftmaxTally | None = None,
) -> None:
    """Causal attention of one segment's queries to its context, then to itself.

    ``query``: [H, L, D]; ``keys``/``values``: [KV, S, D] with ``S >= context + L`` (the
    context's tokens, the segment's own, then zero padding); writes ``out``: [L, H, D].

    Explicit matmuls, one query block at a time, the GQA groups of a KV head in one
    product: scores = (scale·Q)·Kᵀ in the model's dtype (what ``transformers``' eager
    attention does), softmax in float32 with the causal mask on the diagonal block only,
    then P·V. On CPU this runs the matmuls at bf16 GEMM speed where PyTorch's fused CPU
    attention kernel reaches a tenth of it on these shapes; for bf16 on CPU the masked
    softmax is one pass of a small compiled kernel (``ultrajudge.judge.backends.kernels``).
    ``tally`` counts, block by block, which of the two computed the softmax.
    """
    import torch

    heads, length, dim = query.shape
    kv_heads = keys.shape[0]
    group = heads // kv_heads
    tri = _triangle(query.device)
    total = context + length
    block = min(Q_BLOCK, max(Q_PAD, SCORE_BUDGET // (heads * total) // Q_PAD * Q_PAD))
    for s in range(0, length, block):
        e = min(length, s + block)
        n, n_pad = e - s, _round_up(e - s, Q_PAD)
        end = min(keys.shape[1], _round_up(context + e, K_PAD))
        q = query.new_zeros(kv_heads, group, n_pad, dim)
        torch.mul(query[:, s:e].unflatten(0, (kv_heads, group)), scale, out=q[:, :, :n])
        scores = torch.bmm(q.view(kv_heads, group * n_pad, dim), keys[:, :end].transpose(1, 2))
        diagonal = context + s
        attempt = causal_softmax_bf16(scores, n_pad, diagonal)  # one pass, if compiled
        probs = attempt.probs
        if probs is None:
            scores = scores.float().view(kv_heads, group, n_pad, end)
            scores[..., diagonal:].add_(tri[:n_pad, : end - diagonal])
            probs = torch.softmax(scores, dim=-1).to(values.dtype)
        if tally is not None:
            tally.note(attempt)
        o = torch.bmm(probs.view(kv_heads, group * n_pad, end), values[:, :end])
        out[s:e] = o.view(heads, n_pad, dim)[:, :n].transpose(0, 1)


def _gather(pieces: Chain, context: int, layer: int, own: tuple[Any, Any]) -> tuple[Any, Any]:
    """Keys and values [KV, S, D] each: the ``context`` tokens of ``pieces``, then ``own``
    (the segment's keys and values, [KV, L, D]), then zeros up to a multiple of ``K_PAD``."""
    length = context + own[0].shape[1]
    out = []
    for which, tail in enumerate(own):
        buf = tail.new_zeros(tail.shape[0], _round_up(length, K_PAD), tail.shape[2])
        at = 0
        for p in pieces:
            buf[:, at : at + p.length] = p.node.kv[layer][which][0, :, : p.length]  # type: ignore[index]
            at += p.length
        buf[:, at:length] = tail
        out.append(buf)
    return out[0], out[1]


def packed_attention(
    module: Any,
    query: Any,
    key: Any,
    value: Any,
    attention_mask: Any,
    dropout: float = 0.0,
    scaling: float | None = None,
    uj_plan: _Plan | None = None,
    **kwargs: Any,
) -> tuple[Any, None]:
    """``AttentionInterface`` function: each node attends to its ancestors' keys and values,
    then causally to its own (``attend_segment``); the padding attends to nothing."""
    if uj_plan is None:
        raise PackingUnsupported("packed attention was called without a plan")
    if kwargs.get("sliding_window") is not None or kwargs.get("softcap") is not None:
        raise PackingUnsupported("sliding-window and soft-capped attention are not packed")
    if query.shape[0] != 1 or query.shape[1] % key.shape[1]:
        raise PackingUnsupported("packed attention needs one row and whole GQA groups")
    layer = module.layer_idx
    uj_plan.layers.add(layer)
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    out = query.new_empty(query.shape[0], query.shape[2], query.shape[1], query.shape[3])
    for node, a, b in uj_plan.segments:
        k, v = key[:, :, a:b], value[:, :, a:b]
        if node.keep:
            assert node.kv is not None
            node.kv[layer] = (k, v)
        context = chain_length(node.parents)
        keys, values = _gather(node.parents, context, layer, (k[0], v[0]))
        attend_segment(
            query[0, :, a:b], keys, values, context, scale, out[0, a:b], tally=uj_plan.softmax
        )
    out[:, uj_plan.used :] = 0  # padding: attends to nothing
    return out, None


def check_supported(model: Any) -> None:
    """Refuse models whose attention a packed forward would compute wrongly."""
    from transformers import AttentionInterface

    config = model.config
    layer_types = getattr(config, "layer_types", None) or []
    if any(t != "full_attention" for t in layer_types):
        raise PackingUnsupported(f"layer types {sorted(set(layer_types))} are not all full")
    for name in ("attn_logit_softcapping", "final_logit_softcapping"):
        if getattr(config, name, None):
            raise PackingUnsupported(f"{name} is set")
    window = getattr(config, "sliding_window", None) and getattr(config, "use_sliding_window", True)
    if window and not layer_types:
        raise PackingUnsupported("the model uses sliding-window attention")
    if ATTENTION_NAME not in AttentionInterface._global_mapping:
        AttentionInterface.register(ATTENTION_NAME, packed_attention)


@contextlib.contextmanager
def _packed_attention_on(model: Any) -> Iterator[None]:
    config = model.config
    previous = config._attn_implementation
    config._attn_implementation = ATTENTION_NAME
    try:
        yield
    finally:
        config._attn_implementation = previous


# -- building and running nodes ------------------------------------------------------


def lcp(a: Sequence[int], b: Sequence[int]) -> int:
    """Length of the longest common prefix."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


def build_tree(
    seqs: Sequence[Sequence[int]], base: Chain, *, keep_leaves: bool, min_shared: int = MIN_SHARED
) -> tuple[list[Node], list[tuple[Node, int]], list[Chain]]:
    """Nodes of a radix tree over ``seqs`` that all start with ``base``'s tokens.

    Returns the nodes (parents first), each sequence's read (node, index into
    ``node.reads``), and each sequence's full chain.
    """
    start0 = chain_length(base)
    nodes: list[Node] = []
    reads: list[tuple[Node, int] | None] = [None] * len(seqs)
    chains: list[Chain | None] = [None] * len(seqs)

    def read_at(node: Node, offset: int) -> int:
        if offset not in node.reads:
            node.reads.append(offset)
        return node.reads.index(offset)

    def split(members: list[int], start: int, parent: Chain) -> None:
        if len(members) == 1:
            m = members[0]
            node = Node(list(seqs[m][start:]), start, parent, keep=keep_leaves)
            nodes.append(node)
            reads[m] = (node, read_at(node, len(node.tokens) - 1))
            chains[m] = [*parent, Piece(node, len(node.tokens))]
            return
        first = seqs[members[0]]
        common = min(len(seqs[m]) for m in members)
        for m in members[1:]:
            common = start + lcp(first[start:common], seqs[m][start:common])
        ends = [m for m in members if len(seqs[m]) == common]
        rest = [m for m in members if len(seqs[m]) > common]
        if common - start >= min_shared or ends:
            node = Node(list(first[start:common]), start, parent, keep=True)
            nodes.append(node)
            chain = [*parent, Piece(node, len(node.tokens))]
            for m in ends:
                reads[m], chains[m] = (node, read_at(node, len(node.tokens) - 1)), chain
            parent, start = chain, common
        groups: dict[int, list[int]] = {}
        for m in rest:
            groups.setdefault(seqs[m][common], []).append(m)
        for group in groups.values():
            split(group, start, parent)

    if any(len(s) <= start0 for s in seqs):
        raise ValueError("every sequence must be longer than the shared base")
    split(list(range(len(seqs))), start0, base)
    return nodes, reads, chains  # type: ignore[return-value]


def run_nodes(
    model: Any, nodes: Sequence[Node], *, max_tokens: int, softmax: SoftmaxTally | None = None
) -> tuple[int, int]:
    """Compute every node (parents before children), ``max_tokens`` per forward.

    A node longer than ``max_tokens`` runs alone. Returns the tokens processed and, of
    them, the padding (see ``PAD_TO``). ``softmax`` counts which path computed each
    attention block's softmax (the compiled kernel, or PyTorch and why).
    """
    pending = [n for n in nodes if not n.done]
    total = [0, 0]
    while pending:
        ready = [n for n in pending if all(p.node.done for p in n.parents)]
        if not ready:
            raise ValueError("a node's parent is neither computed nor scheduled")
        ready.sort(key=lambda n: -len(n.tokens))
        batch: list[Node] = []
        size = 0
        for node in ready:
            if batch and size + len(node.tokens) > max_tokens:
                _add(total, _forward(model, batch, softmax))
                batch, size = [], 0
            batch.append(node)
            size += len(node.tokens)
        _add(total, _forward(model, batch, softmax))
        pending = [n for n in pending if not n.done]
    return total[0], total[1]


def _add(total: list[int], counts: tuple[int, int]) -> None:
    total[0] += counts[0]
    total[1] += counts[1]


#: A packed row is padded to a multiple of this many tokens. Every new row length makes
#: oneDNN build (and cache, up to 1024 of them) new GEMM primitives: unpadded, a long run's
#: RSS grew by ~900 MB; padded, there are at most ``max_tokens / PAD_TO`` shapes.
PAD_TO = 64


def _forward(model: Any, batch: list[Node], softmax: SoftmaxTally | None) -> tuple[int, int]:
    import torch

    device = model.device
    segments: list[tuple[Node, int, int]] = []
    ids: list[int] = []
    positions: list[int] = []
    keep_idx: list[int] = []
    at = 0
    for node in batch:
        n = len(node.tokens)
        segments.append((node, at, at + n))
        ids.extend(node.tokens)
        positions.extend(range(node.pos0, node.pos0 + n))
        keep_idx.extend(at + r for r in node.reads)
        if node.keep:
            node.kv = [None] * model.config.num_hidden_layers
        at += n
    padding = -at % PAD_TO
    ids.extend([0] * padding)
    positions.extend([0] * padding)
    plan = _Plan(segments, used=at, softmax=softmax)
    with torch.inference_mode(), _packed_attention_on(model):
        logits = model(
            input_ids=torch.tensor([ids], device=device),
            position_ids=torch.tensor([positions], device=device),
            logits_to_keep=torch.tensor(keep_idx or [0], device=device),
            use_cache=False,
            uj_plan=plan,
        ).logits[0]
    if len(plan.layers) != model.config.num_hidden_layers:
        raise PackingUnsupported(
            f"the model ran packed attention in {len(plan.layers)} of "
            f"{model.config.num_hidden_layers} layers"
        )
    row = 0
    for node in batch:
        node.logits = logits[row : row + len(node.reads)]
        row += len(node.reads)
        node.done = True
    return at + padding, padding
