"""The offline image generator: the sketch renderer (`worker.sketch`), no model needed.

It serves /image when ATELIER_IMAGE_MODEL is unset. Jobs in a batch are rendered one after
another on the CPU (each takes a fraction of a second); progress is reported per picture.
"""

from __future__ import annotations

from collections.abc import Sequence

from PIL import Image

from bot.jobs import Job, JobKind, OptionValue
from worker.generators.base import Output, ProgressFn
from worker.generators.image_output import ImageCheck, finish_image, size_of, withheld
from worker.sketch import render

SKETCH_MODEL_ID = "atelier-sketch"
STEPS_NOTE = "steps apply to diffusion models; the offline sketch renderer has none"


class SketchGenerator:
    kind = JobKind.IMAGE
    name = "offline sketch renderer"

    def __init__(self, *, checks: Sequence[ImageCheck] = ()) -> None:
        self.model_id = SKETCH_MODEL_ID
        self.device = "cpu"
        self.checks = list(checks)

    def load(self) -> None:
        """Nothing to load: the renderer is code."""

    def warmup(self) -> None:
        render("warm up", 0, size=(64, 64))

    def generate(self, jobs: Sequence[Job], progress: ProgressFn | None = None) -> list[Output]:
        outputs = []
        for done, job in enumerate(jobs, start=1):
            outputs.append(self._one(job))
            if progress is not None:
                progress(done / len(jobs), None)
        return outputs

    def _one(self, job: Job) -> Output:
        width, height = size_of(job)
        style = str(job.options.get("style", "any"))
        sketch = render(job.prompt, job.seed, style=style, size=(width, height))
        settings: dict[str, OptionValue] = {
            "style": style,
            "size": f"{width}x{height}",
            "composition": sketch.composition,
        }
        if sketch.palette.words:
            settings["palette"] = " ".join(sketch.palette.words)
        image = Image.fromarray(sketch.pixels)
        return finish_image(
            job,
            image,
            withheld(self.checks, job, image),
            model=self.model_id,
            generator=self.name,
            settings=settings,
            note=STEPS_NOTE if "steps" in job.options else "",
        )
