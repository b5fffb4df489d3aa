"""Render one sketch to a PNG without Redis or a worker, e.g. for docs/images:

    python -m worker.sketch "a lighthouse by the sea at night" --seed 7 --style landscape \\
        --size 384x384 --out lighthouse.png

The PNG is the one /image posts (same renderer, same text chunks); it prints the settings
and how long the rendering took.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from bot.jobs import Job, JobKind, Origin
from worker.generators.image_sketch import SketchGenerator


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m worker.sketch", description=__doc__)
    parser.add_argument("prompt")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--style", default="any")
    parser.add_argument("--size", default="768x768", help="WIDTHxHEIGHT")
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    job = Job(
        id=f"sketch-{args.seed:08d}",
        kind=JobKind.IMAGE,
        command="image",
        prompt=args.prompt,
        options={"style": args.style, "size": args.size},
        seed=args.seed,
        origin=Origin(platform="console", route="console:sketch", delivery_id="sketch"),
    )
    started = time.perf_counter()
    [out] = SketchGenerator().generate([job])
    took = time.perf_counter() - started
    if out.error:
        raise SystemExit(out.error)
    args.out.write_bytes(out.files[0].data)
    settings = ", ".join(f"{k}={v}" for k, v in out.settings.items())
    print(f"{args.out}: {settings}, seed {args.seed}, {took * 1000:.0f} ms")


if __name__ == "__main__":
    main()
