"""The worker keeps freed blocks in the process: a step's big tensors reuse pages instead of
faulting fresh ones in (worker/memory.py). Run in a child process, since the setting is for
the whole process and cannot be undone."""

from __future__ import annotations

import json
import platform
import subprocess
import sys

import pytest

CHILD = r"""
import json, resource, torch
from worker.memory import keep_freed_memory

def faults():
    # A KV cache grown by one token a step: each step's block a little larger than the
    # last, so glibc's self-adjusting threshold never catches up (2-3 MiB, as for 64 rows).
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for step in range(40):
        a = torch.ones(64, 4, 32 + step, 64)
        b = torch.cat([a, a[:, :, :1]], dim=2)
        del a, b
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

faults()  # torch's own first-use allocations
untuned = faults()
ok = keep_freed_memory()
faults()  # the heap grows once
print(json.dumps({"ok": ok, "again": keep_freed_memory(), "untuned": untuned, "tuned": faults()}))
"""


@pytest.mark.skipif(
    platform.system() != "Linux" or platform.libc_ver()[0] != "glibc", reason="glibc only"
)
def test_freed_blocks_are_reused_instead_of_faulting_in_new_pages() -> None:
    out = subprocess.run(
        [sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=120, check=True
    )
    report = json.loads(out.stdout.strip().splitlines()[-1])
    assert report["ok"] is True and report["again"] is True
    # Untuned, every block is a fresh mapping (thousands of faults over the 40 steps).
    assert report["untuned"] > 1000, report
    assert report["tuned"] < report["untuned"] / 10, report
