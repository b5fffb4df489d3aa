"""Keep freed memory in the process, so a generation step does not pay page faults.

A CPU decoding step allocates tensors of a few MB (a batch's logits, its probabilities, the
grown KV cache) and frees them a few milliseconds later. glibc's malloc serves blocks that
large with a fresh `mmap` and hands them back with `munmap` on free, so every step touches
brand-new pages: about 1,200 page faults a step for 64 rows of the bundled poet, where a
third of the step went to copies that should take microseconds. Raising the mmap threshold
(and not trimming the heap's top) keeps those blocks in the heap for the next step to reuse:
about one fault a step. PyTorch's CPU tuning guide makes the same point with jemalloc or
tcmalloc; this needs no extra library.

Linux with glibc only; anywhere else (or if the call fails) nothing changes.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import platform

log = logging.getLogger(__name__)

# mallopt parameters (glibc malloc.h)
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3

MMAP_THRESHOLD = 32 << 20  # glibc's ceiling for the threshold (64-bit): blocks up to 32 MiB
TRIM_THRESHOLD = 1 << 30  # give the heap's top back only past 1 GiB free
TOP_PAD = 64 << 20  # grow the heap 64 MiB at a time

_done: bool | None = None


def keep_freed_memory() -> bool:
    """Tune glibc's malloc for the generation loop (once per process). Returns whether the
    settings took."""
    global _done
    if _done is None:
        _done = _tune()
    return _done


def _tune() -> bool:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        ok = all(
            libc.mallopt(param, value) == 1
            for param, value in (
                (M_MMAP_THRESHOLD, MMAP_THRESHOLD),
                (M_TRIM_THRESHOLD, TRIM_THRESHOLD),
                (M_TOP_PAD, TOP_PAD),
            )
        )
    except (OSError, AttributeError):
        ok = False
    if not ok:
        log.info("could not tune malloc; generation runs with the default allocator settings")
    return ok
