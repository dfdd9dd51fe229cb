"""The packed, prefix-sharing forward gives the logits of a plain forward, without padding."""

from __future__ import annotations

import random

import pytest
import torch

from ultrajudge.judge.backends import packed
from ultrajudge.judge.backends.packed import Node, Piece, build_tree, crop, lcp, run_nodes


def _sequences(vocab: int) -> list[list[int]]:
    rng = random.Random(0)
    system = [rng.randrange(vocab) for _ in range(40)]
    row = [rng.randrange(vocab) for _ in range(30)]
    seqs = [
        system + row + [rng.randrange(vocab) for _ in range(rng.randrange(5, 50))] for _ in range(4)
    ]
    seqs += [system + [rng.randrange(vocab) for _ in range(20)] for _ in range(3)]
    seqs.append(list(seqs[0]))  # a duplicate
    seqs.append(seqs[0][:60])  # ends inside the shared row prefix
    seqs.append(system[:3] + [rng.randrange(vocab) for _ in range(12)])  # shares too little
    return seqs


def _plain_last_logits(model, seq: list[int]) -> torch.Tensor:
    with torch.inference_mode():
        return model(input_ids=torch.tensor([seq])).logits[0, -1].float()


@pytest.mark.parametrize("block", [256, 32])
def test_packed_tree_matches_plain_forward(tiny_backend, monkeypatch, block) -> None:
    monkeypatch.setattr(packed, "Q_BLOCK", block)  # 32: segments span several query blocks
    model = tiny_backend.model
    seqs = _sequences(len(tiny_backend.tokenizer))
    nodes, reads, chains = build_tree(seqs, [], keep_leaves=True)
    assert len(nodes[0].tokens) == 40 and nodes[0].pos0 == 0  # the shared prefix, once
    processed, padding = run_nodes(model, nodes, max_tokens=64)
    assert processed - padding == sum(len(n.tokens) for n in nodes) < sum(map(len, seqs)) * 0.6
    assert processed % packed.PAD_TO == 0 and padding < processed * 0.3
    for seq, (node, k), chain in zip(seqs, reads, chains):
        assert packed.chain_length(chain) == len(seq)
        torch.testing.assert_close(node.logits[k].float(), _plain_last_logits(model, seq))
    # continue one sequence from the middle of its chain (a re-tokenised boundary)
    longer = [*seqs[2][:-3], 5, 6, 7, 8]
    common = lcp(longer, seqs[2])
    step = Node(longer[common:], common, crop(chains[2], common), reads=[3])
    run_nodes(model, [step], max_tokens=64)
    torch.testing.assert_close(step.logits[0].float(), _plain_last_logits(model, longer))


def test_build_tree_rejects_sequences_inside_the_base() -> None:
    base = [Piece(Node([1, 2, 3], 0, []), 3)]
    with pytest.raises(ValueError, match="longer than the shared base"):
        build_tree([[1, 2, 3]], base, keep_leaves=False)


def test_a_model_that_ignores_the_attention_interface_is_refused(tiny_backend, monkeypatch) -> None:
    from transformers import AttentionInterface

    from ultrajudge.judge.backends.packed import ATTENTION_NAME, PackingUnsupported

    sdpa = AttentionInterface._global_mapping["sdpa"]
    monkeypatch.setitem(AttentionInterface._global_mapping, ATTENTION_NAME, sdpa)
    (node, *_), _, _ = build_tree([[1, 2, 3, 4]], [], keep_leaves=False)
    with pytest.raises(PackingUnsupported, match="0 of 2 layers"):
        run_nodes(tiny_backend.model, [node], max_tokens=64)


def test_generate_prefill_cache_matches_the_model_own(tiny_backend) -> None:
    """Generate mode prefills packed, then hands ``generate`` a left-padded cache."""
    rng = random.Random(1)
    vocab = len(tiny_backend.tokenizer)
    shared = [rng.randrange(vocab) for _ in range(30)]
    batch = [shared + [rng.randrange(vocab) for _ in range(n)] for n in (5, 17, 9)]
    cache = tiny_backend._prefill(batch, 4)
    width = max(map(len, batch)) - 1
    model = tiny_backend.model
    for b, seq in enumerate(batch):
        with torch.inference_mode():
            own = model(input_ids=torch.tensor([seq[:-1]]), use_cache=True).past_key_values
        pad = width - (len(seq) - 1)
        for layer in range(model.config.num_hidden_layers):
            ours = cache.layers[layer]
            end = pad + len(seq) - 1
            torch.testing.assert_close(ours.keys[b : b + 1, :, pad:end], own.layers[layer].keys)
            torch.testing.assert_close(ours.values[b : b + 1, :, pad:end], own.layers[layer].values)


