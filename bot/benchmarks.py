"""What every benchmark reports, as pure functions: percentiles, a summary of latencies, a
plain-text table and one JSON line (so a run can be pasted into docs/benchmarks.md and parsed
by a script). The benchmarks themselves live beside what they measure: `worker.bench` (text
generation, the queue) and `adapters.slack.bench` (a command to a posted result)."""

from __future__ import annotations

import json
import math
import os
import platform
import time
from collections.abc import Sequence
from typing import Any


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile (0-100), nearest rank: an observed value, never an interpolation."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(math.ceil(q / 100 * len(ordered)), 1)
    return ordered[min(rank, len(ordered)) - 1]


def latency_ms(values_s: Sequence[float]) -> dict[str, float]:
    """p50 / p95 / p99 / max of latencies given in seconds, in milliseconds (rounded)."""
    return {f"p{q}_ms": round(percentile(values_s, q) * 1000, 2) for q in (50, 95, 99)} | {
        "max_ms": round(max(values_s, default=math.nan) * 1000, 2)
    }


def machine() -> dict[str, Any]:
    """Where a run happened: cores, load average, Python, platform and the date."""
    load = os.getloadavg() if hasattr(os, "getloadavg") else (math.nan,) * 3
    return {
        "cpus": os.cpu_count(),
        "load_1m": round(load[0], 2),
        "python": platform.python_version(),
        "platform": platform.platform(terse=True),
        "date": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
    }


def table(rows: Sequence[dict[str, Any]], columns: Sequence[str]) -> str:
    """A fixed-width text table of the chosen columns (numbers right-aligned)."""
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    widths = [max([len(c)] + [len(r[i]) for r in cells]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.rjust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    lines.extend("  ".join(v.rjust(w) for v, w in zip(r, widths, strict=True)) for r in cells)
    return "\n".join(lines)


def json_line(name: str, payload: dict[str, Any]) -> str:
    """One line a script can grep for: `{"bench": name, ...}`."""
    return json.dumps({"bench": name, **payload}, separators=(",", ":"), default=str)


def _cell(value: Any) -> str:
    if isinstance(value, float):
        if math.isnan(value):
            return "-"
        return f"{value:,.1f}" if abs(value) >= 10 else f"{value:.3g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return "" if value is None else str(value)
