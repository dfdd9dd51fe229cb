"""What a CPU forward needs from its host: bf16 support, and malloc that reuses memory."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
from functools import cache
from pathlib import Path
from typing import Any

#: glibc mallopt parameters (malloc.h)
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3


def cpu_supports_bf16() -> bool:
    """True when this CPU has native bf16 matrix instructions (AVX512-BF16 or AMX)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(f in flags.split() for f in ("avx512_bf16", "amx_bf16"))


@cache
def _glibc() -> Any:
    name = ctypes.util.find_library("c")
    if not name:
        return None
    try:
        libc = ctypes.CDLL(name)
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


def keep_freed_memory() -> bool:
    """Let glibc's malloc keep freed memory for reuse instead of returning it to the OS.

    A CPU forward allocates and frees activations of a few MB each, many times per layer.
    By default glibc serves many of them with fresh ``mmap``s, or trims the freed top of
    the heap, so every such tensor page-faults its memory in again: measured on 2 cores,
    17% of a logprob-mode run. With freed memory kept (blocks up to 32 MB from the heap,
    no automatic trimming) it is reused. ``release_freed_memory`` hands it back between
    batches, so a long run's resident size does not creep up with fragmentation.
    Process-wide; a no-op (False) off glibc.
    """
    libc = _glibc()
    if libc is None:
        return False
    return bool(libc.mallopt(_M_MMAP_THRESHOLD, 32 << 20)) and bool(
        libc.mallopt(_M_TRIM_THRESHOLD, 2**31 - 1)  # mallopt takes a C int
    )


#: ``release_freed_memory`` trims once the resident size exceeds the first batch's by this
RELEASE_GROWTH = 1.05
_first_batch_rss: list[int] = []


def _resident_bytes() -> int:
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0
    return pages * os.sysconf("SC_PAGE_SIZE")


def release_freed_memory() -> bool:
    """After a batch: hand the heap's free pages back to the OS (glibc ``malloc_trim``) if
    the resident size has grown more than ``RELEASE_GROWTH`` over the first batch's.

    Trimming after every batch would make the next one page-fault its working set in
    again (10% of a logprob run at 8 rows per batch); never trimming lets fragmentation
    raise the resident size as a long run goes on. Returns whether it trimmed.
    """
    libc = _glibc()
    rss = _resident_bytes()
    if libc is None or not rss:
        return False
    if not _first_batch_rss:
        _first_batch_rss.append(rss)
        return False
    if rss <= _first_batch_rss[0] * RELEASE_GROWTH:
        return False
    libc.malloc_trim(0)
    return True
