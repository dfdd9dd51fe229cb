"""Attention for decoding steps on CPU: explicit matmuls instead of the fused SDPA kernel.

While ``generate`` decodes, every step attends one new token per row to the whole KV
cache. PyTorch's fused CPU attention kernel spends about 2 ms per layer on that (16 rows,
1,400 cached positions, bf16: 60% of a decoding step); the same attention as two
batched matmuls and a float32 softmax takes a tenth of it. The numerics are those of
``transformers``' eager attention (scores in the model's dtype, softmax in float32).

``decoding_attention(model)`` swaps the function in (through ``transformers``'
``AttentionInterface``, with SDPA's mask format) for the duration of a ``generate``
call; a step with more than one query (a prefill ``generate`` runs itself) goes to SDPA.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

DECODE_NAME = "ultrajudge_decode"


def decode_attention(
    module: Any,
    query: Any,
    key: Any,
    value: Any,
    attention_mask: Any,
    dropout: float = 0.0,
    scaling: float | None = None,
    **kwargs: Any,
) -> tuple[Any, None]:
    """``AttentionInterface`` function; ``attention_mask`` is SDPA's (bool, True = attend)."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    batch, heads, length, dim = query.shape
    kv_heads = key.shape[1]
    unsupported = kwargs.get("sliding_window") is not None or kwargs.get("softcap") is not None
    if length != 1 or heads % kv_heads or unsupported:
        return sdpa_attention_forward(
            module, query, key, value, attention_mask, dropout=dropout, scaling=scaling, **kwargs
        )
    group = heads // kv_heads
    scale = scaling if scaling is not None else dim**-0.5
    q = (query * scale).view(batch, kv_heads, group, dim)
    scores = torch.matmul(q, key.transpose(-1, -2)).float()  # [batch, kv_heads, group, keys]
    if attention_mask is not None:
        visible = attention_mask[:, 0, -1, : scores.shape[-1]][:, None, None, :]
        if visible.dtype == torch.bool:
            scores.masked_fill_(~visible, float("-inf"))
        else:
            scores.add_(visible)
    probs = torch.softmax(scores, dim=-1).to(value.dtype)
    out = torch.matmul(probs, value)  # [batch, kv_heads, group, dim]
    return out.view(batch, 1, heads, dim), None


def _register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, sdpa_mask

    if DECODE_NAME not in AttentionInterface._global_mapping:
        AttentionInterface.register(DECODE_NAME, decode_attention)
    if DECODE_NAME not in ALL_MASK_ATTENTION_FUNCTIONS._global_mapping:
        ALL_MASK_ATTENTION_FUNCTIONS.register(DECODE_NAME, sdpa_mask)


@contextlib.contextmanager
def decoding_attention(model: Any) -> Iterator[None]:
    """Decode with ``decode_attention`` inside the block (the model's own attention after)."""
    _register()
    config = model.config
    previous = config._attn_implementation
    config._attn_implementation = DECODE_NAME
    try:
        yield
    finally:
        config._attn_implementation = previous
