"""How every benchmark here summarises its rounds (the median, with the spread beside it), and
names the machine it ran on.

The machine is shared, so one round can be slowed by a neighbour; the best round would
report the quietest moment and the mean would mix the noise in. The median of the rounds is
the headline, min and max show how much the rounds disagreed.
"""

from __future__ import annotations

import os
import statistics
from typing import Iterable


def spread(values: Iterable[float], digits: int = 3) -> dict:
    """{"median", "min", "max", "rounds"} of the per-round figures."""
    values = list(values)
    if not values:
        raise ValueError("no rounds to summarise")
    return {"median": round(statistics.median(values), digits), "min": round(min(values), digits),
            "max": round(max(values), digits), "rounds": len(values)}


def ratio_spread(ours: list[float], reference: list[float], digits: int = 2) -> dict:
    """ours / reference: the ratio of the two medians as the headline, and the spread of the
    per-round ratios (round i of ours against round i of the reference, run back to back)."""
    if len(ours) != len(reference):
        raise ValueError("each round needs both sides")
    per_round = [a / b for a, b in zip(ours, reference)]
    return {"median": round(statistics.median(ours) / statistics.median(reference), digits),
            "min": round(min(per_round), digits), "max": round(max(per_round), digits), "rounds": len(per_round)}


def machine() -> str:
    """The machine as the project names it: cores, CPU model and family, the AVX-512 flags
    that matter here, memory."""
    info = {}
    with open("/proc/cpuinfo", encoding="utf-8") as handle:
        for line in handle:
            key, _, value = line.partition(":")
            info.setdefault(key.strip(), value.strip())
    flags = info.get("flags", "").split()
    vector = " + ".join(f for f in ("avx512f", "avx512_bf16") if f in flags) or "no AVX-512"
    with open("/proc/meminfo", encoding="utf-8") as handle:
        mem_gb = int(handle.readline().split()[1]) / 1024 ** 2
    return (f"{os.cpu_count()}-core {info.get('model name', 'unknown')} family {info.get('cpu family', '?')}, "
            f"{vector}, {mem_gb:.0f} GB")
