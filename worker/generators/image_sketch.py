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
from worker.sketch import Sketch, render

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
        if sketch.placed:
            settings["drawn"] = ", ".join(sketch.drawn())
        if sketch.not_drawn:
            settings["not_drawn"] = ", ".join(sketch.not_drawn)
        image = Image.fromarray(sketch.pixels)
        return finish_image(
            job,
            image,
            withheld(self.checks, job, image),
            model=self.model_id,
            generator=self.name,
            settings=settings,
            note=STEPS_NOTE if "steps" in job.options else "",
            description=describe(job.prompt, sketch),
        )


def describe(prompt: str, sketch: Sketch) -> str:
    """Alt text that says what the picture shows and what of the prompt it could not draw:
    "A sketch of a red boat and the blue sea (asked: a red boat on a blue sea)"."""
    drawn = sketch.drawn()
    if not drawn and not sketch.not_drawn:
        return prompt
    shown = _listed(drawn) if drawn else "colours and shapes only"
    text = f"A sketch of {shown}"
    if sketch.not_drawn:
        text += f"; not drawn: {_listed(sketch.not_drawn)}"
    return f"{text} (asked: {' '.join(prompt.split())})"


def _listed(items: Sequence[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]
