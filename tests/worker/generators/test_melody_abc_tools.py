"""The bundled melody model's tunes, read by other ABC tools: 50 seeded melodies (the eval
script's requests: 16 bars of 4/4 hornpipe, 3/4 waltz and 6/8 jig in five keys, seeds 0-49)
through abc2midi and abc2abc (Debian's abcmidi), which must print no error and no warning on
at least 49 of them.

On a clean tune abc2midi prints its version and `writing MIDI file ...`; abc2abc prints the
tune. Both exit 0 even on faults: abc2midi reports them as `Error in line-char ...` or
`Warning in line-char ...` lines, abc2abc as `%Error : ...` / `%Warning : ...` lines in the
tune it writes. The 50 are generated in one batch (a melody is the same in any batch, and
one batch of 50 costs about half as much on a CPU as five of 10)."""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from worker.generators.melody_abc import MelodyGenerator
from worker.models import bundled_melody
from worker.training.melody_eval import eval_jobs

TUNES, CLEAN_AT_LEAST = 50, 49
_COMPLAINT = re.compile(r"\b(error|warning)\b", re.IGNORECASE)


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def complaints(path: Path, tmp: Path) -> list[str]:
    """The error and warning lines abc2midi and abc2abc print for one tune."""
    runs = [
        ["abc2midi", str(path), "-o", str(tmp / "tune.mid")],
        ["abc2abc", str(path)],
    ]
    lines = []
    for argv in runs:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
        said = (done.stdout + done.stderr).splitlines()
        lines += [f"{argv[0]}: {line}" for line in said if _COMPLAINT.search(line)]
        if done.returncode:
            lines.append(f"{argv[0]}: exit status {done.returncode}")
    return lines


@pytest.mark.timeout(240)
def test_abc2midi_and_abc2abc_accept_the_seeded_melodies(tmp_path: Path) -> None:
    missing = [tool for tool in ("abc2midi", "abc2abc") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{' and '.join(missing)} not found: install Debian's abcmidi package")
    path = bundled_melody()
    assert path is not None, "the bundled melody model is missing"
    melody = MelodyGenerator(str(path), device="cpu")
    melody.load()
    outputs = melody.generate(eval_jobs(TUNES))
    faulty = {}
    for n, out in enumerate(outputs):
        if out.text is None:
            faulty[n] = [f"no melody: {out.error}"]
            continue
        tune = tmp_path / f"seed-{n}.abc"
        tune.write_text(out.text, encoding="utf-8")
        found = complaints(tune, tmp_path)
        if found:
            faulty[n] = found
    clean = TUNES - len(faulty)
    report = "\n".join(f"seed {n}: {'; '.join(lines[:3])}" for n, lines in faulty.items())
    assert clean >= CLEAN_AT_LEAST, f"{clean}/{TUNES} clean:\n{report}"
