"""The compiled causal-softmax kernel equals PyTorch's masked softmax, and is optional."""

from __future__ import annotations

import pytest
import torch

from ultrajudge.judge.backends import kernels, packed


def _torch_causal_softmax(scores: torch.Tensor, n_pad: int, first: int) -> torch.Tensor:
    rows = scores.float().view(-1, n_pad, scores.shape[-1])
    cols = torch.arange(scores.shape[-1])
    visible = cols[None, :] <= first + torch.arange(n_pad)[:, None]
    rows = rows.masked_fill(~visible, float("-inf"))
    return torch.softmax(rows, dim=-1).view(scores.shape).to(torch.bfloat16)


needs_kernel = pytest.mark.skipif(
    kernels.causal_softmax_kernel() is None, reason="no C compiler for the kernel"
)


@needs_kernel
@pytest.mark.parametrize(("n_pad", "cols", "first"), [(8, 64, 0), (32, 100, 40), (16, 40, 60)])
def test_kernel_equals_the_torch_masked_softmax(n_pad, cols, first) -> None:
    gen = torch.Generator().manual_seed(cols)
    scores = (torch.randn(6 * n_pad, cols, generator=gen) * 4).to(torch.bfloat16)
    ours = kernels.causal_softmax_bf16(scores, n_pad, first)
    assert ours is not None and ours.dtype == torch.bfloat16
    expected = _torch_causal_softmax(scores, n_pad, first)
    torch.testing.assert_close(ours.float(), expected.float(), atol=4e-3, rtol=8e-3)
    visible = torch.arange(cols)[None, :] <= first + torch.arange(n_pad)[:, None]
    assert (ours.view(-1, n_pad, cols)[:, ~visible] == 0).all()  # masked columns are zeros
    torch.testing.assert_close(ours.float().sum(-1), torch.ones(6 * n_pad), atol=2e-2, rtol=0)


def test_only_contiguous_bf16_cpu_scores_qualify() -> None:
    assert kernels.causal_softmax_bf16(torch.zeros(4, 8), 4, 0) is None  # float32
    assert kernels.causal_softmax_bf16(torch.zeros(8, 4, dtype=torch.bfloat16).t(), 4, 0) is None


def test_without_a_compiler_there_is_no_kernel(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(kernels.shutil, "which", lambda name: None)
    assert kernels._build() is None


def test_the_kernel_is_built_once_into_the_cache(monkeypatch, tmp_path) -> None:
    if kernels.shutil.which("cc") is None and kernels.shutil.which("gcc") is None:
        pytest.skip("no C compiler")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    first = kernels._build()
    assert first is not None and first.parent == tmp_path / "ultrajudge" / "kernels"
    mtime = first.stat().st_mtime_ns
    assert kernels._build() == first and first.stat().st_mtime_ns == mtime


@pytest.mark.parametrize("kernel", [True, False])
def test_attention_is_the_same_with_and_without_the_kernel(monkeypatch, kernel) -> None:
    if not kernel:
        monkeypatch.setattr(kernels, "causal_softmax_kernel", lambda: None)
    elif kernels.causal_softmax_kernel() is None:
        pytest.skip("no C compiler for the kernel")
    gen = torch.Generator().manual_seed(3)
    heads, kv_heads, dim, length, context = 6, 2, 16, 45, 30
    keys_len = packed._round_up(context + length, packed.K_PAD)
    q = torch.randn(heads, length, dim, generator=gen).to(torch.bfloat16)
    k = torch.zeros(kv_heads, keys_len, dim, dtype=torch.bfloat16)
    v = torch.zeros(kv_heads, keys_len, dim, dtype=torch.bfloat16)
    k[:, : context + length] = torch.randn(kv_heads, context + length, dim, generator=gen)
    v[:, : context + length] = torch.randn(kv_heads, context + length, dim, generator=gen)
    out = torch.empty(length, heads, dim, dtype=torch.bfloat16)
    packed.attend_segment(q, k, v, context, dim**-0.5, out)
    kk = k.float().repeat_interleave(3, 0)[:, : context + length]
    vv = v.float().repeat_interleave(3, 0)[:, : context + length]
    scores = q.float() @ kk.transpose(1, 2) * dim**-0.5
    visible = torch.ones(length, context + length, dtype=torch.bool).tril(context)
    expected = torch.softmax(scores.masked_fill(~visible, float("-inf")), -1) @ vv
    torch.testing.assert_close(out.float(), expected.transpose(0, 1), atol=3e-2, rtol=3e-2)
