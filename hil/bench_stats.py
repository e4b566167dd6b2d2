"""Latency statistics shared by the benchmark scripts."""

from __future__ import annotations

import statistics


def percentile(values: list[float], q: float) -> float:
    """The q-quantile by nearest rank (q in 0…1)."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def summary_ms(latencies_ms: list[float]) -> str:
    return (
        f"  p50 {statistics.median(latencies_ms):.1f} ms   "
        f"p99 {percentile(latencies_ms, 0.99):.1f} ms   max {max(latencies_ms):.1f} ms"
    )
