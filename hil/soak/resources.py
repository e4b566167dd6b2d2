"""The process's footprint over simulated time, and growth as a regression slope."""

from __future__ import annotations

import os
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss_mb(pid: int | str = "self") -> float:
    with open(f"/proc/{pid}/statm") as f:
        return int(f.read().split()[1]) * PAGE / 2**20


def fd_count(pid: int | str = "self") -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def thread_count(pid: int | str = "self") -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("Threads:"):
                return int(line.split()[1])
    return threading.active_count()


def cpu_s(pid: int | str = "self") -> float:
    """User + system CPU seconds of a process (and its threads)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def fd_kinds(pid: int | str = "self") -> dict[str, int]:
    """Open descriptors by kind (socket, pipe, anon_inode, a path's directory …)."""
    out: dict[str, int] = {}
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        kind = target.split(":")[0] if ":" in target else str(Path(target).parent)
        out[kind] = out.get(kind, 0) + 1
    return dict(sorted(out.items()))


def thread_names() -> dict[str, int]:
    out: dict[str, int] = {}
    for t in threading.enumerate():
        name = t.name.split("-")[0] if t.name.startswith("asyncio_") else t.name
        out[name] = out.get(name, 0) + 1
    return dict(sorted(out.items()))


def db_bytes(path: Path) -> int:
    total = 0
    for suffix in ("", "-wal", "-shm"):
        p = Path(f"{path}{suffix}")
        if p.exists():
            total += p.stat().st_size
    return total


def slope(xs: list[float], ys: list[float]) -> float:
    """Least-squares slope of ys over xs (0 with fewer than two distinct points)."""
    n = len(xs)
    if n < 2:
        return 0.0
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return 0.0
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx


@dataclass
class Sampler:
    """One sample per simulated hour; growth is fitted after ``warmup_days``."""

    db: Path
    warmup_days: float
    samples: list[tuple[float, float, int, int, int]] = field(default_factory=list)
    # Python's own allocated blocks: growing with a flat RSS is harmless, a flat count with a
    # growing RSS points below Python (SQLite's page cache, the allocator's arenas).
    blocks: list[int] = field(default_factory=list)

    def sample(self, day: float) -> None:
        self.samples.append((day, rss_mb(), fd_count(), thread_count(), db_bytes(self.db)))
        self.blocks.append(sys.getallocatedblocks())

    def growth(self) -> dict[str, float | int]:
        kept = [s for s in self.samples if s[0] >= self.warmup_days] or self.samples
        days = [s[0] for s in kept]

        def col(i: int) -> list[float]:
            return [float(s[i]) for s in kept]

        out: dict[str, float | int] = {
            "rss_growth_mb_per_day": round(slope(days, col(1)), 3),
            "fd_growth": round(slope(days, col(2)), 3),
            "thread_growth": round(slope(days, col(3)), 3),
            "db_growth_mb_per_day": round(slope(days, col(4)) / 2**20, 4),
            "py_blocks_growth_per_day": round(
                slope(
                    days,
                    [
                        float(b)
                        for s, b in zip(self.samples, self.blocks, strict=True)
                        if s[0] >= days[0]
                    ],
                )
                if days
                else 0.0
            ),
            "samples": len(self.samples),
            "fitted_from_day": round(days[0], 3) if days else 0.0,
        }
        if self.samples:
            first, last = kept[0], kept[-1]
            out |= {
                "rss_mb_first": round(first[1], 1),
                "rss_mb_last": round(last[1], 1),
                "rss_mb_max": round(max(s[1] for s in self.samples), 1),
                "fds_first": first[2],
                "fds_last": last[2],
                "fds_max": max(s[2] for s in self.samples),
                "threads_first": first[3],
                "threads_last": last[3],
                "threads_max": max(s[3] for s in self.samples),
                "db_mb_last": round(last[4] / 2**20, 3),
            }
        return out
