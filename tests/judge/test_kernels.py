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
    ours, refusal = kernels.causal_softmax_bf16(scores, n_pad, first)
    assert ours is not None and ours.dtype == torch.bfloat16 and refusal == ""
    expected = _torch_causal_softmax(scores, n_pad, first)
    torch.testing.assert_close(ours.float(), expected.float(), atol=4e-3, rtol=8e-3)
    visible = torch.arange(cols)[None, :] <= first + torch.arange(n_pad)[:, None]
    assert (ours.view(-1, n_pad, cols)[:, ~visible] == 0).all()  # masked columns are zeros
    torch.testing.assert_close(ours.float().sum(-1), torch.ones(6 * n_pad), atol=2e-2, rtol=0)


def test_only_contiguous_bf16_cpu_scores_qualify_and_the_refusal_says_why() -> None:
    assert kernels.causal_softmax_bf16(torch.zeros(4, 8), 4, 0) == (
        None,
        "dtype float32 (the kernel takes bfloat16)",
    )
    strided = torch.zeros(8, 4, dtype=torch.bfloat16).t()
    assert kernels.causal_softmax_bf16(strided, 4, 0) == (None, "scores not contiguous")
    meta = torch.zeros(4, 8, dtype=torch.bfloat16, device="meta")
    assert kernels.causal_softmax_bf16(meta, 4, 0) == (None, "device meta (the kernel runs on CPU)")


@pytest.fixture()
def fresh_kernel(monkeypatch, tmp_path):
    """An empty kernel cache and no kernel loaded in this process yet (again afterwards)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv("ULTRAJUDGE_NO_KERNELS", raising=False)
    kernels.load_causal_softmax.cache_clear()
    yield tmp_path
    kernels.load_causal_softmax.cache_clear()


def test_without_a_compiler_there_is_no_kernel_and_the_reason_says_so(
    monkeypatch, fresh_kernel
) -> None:
    monkeypatch.setattr(kernels.shutil, "which", lambda name: None)
    with pytest.raises(kernels.KernelUnavailable, match="no C compiler"):
        kernels._build()
    assert kernels.load_causal_softmax() == kernels.KernelLoad(
        None, "no C compiler ($CC, cc or gcc) on PATH"
    )
    assert kernels.causal_softmax_kernel() is None


def test_a_failing_compiler_is_the_reason_with_its_last_line(monkeypatch, fresh_kernel) -> None:
    fake = fresh_kernel / "fake-cc"
    fake.write_text("#!/bin/sh\necho 'kernel.c: note: first' >&2\necho 'fake-cc: error: no AVX' >&2\nexit 3\n")  # fmt: skip
    fake.chmod(0o755)
    monkeypatch.setenv("CC", str(fake))
    loaded = kernels.load_causal_softmax()
    assert loaded == kernels.KernelLoad(None, "compile failed: fake-cc exited 3: fake-cc: error: no AVX")  # fmt: skip
    scores = torch.zeros(32, 64, dtype=torch.bfloat16)
    assert kernels.causal_softmax_bf16(scores, 32, 0) == (None, loaded.reason)
    assert not list((fresh_kernel / "ultrajudge" / "kernels").glob("*.so"))


def test_disabled_by_the_environment_variable(monkeypatch, fresh_kernel) -> None:
    monkeypatch.setenv("ULTRAJUDGE_NO_KERNELS", "1")
    assert kernels.load_causal_softmax() == kernels.KernelLoad(
        None, "disabled by ULTRAJUDGE_NO_KERNELS"
    )


def test_the_kernel_is_built_once_into_the_cache(tmp_path, fresh_kernel) -> None:
    if kernels.shutil.which("cc") is None and kernels.shutil.which("gcc") is None:
        pytest.skip("no C compiler")
    first = kernels._build()
    assert first is not None and first.parent == tmp_path / "ultrajudge" / "kernels"
    mtime = first.stat().st_mtime_ns
    assert kernels._build() == first and first.stat().st_mtime_ns == mtime


@pytest.mark.parametrize("kernel", [True, False])
def test_attention_is_the_same_with_and_without_the_kernel(monkeypatch, kernel) -> None:
    if not kernel:
        monkeypatch.setattr(kernels, "load_causal_softmax", lambda: kernels.KernelLoad(None, "off"))
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
    tally = kernels.SoftmaxTally()
    packed.attend_segment(q, k, v, context, dim**-0.5, out, tally=tally)
    assert (tally.kernel, dict(tally.fallback)) == ((1, {}) if kernel else (0, {"off": 1}))
    kk = k.float().repeat_interleave(3, 0)[:, : context + length]
    vv = v.float().repeat_interleave(3, 0)[:, : context + length]
    scores = q.float() @ kk.transpose(1, 2) * dim**-0.5
    visible = torch.ones(length, context + length, dtype=torch.bool).tril(context)
    expected = torch.softmax(scores.masked_fill(~visible, float("-inf")), -1) @ vv
    torch.testing.assert_close(out.float(), expected.transpose(0, 1), atol=3e-2, rtol=3e-2)


def test_the_tally_doctests_run() -> None:
    import doctest

    assert doctest.testmod(kernels).failed == 0


def test_a_tally_of_both_paths_names_each_reason_most_common_first() -> None:
    tally = kernels.SoftmaxTally()
    for result in [kernels.Softmax(object())] * 3 + [kernels.Softmax(None, "scores not contiguous")]:  # fmt: skip
        tally.note(result)
    tally.note(kernels.Softmax(None, "dtype float16 (the kernel takes bfloat16)"))
    tally.note(kernels.Softmax(None, "dtype float16 (the kernel takes bfloat16)"))
    assert tally.record() == {
        "status": "partly",
        "kernel_blocks": 3,
        "fallback_blocks": 3,
        "fallback_reasons": {
            "scores not contiguous": 1,
            "dtype float16 (the kernel takes bfloat16)": 2,
        },
        "summary": "ran in 3 of 6 attention blocks; PyTorch in the rest (dtype float16 (the "
        "kernel takes bfloat16): 2; scores not contiguous: 1)",
    }


def test_a_model_that_cannot_run_packed_records_that_no_softmax_was_asked_for(
    tiny_model_dir, monkeypatch
) -> None:
    from transformers import AttentionInterface

    from ultrajudge.judge.backends import build_backend
    from ultrajudge.judge.backends.positions import PositionRequest
    from ultrajudge.judge.logprob import argmax_choice
    from ultrajudge.judge.types import Message

    sdpa = AttentionInterface._global_mapping["sdpa"]  # packed attention never gets called
    monkeypatch.setitem(AttentionInterface._global_mapping, packed.ATTENTION_NAME, sdpa)
    backend = build_backend(str(tiny_model_dir), dtype="bfloat16", device="cpu")
    resolved = backend.resolved  # type: ignore[attr-defined]
    idle = "not called: no packed attention forward ran (every judgment came from the store, or none took the packed path)"  # fmt: skip
    assert resolved["softmax_kernel"]["summary"] == idle
    request = PositionRequest((Message("user", "Rate this answer from 1 to 5."),), ("Rating: ",))
    scale = (1, 2, 3, 4, 5)
    backend.score_positions([request], candidates=list("12345"), choose=argmax_choice(scale))  # type: ignore[attr-defined]
    assert backend.resolved is resolved  # updated in place: a pipeline's record holds it
    assert resolved["softmax_kernel"] == {
        "status": "not called",
        "kernel_blocks": 0,
        "fallback_blocks": 0,
        "fallback_reasons": {},
        "summary": "not called: packed attention unavailable (the model ran packed attention "
        "in 0 of 2 layers); the model's own attention ran",
    }
