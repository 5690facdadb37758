"""What the latency benchmarks share: the median of repeated calls, after a warm-up."""

from __future__ import annotations

import statistics
import time


def median_ms(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return round(statistics.median(times), 3)
