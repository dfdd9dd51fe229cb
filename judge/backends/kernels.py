"""A small C kernel for CPU attention: the causal softmax of bf16 scores, in one pass.

PyTorch has no fused CPU op that turns bf16 attention scores into bf16 probabilities under
a causal mask: the eager path converts to float32, adds the mask, runs softmax and converts
back (four passes over a tensor of heads x queries x keys), and that was half of the
attention time at head dim 64. The kernel below does it in one pass per row: it reads
bf16, exponentiates with a vectorisable polynomial (relative error ~2e-7, far below bf16's
2^-9), and writes bf16; columns a query may not see are written as zeros.

It is plain C with no Python or torch headers, compiled on first use with the system's C
compiler (``cc``, well under a second) for this CPU (``-march=native``) into the user cache
directory, keyed by the source and the CPU's flags, and loaded with ``ctypes``. Without a
compiler, when compiling fails, or with ``ULTRAJUDGE_NO_KERNELS=1``,
``causal_softmax_kernel()`` is None (``load_causal_softmax().reason`` says why) and the
callers use the PyTorch path. A :class:`SoftmaxTally` counts, block by block, which path
computed a softmax and why the kernel did not: what a run record reports.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, NamedTuple

__all__ = [
    "KernelLoad",
    "KernelUnavailable",
    "Softmax",
    "SoftmaxTally",
    "causal_softmax_bf16",
    "causal_softmax_kernel",
    "load_causal_softmax",
]

SOURCE = r"""
#include <stdint.h>
#include <string.h>
#include <stdlib.h>

static inline float bf16_to_f32(uint16_t x) {
    uint32_t u = (uint32_t)x << 16; float f; memcpy(&f, &u, 4); return f;
}
static inline uint16_t f32_to_bf16(float f) {  /* round to nearest even */
    uint32_t u; memcpy(&u, &f, 4); u += 0x7FFFu + ((u >> 16) & 1u); return (uint16_t)(u >> 16);
}
/* exp(x) for x <= 0: 2^n * p(r), |r| <= ln2/2, relative error ~2e-7 */
static inline float exp_nonpositive(float x) {
    x = x < -87.0f ? -87.0f : x;
    float n = __builtin_roundf(x * 1.44269504088896341f);
    float r = x - n * 0.693145751953125f - n * 1.428606765330187e-06f;
    float p = 1.0f + r * (1.0f + r * (0.5f + r * (0.16666666f + r * (0.041666668f
              + r * (0.0083333f + r * 0.0013888889f)))));
    uint32_t bits = (uint32_t)((int32_t)n + 127) << 23;
    float scale; memcpy(&scale, &bits, 4);
    return p * scale;
}

/* scores, out: [rows, cols] bf16. Row r is query i = r % n_pad of a block whose query i
   sees columns 0..first + i; out gets its softmax there and zeros beyond. */
int uj_causal_softmax_bf16(const uint16_t *scores, uint16_t *out, int64_t rows,
                           int64_t cols, int64_t n_pad, int64_t first) {
    float *buf = malloc(sizeof(float) * (size_t)cols);
    if (buf == NULL) return 1;
    for (int64_t r = 0; r < rows; r++) {
        const uint16_t *s = scores + r * cols;
        uint16_t *o = out + r * cols;
        int64_t limit = first + (r % n_pad) + 1;
        if (limit > cols) limit = cols;
        float m = bf16_to_f32(s[0]);
        for (int64_t j = 0; j < limit; j++) { buf[j] = bf16_to_f32(s[j]); m = buf[j] > m ? buf[j] : m; }
        float sum = 0.0f;
        for (int64_t j = 0; j < limit; j++) { float e = exp_nonpositive(buf[j] - m); buf[j] = e; sum += e; }
        float inv = 1.0f / sum;
        for (int64_t j = 0; j < limit; j++) o[j] = f32_to_bf16(buf[j] * inv);
        for (int64_t j = limit; j < cols; j++) o[j] = 0;
    }
    free(buf);
    return 0;
}
"""

#: Vectorisable float reductions, but not ``-ffast-math``: linking with it would set the
#: process's flush-to-zero mode for everything else running in it.
FLAGS = (
    "-O3",
    "-march=native",
    "-fno-math-errno",
    "-fno-trapping-math",
    "-fno-signed-zeros",
    "-fassociative-math",
    "-ffinite-math-only",
    "-fPIC",
    "-shared",
)


def _cpu_flags() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("flags"):
                return line
    except OSError:
        pass
    return ""


def _cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "ultrajudge" / "kernels"


class KernelUnavailable(RuntimeError):
    """The kernel cannot be built or loaded here; the message says why (for the record)."""


def _build() -> Path:
    """The compiled library's path, compiling it first unless cached; raises
    :class:`KernelUnavailable` without a compiler or when compiling fails."""
    compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if compiler is None:
        raise KernelUnavailable("no C compiler ($CC, cc or gcc) on PATH")
    key = hashlib.sha256("\0".join([SOURCE, *FLAGS, _cpu_flags()]).encode()).hexdigest()[:16]
    target = _cache_dir() / f"causal_softmax-{key}.so"
    if target.exists():
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            source = Path(tmp, "kernel.c")
            source.write_text(SOURCE)
            built = Path(tmp, "kernel.so")
            _compile([compiler, *FLAGS, str(source), "-o", str(built)])
            os.replace(built, target)  # atomic: a concurrent process sees all of it or nothing
    except OSError as exc:
        raise KernelUnavailable(f"compile failed: {exc}") from exc
    return target


def _compile(command: list[str]) -> None:
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=120)
    except subprocess.CalledProcessError as exc:
        said = (exc.stderr or b"").decode(errors="replace").strip().splitlines()
        raise KernelUnavailable(
            f"compile failed: {Path(command[0]).name} exited {exc.returncode}"
            + (f": {said[-1][:200]}" if said else "")
        ) from exc
    except subprocess.TimeoutExpired as exc:
        raise KernelUnavailable(f"compile failed: timed out after {exc.timeout:g} s") from exc


@dataclass(frozen=True)
class KernelLoad:
    """The loaded kernel (a ctypes function), or None and the reason it is unavailable."""

    function: Any | None
    reason: str = ""


@cache
def load_causal_softmax() -> KernelLoad:
    """Build (once per process) and load ``uj_causal_softmax_bf16``; never raises."""
    if os.environ.get("ULTRAJUDGE_NO_KERNELS"):
        return KernelLoad(None, "disabled by ULTRAJUDGE_NO_KERNELS")
    try:
        function = ctypes.CDLL(str(_build())).uj_causal_softmax_bf16
    except KernelUnavailable as exc:
        return KernelLoad(None, str(exc))
    except (OSError, AttributeError) as exc:
        return KernelLoad(None, f"load failed: {exc}")
    function.argtypes = [ctypes.c_void_p, ctypes.c_void_p] + [ctypes.c_int64] * 4
    function.restype = ctypes.c_int
    return KernelLoad(function)


def causal_softmax_kernel() -> Any:
    """The compiled ``uj_causal_softmax_bf16`` (a ctypes function), or None."""
    return load_causal_softmax().function


class Softmax(NamedTuple):
    """The kernel's answer: bf16 probabilities, or None and why the caller must compute them."""

    probs: Any | None
    refusal: str = ""


