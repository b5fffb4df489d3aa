"""Text to image with any diffusers pipeline named by ATELIER_IMAGE_MODEL (hub id or local
directory): `AutoPipelineForText2Image`, falling back to `DiffusionPipeline`.

One pipeline call per batch: prompts as a list and one seeded `torch.Generator` per image.
The generators live on the CPU (diffusers then draws the starting noise there and moves
it), so a seed gives the same starting noise on any device and whatever the batch.
Steps and guidance come from the job, else from per-model defaults (one step and no
guidance for SD-Turbo-like models). On CUDA the weights are bf16/fp16 and attention runs
through PyTorch's scaled-dot-product kernels (diffusers' default); attention slicing is
there for small-memory devices.
"""

from __future__ import annotations

import inspect
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from bot.jobs import Job, JobKind, OptionValue
from worker.device import resolve_device
from worker.generators.base import Output, ProgressFn
from worker.generators.image_output import ImageCheck, finish_image, size_of, withheld

log = logging.getLogger(__name__)
PROGRESS_EVERY_S = 1.0
SAFETY_FLAGGED = "the model's safety checker flagged it"


@dataclass(frozen=True)
class ModelDefaults:
    steps: int
    guidance: float


GENERAL_DEFAULTS = ModelDefaults(steps=25, guidance=7.0)
# Distilled and few-step families, matched by a word in the model id (first match wins).
FAMILY_DEFAULTS: tuple[tuple[str, ModelDefaults], ...] = (
    ("turbo", ModelDefaults(1, 0.0)),  # SD-Turbo, SDXL-Turbo: one step, no guidance
    ("lightning", ModelDefaults(4, 0.0)),
    ("hyper", ModelDefaults(4, 0.0)),
    ("schnell", ModelDefaults(4, 0.0)),
    ("lcm", ModelDefaults(4, 1.0)),
    ("flux", ModelDefaults(28, 3.5)),
)
# How each catalogue style reads to a diffusion model.
STYLE_PROMPTS: dict[str, str] = {
    "any": "{}",
    "watercolour": "{}, watercolour painting, soft washes of colour on textured paper",
    "flow": "{}, flowing lines, swirling generative art",
    "mosaic": "{}, a mosaic of small coloured tiles",
    "shapes": "{}, bold flat geometric shapes, mid-century poster",
    "landscape": "{}, layered landscape, atmospheric perspective",
    "ink": "{}, ink wash painting, brush and ink on rice paper",
    "photo": "a photograph of {}, natural light, detailed",
    "painting": "{}, oil painting, visible brushstrokes",
}
NEGATIVE_PROMPT = "blurry, low quality, watermark, text"


def defaults_for(model_id: str) -> ModelDefaults:
    name = Path(model_id.rstrip("/")).name.lower() or model_id.lower()
    for word, found in FAMILY_DEFAULTS:
        if word in name:
            return found
    return GENERAL_DEFAULTS


def styled_prompt(job: Job) -> str:
    style = str(job.options.get("style", "any"))
    return STYLE_PROMPTS.get(style, "{}").format(job.prompt)


