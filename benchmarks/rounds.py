"""How every benchmark here summarises its rounds: the median, with the spread beside it.

The machine is shared, so one round can be slowed by a neighbour; the best round would
report the quietest moment and the mean would mix the noise in. The median of the rounds is
the headline, min and max show how much the rounds disagreed.
"""

from __future__ import annotations

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