def causal_softmax_bf16(scores: Any, n_pad: int, first: int) -> Softmax:
    """Softmax over the last dim of contiguous bf16 CPU ``scores`` [..., n_pad, cols], query
    ``i`` of the block seeing columns ``0..first + i`` (zeros beyond). ``probs`` is None,
    and ``refusal`` says why, when the tensor does not qualify or the kernel is unavailable
    (checked in that order: a float32 model never compiles the kernel)."""
    import torch

    if scores.dtype != torch.bfloat16:
        return Softmax(None, f"dtype {str(scores.dtype).removeprefix('torch.')} (the kernel takes bfloat16)")  # fmt: skip
    if scores.device.type != "cpu":
        return Softmax(None, f"device {scores.device.type} (the kernel runs on CPU)")
    if not scores.is_contiguous():
        return Softmax(None, "scores not contiguous")
    loaded = load_causal_softmax()
    if loaded.function is None:
        return Softmax(None, loaded.reason)
    out = torch.empty_like(scores)
    cols = scores.shape[-1]
    if loaded.function(scores.data_ptr(), out.data_ptr(), scores.numel() // cols, cols, n_pad, first):  # fmt: skip
        return Softmax(None, "the kernel could not allocate its row buffer")
    return Softmax(out)


@dataclass
class SoftmaxTally:
    """Which path computed each attention block's causal softmax: the kernel, or PyTorch
    (counted by the kernel's reason for refusing). Counted where each path runs, so a
    record built from it says what happened, not what was configured.

    >>> tally = SoftmaxTally()
    >>> tally.note(Softmax(None, "dtype float32 (the kernel takes bfloat16)"))
    >>> tally.record()["summary"]
    'not run: PyTorch computed all 1 attention blocks (dtype float32 (the kernel takes bfloat16): 1)'
    >>> tally.note(Softmax(object()))
    >>> tally.record()["status"], tally.record()["kernel_blocks"]
    ('partly', 1)
    """

    kernel: int = 0
    fallback: Counter[str] = field(default_factory=Counter)

    def note(self, result: Softmax) -> None:
        """Count one block: the kernel's result, or (``probs`` None) PyTorch's fallback."""
        if result.probs is None:
            self.fallback[result.refusal] += 1
        else:
            self.kernel += 1

    def record(self, *, idle: str = "no packed attention forward ran") -> dict[str, Any]:
        """JSON-ready: ``status`` (``ran``: every block; ``partly``; ``not run``: PyTorch
        computed every block; ``not called``: no block at all, ``idle`` says why), the
        block counts, the reasons PyTorch was used with their counts, and a ``summary``
        line."""
        fell_back = sum(self.fallback.values())
        reasons = "; ".join(f"{why}: {n}" for why, n in self.fallback.most_common())
        if self.kernel and not fell_back:
            status, summary = "ran", f"ran: all {self.kernel} attention blocks"
        elif self.kernel:
            status = "partly"
            summary = f"ran in {self.kernel} of {self.kernel + fell_back} attention blocks; PyTorch in the rest ({reasons})"  # fmt: skip
        elif fell_back:
            status = "not run"
            summary = f"not run: PyTorch computed all {fell_back} attention blocks ({reasons})"
        else:
            status, summary = "not called", f"not called: {idle}"
        return {
            "status": status,
            "kernel_blocks": self.kernel,
            "fallback_blocks": fell_back,
            "fallback_reasons": dict(self.fallback),
            "summary": summary,
        }