def test_generate_with_the_packed_prefill_generates_the_same_tokens(tiny_backend) -> None:
    from ultrajudge.judge.types import GenerationParams

    prompts = ["Rating: 3 Text 1 output", "the a of to and in is that for it with as on be by this"]
    params = GenerationParams(max_new_tokens=12)
    packed_out = tiny_backend.complete(prompts, params)
    ids = [tiny_backend.encode(p) for p in prompts]
    input_ids, attention = tiny_backend._left_pad(ids)
    with torch.inference_mode():
        plain = tiny_backend.model.generate(
            input_ids=input_ids, attention_mask=attention, max_new_tokens=12, do_sample=False
        )
    plain_out = [
        tiny_backend._decode(t, len(i), params)
        for t, i in zip(plain[:, input_ids.shape[1] :].tolist(), ids)
    ]
    assert [c.text for c in packed_out] == [c.text for c in plain_out]


def _reference_attention(q, k, v, context: int, scale: float) -> torch.Tensor:
    """Softmax attention in float64: query ``i`` sees keys ``0..context + i``; [L, H, D]."""
    heads, length, _ = q.shape
    k = k.double().repeat_interleave(heads // k.shape[0], dim=0)[:, : context + length]
    v = v.double().repeat_interleave(heads // v.shape[0], dim=0)[:, : context + length]
    scores = q.double() @ k.transpose(1, 2) * scale
    visible = torch.ones(length, context + length, dtype=torch.bool).tril(context)
    scores = scores.masked_fill(~visible, float("-inf"))
    return (torch.softmax(scores, dim=-1) @ v).transpose(0, 1)


@pytest.mark.parametrize(
    ("length", "context", "block"),
    [(1, 0, 256), (5, 40, 256), (70, 0, 32), (130, 300, 64), (33, 1000, 256)],
)
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_attend_segment_is_causal_attention_over_context_then_self(
    monkeypatch, length, context, block, dtype
) -> None:
    """Blocks, GQA groups, padding of queries and keys: the result is plain causal attention."""
    monkeypatch.setattr(packed, "Q_BLOCK", block)
    monkeypatch.setattr(packed, "_TRIANGLES", {})
    gen = torch.Generator().manual_seed(length + context)
    heads, kv_heads, dim = 6, 2, 16
    keys_len = packed._round_up(context + length, packed.K_PAD)
    q = torch.randn(heads, length, dim, generator=gen).to(dtype)
    k = torch.zeros(kv_heads, keys_len, dim, dtype=dtype)
    v = torch.zeros(kv_heads, keys_len, dim, dtype=dtype)
    k[:, : context + length] = torch.randn(kv_heads, context + length, dim, generator=gen)
    v[:, : context + length] = torch.randn(kv_heads, context + length, dim, generator=gen)
    out = torch.full((length, heads, dim), float("nan"), dtype=dtype)
    packed.attend_segment(q, k, v, context, dim**-0.5, out)
    expected = _reference_attention(q, k, v, context, dim**-0.5)
    tolerance = 1e-5 if dtype == torch.float32 else 3e-2
    torch.testing.assert_close(out.double(), expected, atol=tolerance, rtol=tolerance)


def test_long_contexts_are_scored_in_smaller_query_blocks(monkeypatch) -> None:
    """Memory: a block's scores stay within SCORE_BUDGET however long the context."""
    seen: list[tuple[int, ...]] = []
    real_softmax = torch.softmax

    def spy(scores, dim):
        seen.append(tuple(scores.shape))
        return real_softmax(scores, dim=dim)

    monkeypatch.setattr(packed, "SCORE_BUDGET", 4 * 64 * 1024)
    monkeypatch.setattr(torch, "softmax", spy)
    heads, length, context = 4, 200, 1000
    q = torch.randn(heads, length, 8)
    kv = torch.randn(2, packed._round_up(context + length, packed.K_PAD), 8)
    out = torch.empty(length, heads, 8)
    packed.attend_segment(q, kv, kv, context, 0.5, out)
    assert len(seen) > 1
    assert all(k * g * n * s <= packed.SCORE_BUDGET for k, g, n, s in seen)


def test_keep_freed_memory_is_accepted_by_glibc() -> None:
    import platform

    from ultrajudge.judge.backends.cpu import keep_freed_memory

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("not glibc")
    assert keep_freed_memory() is True


def test_freed_memory_is_released_only_once_the_resident_size_grew(monkeypatch) -> None:
    from ultrajudge.judge.backends import cpu

    if cpu._glibc() is None:
        pytest.skip("not glibc")
    sizes = iter([1000, 1040, 1100, 1000])
    monkeypatch.setattr(cpu, "_resident_bytes", lambda: next(sizes))
    monkeypatch.setattr(cpu, "_first_batch_rss", [])
    assert [cpu.release_freed_memory() for _ in range(4)] == [False, False, True, False]
