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
compiler, or with ``ULTRAJUDGE_NO_KERNELS=1``, ``causal_softmax_kernel()`` is None and the
callers use the PyTorch path.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
from functools import cache
from pathlib import Path
from typing import Any

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


def _build() -> Path | None:
    compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if compiler is None:
        return None
    key = hashlib.sha256("\0".join([SOURCE, *FLAGS, _cpu_flags()]).encode()).hexdigest()[:16]
    target = _cache_dir() / f"causal_softmax-{key}.so"
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        source = Path(tmp, "kernel.c")
        source.write_text(SOURCE)
        built = Path(tmp, "kernel.so")
        subprocess.run(
            [compiler, *FLAGS, str(source), "-o", str(built)],
            check=True,
            capture_output=True,
            timeout=120,
        )
        os.replace(built, target)  # atomic: a concurrent process sees all of it or nothing
    return target


@cache
def causal_softmax_kernel() -> Any:
    """The compiled ``uj_causal_softmax_bf16`` (a ctypes function), or None."""
    if os.environ.get("ULTRAJUDGE_NO_KERNELS"):
        return None
    try:
        path = _build()
        if path is None:
            return None
        function = ctypes.CDLL(str(path)).uj_causal_softmax_bf16
    except (OSError, subprocess.SubprocessError, AttributeError):
        return None
    function.argtypes = [ctypes.c_void_p, ctypes.c_void_p] + [ctypes.c_int64] * 4
    function.restype = ctypes.c_int
    return function


def causal_softmax_bf16(scores: Any, n_pad: int, first: int) -> Any | None:
    """Softmax over the last dim of contiguous bf16 CPU ``scores`` [..., n_pad, cols], query
    ``i`` of the block seeing columns ``0..first + i`` (zeros beyond); None when the kernel
    is unavailable or the tensor does not qualify."""
    import torch

    kernel = causal_softmax_kernel()
    if (
        kernel is None
        or scores.dtype != torch.bfloat16
        or scores.device.type != "cpu"
        or not scores.is_contiguous()
    ):
        return None
    out = torch.empty_like(scores)
    cols = scores.shape[-1]
    if kernel(scores.data_ptr(), out.data_ptr(), scores.numel() // cols, cols, n_pad, first):
        return None  # out of memory for its row buffer
    return out
