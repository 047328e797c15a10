"""Garbage collection for a long-lived server: the start-up heap frozen, young collections rarer.

A started `nubo serve` holds hundreds of thousands of container objects (FastAPI's routes,
Pydantic's validators, SQLAlchemy's mappers, Polars, the model) that live until the process
ends. CPython's full collection walks every one of them each time, hundreds of milliseconds
during which no request moves: the p99 of the fastest routes was that pause. `gc.freeze()`
moves them to a generation the collector never visits, so a full collection walks only
what was allocated since; a higher first threshold makes young collections rarer (a request
allocates a few hundred containers that are nearly all freed by reference counting).
See docs/decisions/ops-gc-tuning.md.
"""

from __future__ import annotations

import gc
import logging

log = logging.getLogger("nubo.gc")

# Young collections every 20,000 net container allocations instead of 700; the older
# generations keep CPython's ratios (and its rule that a full collection waits until the
# objects pending promotion reach a quarter of the long-lived heap).
THRESHOLDS = (20_000, 10, 10)


def tune_after_startup(enabled: bool) -> None:
    """Freeze what start-up allocated and raise the young threshold; nothing if disabled."""
    if not enabled:
        return
    gc.collect()  # garbage from start-up must not be frozen with the live heap
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
    log.info("gc: %d objects frozen, thresholds %s", gc.get_freeze_count(), THRESHOLDS)
