"""The diffusers generator with a tiny real Stable Diffusion pipeline built offline from
configs and loaded from a directory, the path a real model takes: per-image seeds (the same
picture alone or batched), progress from the step callback, PNG settings, per-model
defaults, output checks."""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bot.jobs import Job, JobKind, OptionValue, Origin
from worker.generators.image_diffusers import (
    GENERAL_DEFAULTS,
    SAFETY_FLAGGED,
    DiffusersGenerator,
    ModelDefaults,
    defaults_for,
    styled_prompt,
)
from worker.generators.image_output import read_png_record


@pytest.fixture(scope="module")
def sd(tiny_sd: Path) -> Iterator[DiffusersGenerator]:
    gen = DiffusersGenerator(str(tiny_sd), device="cpu")
    gen.load()
    yield gen


def job(n: int, seed: int, prompt: str = "", **options: OptionValue) -> Job:
    opts: dict[str, OptionValue] = {"style": "any", "size": "64x64", "steps": 2}
    opts.update(options)
    return Job(
        id=f"image-job-{n:04d}",
        kind=JobKind.IMAGE,
        command="image",
        prompt=prompt or f"a lantern number {n}",
        options=opts,
        seed=seed,
        origin=Origin(platform="console", route="console:sd", delivery_id=f"sd-{n}"),
    )


def pixels(data: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "PNG"
        return np.asarray(img.convert("RGB")).astype(int)


def test_same_seed_same_image_alone_or_batched(sd: DiffusersGenerator) -> None:
    jobs = [job(n, 500 + n) for n in range(3)]
    calls = sd.pipeline_calls
    batched = sd.generate(jobs)
    assert sd.pipeline_calls == calls + 1  # one pipeline call for the batch
    for j, out in zip(jobs, batched, strict=True):
        [alone] = sd.generate([j])
        assert np.abs(pixels(out.files[0].data) - pixels(alone.files[0].data)).max() <= 1
    a, b = (pixels(o.files[0].data) for o in batched[:2])
    assert np.abs(a - b).mean() > 5  # other seeds, other pictures
    # The seed alone decides: the same job in another batch position still matches.
    [moved] = sd.generate([job(9, 9), jobs[1]])[1:]
    assert np.abs(pixels(moved.files[0].data) - pixels(batched[1].files[0].data)).max() <= 1


def test_png_carries_the_settings_and_the_size(sd: DiffusersGenerator, tiny_sd: Path) -> None:
    [out] = sd.generate([job(1, 77, "a heron at dusk", size="96x64", steps=3, style="ink")])
    assert not out.error and out.settings == {
        "style": "ink",
        "size": "96x64",
        "steps": 3,
        "guidance": GENERAL_DEFAULTS.guidance,
    }
    file = out.files[0]
    assert pixels(file.data).shape == (64, 96, 3)
    assert file.description == "a heron at dusk"
    record = read_png_record(file.data)
    assert record["model"] == str(tiny_sd) and record["generator"] == "diffusers"
    assert record["seed"] == 77 and record["prompt"] == "a heron at dusk"
    assert record["settings"] == out.settings
    with Image.open(io.BytesIO(file.data)) as img:
        assert "Steps: 3" in img.info["parameters"] and "Seed: 77" in img.info["parameters"]


def test_progress_comes_from_the_step_callback(sd: DiffusersGenerator) -> None:
    events: list[float] = []
    sd.generate([job(1, 1, steps=4), job(2, 2, steps=4)], lambda f, _: events.append(f))
    assert events[0] == 0.25 and events[-1] == 1.0
    assert events == sorted(events)


def test_mixed_sizes_in_one_call_are_split(sd: DiffusersGenerator) -> None:
    small, wide = sd.generate([job(1, 1), job(2, 2, size="128x64")])
    assert pixels(small.files[0].data).shape == (64, 64, 3)
    assert pixels(wide.files[0].data).shape == (64, 128, 3)


def test_an_output_check_withholds_only_its_image(sd: DiffusersGenerator) -> None:
    def no_herons(j: Job, image: Image.Image) -> str | None:
        assert image.size == (64, 64)
        return "No herons today" if "heron" in j.prompt else None

    sd.checks = [no_herons]
    try:
        heron, fox = sd.generate([job(1, 1, "a heron"), job(2, 2, "a fox")])
    finally:
        sd.checks = []
    # The default policy (strict) withholds it and says why.
    assert "withheld: No herons today" in heron.error and not heron.files
    assert not fox.error and len(fox.files) == 1


def test_a_turbo_model_defaults_to_one_step_without_guidance(tiny_sd: Path, tmp_path: Path) -> None:
    turbo = tmp_path / "tiny-sd-turbo"
    turbo.symlink_to(tiny_sd, target_is_directory=True)
    gen = DiffusersGenerator(str(turbo), device="cpu")
    gen.load()
    events: list[float] = []
    no_steps = job(1, 3)
    no_steps = no_steps.model_copy(update={"options": {"style": "any", "size": "64x64"}})
    [out] = gen.generate([no_steps], lambda f, _: events.append(f))
    assert out.settings["steps"] == 1 and out.settings["guidance"] == 0.0
    assert events == [1.0]


def test_model_defaults_and_style_prompts() -> None:
    assert defaults_for("stabilityai/sd-turbo") == ModelDefaults(1, 0.0)
    assert defaults_for("stabilityai/sdxl-turbo") == ModelDefaults(1, 0.0)
    assert defaults_for("/models/SDXL-Lightning/") == ModelDefaults(4, 0.0)
    assert defaults_for("black-forest-labs/FLUX.1-schnell") == ModelDefaults(4, 0.0)
    assert defaults_for("runwayml/stable-diffusion-v1-5") == GENERAL_DEFAULTS
    assert styled_prompt(job(1, 1, "a fox", style="photo")).startswith("a photograph of a fox")
    assert styled_prompt(job(1, 1, "a fox")) == "a fox"


def test_images_the_pipelines_safety_checker_flags_are_withheld(tmp_path: Path) -> None:
    from tests.support.tiny_diffusion import build_tiny_sd

    # diffusers' own StableDiffusionSafetyChecker, saved and loaded with the pipeline; its
    # thresholds are set so that it flags every image.
    model = build_tiny_sd(tmp_path / "tiny-sd-checked", flag_everything=True)
    gen = DiffusersGenerator(str(model), device="cpu")
    gen.load()
    # Taken out of the pipeline (which would black flagged images out) and run after it.
    assert gen.safety_checker is not None and gen.pipe.safety_checker is None
    outputs = gen.generate([job(1, 1), job(2, 2)])
    for out in outputs:
        assert SAFETY_FLAGGED in out.error and not out.files
        assert out.settings["size"] == "64x64"
