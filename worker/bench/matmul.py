"""The machine's matmul throughput, measured now: the yardstick for a model's FLOPs."""

from __future__ import annotations

import time

import torch


def matmul_peak(device: str, dtype: torch.dtype, *, seconds: float = 1.0, size: int = 0) -> float:
    """FLOP/s of square matmuls (2 n^3 per product) in `dtype` on `device`, best of a few
    timed bursts after a warm-up. Sizes: 1024 on a CPU (big enough for its kernels, small
    enough to measure in a second), 8192 on a GPU."""
    n = size or (8192 if device.startswith("cuda") else 1024)
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    _sync(device)
    torch.mm(a, b)  # warm-up: lazy kernel selection, AMX tile configuration, caches
    _sync(device)
    best = 0.0
    deadline = time.perf_counter() + max(seconds, 0.05)
    while True:
        reps = 0
        started = time.perf_counter()
        while reps < 3 or time.perf_counter() - started < seconds / 4:
            torch.mm(a, b)
            reps += 1
            if device.startswith("cuda") and reps % 8 == 0:
                _sync(device)
        _sync(device)
        took = time.perf_counter() - started
        best = max(best, 2 * n**3 * reps / took)
        if time.perf_counter() >= deadline:
            return best


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize()
