"""glibc's allocator, told to keep some freed memory instead of handing it back at once.

A flight's analysis runs in a worker thread, so its allocations come from one of glibc's
per-thread arenas; each analysis frees tens of megabytes in small blocks, the arena returns
the freed top of its heap to the kernel, and the next analysis takes the same pages again,
one page fault each: measured, ~900 minor faults and ~2 ms of system time per flight in a
thread against ~100 in the main thread. `M_TOP_PAD` keeps that much of the heap's top when
trimming (and asks for it ahead when growing), so the pages stay mapped between jobs. See
docs/decisions/processing-malloc-top-pad.md.
"""

from __future__ import annotations

import ctypes
import logging

log = logging.getLogger("nubo.malloc")

M_TOP_PAD = -2  # glibc's <malloc.h>


def keep_top_pad(nbytes: int) -> bool:
    """Keep `nbytes` at the top of each heap when trimming; False (nothing changed) when
    `nbytes` is 0 or the C library has no glibc `mallopt` (musl's accepts and ignores it)."""
    if nbytes <= 0:
        return False
    mallopt = getattr(ctypes.CDLL(None), "mallopt", None)
    if mallopt is None:
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    kept = bool(mallopt(M_TOP_PAD, nbytes))
    log.info("malloc: top pad %d MiB %s", nbytes >> 20, "set" if kept else "refused")
    return kept