class DiffusersGenerator:
    kind = JobKind.IMAGE
    name = "diffusers"

    def __init__(
        self,
        model_id: str,
        *,
        device: str = "auto",
        checks: Sequence[ImageCheck] = (),
        attention_slicing: bool | None = None,
    ) -> None:
        self.model_id = model_id
        self.device, self.dtype = resolve_device(device)
        self.checks = list(checks)
        self.attention_slicing = (
            self.device == "mps" if attention_slicing is None else attention_slicing
        )
        self.defaults = defaults_for(model_id)
        self.pipe: Any = None
        # The pipeline's own safety checker, run here rather than inside the pipeline (which
        # would black flagged images out): the server's policy decides what happens to them.
        self.safety_checker: Any = None
        self.feature_extractor: Any = None
        self._accepts: frozenset[str] = frozenset()
        self.pipeline_calls = 0  # batched pipeline calls made (stats, tests)

    # Loading ---------------------------------------------------------------------------
    def load(self) -> None:
        from diffusers import AutoPipelineForText2Image, DiffusionPipeline
        from diffusers.utils import logging as diffusers_logging

        diffusers_logging.disable_progress_bar()
        local = Path(self.model_id).expanduser().is_dir()
        source = str(Path(self.model_id).expanduser()) if local else self.model_id
        # A local directory never touches the network; a hub id downloads only because the
        # operator named it (and not at all under HF_HUB_OFFLINE=1).
        kwargs: dict[str, Any] = {"dtype": self.dtype}
        if local:
            kwargs["local_files_only"] = True
        try:
            pipe = AutoPipelineForText2Image.from_pretrained(source, **kwargs)
        except ValueError as exc:  # a family AutoPipeline does not map: take it as it is
            log.info("AutoPipelineForText2Image cannot map %s (%s)", self.model_id, exc)
            pipe = DiffusionPipeline.from_pretrained(source, **kwargs)
        pipe.set_progress_bar_config(disable=True)
        if self.attention_slicing and hasattr(pipe, "enable_attention_slicing"):
            pipe.enable_attention_slicing()
        self.pipe = pipe.to(self.device)
        self._take_safety_checker()
        self._accepts = frozenset(inspect.signature(self.pipe.__call__).parameters)
        log.info(
            "image model %s (%s) loaded on %s (%s); defaults %s steps, guidance %s",
            self.model_id,
            type(pipe).__name__,
            self.device,
            str(self.dtype).removeprefix("torch."),
            self.defaults.steps,
            self.defaults.guidance,
        )

    def _take_safety_checker(self) -> None:
        """Stable Diffusion's checker (CLIP features in, a flag per image out) is called
        after the pipeline; a checker of another shape stays inside its pipeline, whose
        flags still reach the policy (over its blacked-out images)."""
        checker = getattr(self.pipe, "safety_checker", None)
        features = getattr(self.pipe, "feature_extractor", None)
        if checker is None or features is None or not hasattr(checker, "concept_embeds"):
            return
        self.safety_checker = checker.to(self.device)
        self.feature_extractor = features
        self.pipe.safety_checker = None

    def _flagged_by_checker(self, images: list[Any]) -> list[bool]:
        if self.safety_checker is None:
            return [False] * len(images)
        clip = self.feature_extractor(images, return_tensors="pt").pixel_values
        arrays = np.stack([np.asarray(im.convert("RGB"), dtype=np.float32) / 255 for im in images])
        with torch.inference_mode():
            _, flags = self.safety_checker(
                images=arrays, clip_input=clip.to(self.device, self.safety_checker.dtype)
            )
        return [bool(f) for f in flags]

    def warmup(self) -> None:
        """One tiny, one-step image, so the first real job does not pay for lazy set-up."""
        self._call(["warm up"], [0], 64, 64, 1, self.defaults.guidance, None)

    # Generation ------------------------------------------------------------------------
    def generate(self, jobs: Sequence[Job], progress: ProgressFn | None = None) -> list[Output]:
        # The worker batches by size and steps; a mixed call is split, never guessed.
        shapes = [(size_of(job), self._steps(job)) for job in jobs]
        if len(set(shapes)) > 1:
            return [self.generate([job], progress)[0] for job in jobs]
        (width, height), steps = shapes[0]
        guidance = self.defaults.guidance
        prompts = [styled_prompt(job) for job in jobs]
        images, flags = self._call(
            prompts, [job.seed for job in jobs], width, height, steps, guidance, progress
        )
        outputs = []
        for job, image, flagged in zip(jobs, images, flags, strict=True):
            settings: dict[str, OptionValue] = {
                "style": str(job.options.get("style", "any")),
                "size": f"{width}x{height}",
                "steps": steps,
                "guidance": guidance,
            }
            reason = SAFETY_FLAGGED if flagged else withheld(self.checks, job, image)
            outputs.append(
                finish_image(
                    job,
                    image,
                    reason,
                    model=self.model_id,
                    generator=self.name,
                    settings=settings,
                )
            )
        return outputs

    def _steps(self, job: Job) -> int:
        given = job.options.get("steps")
        return int(given) if given is not None else self.defaults.steps

    def _call(
        self,
        prompts: list[str],
        seeds: list[int],
        width: int,
        height: int,
        steps: int,
        guidance: float,
        progress: ProgressFn | None,
    ) -> tuple[list[Any], list[bool]]:
        kwargs: dict[str, Any] = {
            "prompt": prompts,
            "height": height,
            "width": width,
            "num_inference_steps": steps,
            "guidance_scale": guidance,
            "generator": [torch.Generator("cpu").manual_seed(seed) for seed in seeds],
            "output_type": "pil",
        }
        if guidance > 1.0:
            kwargs["negative_prompt"] = [NEGATIVE_PROMPT] * len(prompts)
        if progress is not None:
            kwargs["callback_on_step_end"] = _StepReporter(steps, progress)
        kwargs = {k: v for k, v in kwargs.items() if k in self._accepts}
        self.pipeline_calls += 1
        with torch.inference_mode():
            out = self.pipe(**kwargs)
        images = list(out.images)
        # A checker left inside its pipeline reports which images it blacked out.
        inside = getattr(out, "nsfw_content_detected", None) or [False] * len(images)
        ours = self._flagged_by_checker(images)
        return images, [bool(a) or b for a, b in zip(inside, ours, strict=True)]


class _StepReporter:
    """diffusers' step-end callback: the fraction done, at most once a second (and always
    the first and the last step)."""

    def __init__(self, steps: int, progress: ProgressFn) -> None:
        self.steps, self.progress = max(steps, 1), progress
        self.last = 0.0

    def __call__(
        self, pipe: Any, step: int, timestep: Any, callback_kwargs: dict[str, Any]
    ) -> dict[str, Any]:
        now = time.monotonic()
        done = step + 1
        if not self.last or done >= self.steps or now - self.last >= PROGRESS_EVERY_S:
            self.last = now
            self.progress(min(done / self.steps, 1.0), None)
        return callback_kwargs
