"""The packed, prefix-sharing forward gives the logits of a plain forward, without padding."""

from __future__ import annotations

import random

import pytest
import torch

from judge.backends import packed
from judge.backends.packed import Node, Piece, build_tree, crop, lcp, run_nodes


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

    from judge.backends.packed import ATTENTION_NAME, PackingUnsupported

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
    from judge.types import GenerationParams

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
