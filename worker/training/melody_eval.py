"""Melody quality: seeded /melody requests through the worker's own melody generator, with and
without metre-keeping decoding, and what the repair step had to do to each.

    python -m worker.training.melody_eval [MODEL_DIR] [--requests 50] [--batch-size 10]

Requests cycle through 4/4 (hornpipe), 3/4 (waltz) and 6/8 (jig) and the keys G, D, Am, F
and Em, 16 bars each, seeds 0..n-1. Figures, per mode:

- bars repaired: the share of the kept bodies' bars (a pickup and bars past the requested
  length not counted) whose length was wrong for the metre, so the repair step filled or
  trimmed them;
- tunes unrepaired: the share of melodies whose requested bars all had the right length and
  no mark was dropped;
- notes per bar: the mean, and how many different note counts a tune's bars have (1: every
  bar the same rhythm density; higher: more varied);
- seconds per melody: wall time for the whole run divided by the melodies, batched as the
  worker batches.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bot.commands.build import build_job
from bot.commands.parse import parse
from bot.jobs import Job, Origin
from worker.generators.melody_abc import MelodyGenerator
from worker.music import notation
from worker.music.header import UNIT, request_for

STYLES = ("hornpipe", "waltz", "jig")  # 4/4, 3/4, 6/8
KEYS = ("G", "D", "Am", "F", "Em")


@dataclass
class MelodyScore:
    keep_metre: bool
    melodies: int
    posted: int
    bars_repaired: float
    tunes_unrepaired: float
    notes_per_bar: float
    note_counts_per_tune: float
    seconds_per_melody: float
    steps_unguided: int  # steps where metre-keeping found no fitting token and stepped aside


def eval_jobs(requests: int, *, bars: int = 16) -> list[Job]:
    jobs = []
    for n in range(requests):
        style, key = STYLES[n % len(STYLES)], KEYS[n % len(KEYS)]
        text = f"/melody a {style} for the evening key:{key} length:{bars} seed:{n}"
        origin = Origin(platform="console", route="console:music", delivery_id=f"eval-{n}")
        jobs.append(build_job(parse(text), origin))
    return jobs


def bar_repairs(job: Job, body: str) -> tuple[int, int, bool]:
    """(bars of the wrong length, bars judged, nothing at all repaired) for a raw body."""
    request = request_for(job)
    tune = notation.parse(body, key=request.key, meter=request.meter, unit=UNIT)
    bars = tune.bars[: request.bars + 1]
    judged = [b for n, b in enumerate(bars) if n or b.length == tune.bar_length]
    wrong = sum(1 for b in judged if b.length != tune.bar_length)
    return wrong, len(judged), wrong == 0 and tune.dropped == 0 and bool(judged)


def evaluate_melodies(
    model_dir: Path,
    *,
    keep_metre: bool,
    requests: int = 50,
    batch_size: int = 10,
    bars: int = 16,
) -> MelodyScore:
    gen = MelodyGenerator(str(model_dir), device="cpu", keep_metre=keep_metre)
    gen.load()
    gen.warmup()
    jobs = eval_jobs(requests, bars=bars)
    wrong = judged = clean = posted = 0
    per_bar: list[int] = []
    varieties: list[int] = []
    start = time.perf_counter()
    for first in range(0, len(jobs), batch_size):
        batch = jobs[first : first + batch_size]
        outputs = gen.generate(batch)
        for job, body, out in zip(batch, gen.chosen, outputs, strict=True):
            w, j, ok = bar_repairs(job, body)
            wrong, judged, clean = wrong + w, judged + j, clean + ok
            if out.error:
                continue
            posted += 1
            request = request_for(job)
            lines = [line for line in out.text.split("\n") if line[1:2] != ":"]
            tune = notation.parse("\n".join(lines), key=request.key, meter=request.meter, unit=UNIT)
            counts = [sum(len(i.events) for i in bar.items) for bar in tune.bars]
            per_bar.extend(counts)
            varieties.append(len(set(counts)))
    seconds = time.perf_counter() - start
    return MelodyScore(
        keep_metre=keep_metre,
        melodies=len(jobs),
        posted=posted,
        bars_repaired=wrong / max(judged, 1),
        tunes_unrepaired=clean / max(len(jobs), 1),
        notes_per_bar=statistics.fmean(per_bar) if per_bar else 0.0,
        note_counts_per_tune=statistics.fmean(varieties) if varieties else 0.0,
        seconds_per_melody=seconds / max(len(jobs), 1),
        steps_unguided=gen.metre_fallbacks,
    )


def main() -> None:
    from worker.models import bundled_melody

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", nargs="?", default=None)
    parser.add_argument("--requests", type=int, default=50)
    parser.add_argument("--batch-size", type=int, default=10)
    parser.add_argument("--bars", type=int, default=16)
    args = parser.parse_args()
    model = Path(args.model) if args.model else bundled_melody()
    if model is None:
        raise SystemExit("error: no melody model; pass its directory")
    for keep in (False, True):
        score = evaluate_melodies(
            model,
            keep_metre=keep,
            requests=args.requests,
            batch_size=args.batch_size,
            bars=args.bars,
        )
        print(json.dumps(asdict(score)), flush=True)


if __name__ == "__main__":
    main()
