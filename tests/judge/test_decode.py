"""Decoding steps attend with explicit matmuls: the same result as SDPA, used by generate."""

from __future__ import annotations

import pytest
import torch
from transformers.integrations.sdpa_attention import sdpa_attention_forward

from ultrajudge.judge.backends import decode


class _Module:
    is_causal = True
    layer_idx = 0
    training = False
    num_key_value_groups = 3


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
@pytest.mark.parametrize("masked", [True, False])
def test_decode_attention_equals_sdpa(dtype, masked) -> None:
    gen = torch.Generator().manual_seed(0)
    batch, heads, kv_heads, keys, dim = 3, 6, 2, 40, 16
    q = torch.randn(batch, heads, 1, dim, generator=gen).to(dtype)
    k = torch.randn(batch, kv_heads, keys, dim, generator=gen).to(dtype)
    v = torch.randn(batch, kv_heads, keys, dim, generator=gen).to(dtype)
    mask = None
    if masked:  # left padding of 0, 5 and 17 positions, and an unused tail (a static cache)
        mask = torch.ones(batch, 1, 1, keys, dtype=torch.bool)
        for row, pad in enumerate((0, 5, 17)):
            mask[row, ..., :pad] = False
        mask[..., 35:] = False
    ours, _ = decode.decode_attention(_Module(), q, k, v, mask, scaling=0.3)
    reference, _ = sdpa_attention_forward(_Module(), q, k, v, mask, scaling=0.3)
    tolerance = 1e-5 if dtype == torch.float32 else 2e-2
    torch.testing.assert_close(ours, reference, atol=tolerance, rtol=tolerance)


def test_a_prefill_step_goes_to_sdpa() -> None:
    q = torch.randn(1, 4, 5, 8)
    kv = torch.randn(1, 2, 5, 8)
    ours, _ = decode.decode_attention(_Module(), q, kv, kv, None)
    reference, _ = sdpa_attention_forward(_Module(), q, kv, kv, None)
    torch.testing.assert_close(ours, reference)


def test_generate_decodes_with_it_and_restores_the_model_attention(
    tiny_backend, monkeypatch
) -> None:
    from ultrajudge.judge.types import GenerationParams

    calls = []
    real = decode.decode_attention

    def spy(module, query, *args, **kwargs):
        calls.append(query.shape[2])
        return real(module, query, *args, **kwargs)

    monkeypatch.setattr(decode, "decode_attention", spy)
    monkeypatch.delitem(
        __import__("transformers").AttentionInterface._global_mapping, decode.DECODE_NAME, False
    )
    before = tiny_backend.model.config._attn_implementation
    out = tiny_backend.complete(["Rating: 3 Text 1 output"], GenerationParams(max_new_tokens=6))
    assert out[0].completion_tokens == 6
    assert calls and set(calls) == {1}  # every decoding step, one query each
    assert tiny_backend.model.config._attn_implementation == before
