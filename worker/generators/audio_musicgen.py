"""MusicGen through transformers, when ATELIER_MUSIC_MODEL names one: text to audio, as WAV.

The processor turns the prompt (with the mood folded in) into T5 input ids; the model writes
EnCodec codes and decodes them to a waveform at the codec's sampling rate (32 kHz for the
published checkpoints). Length comes from the job: the requested bars at the requested tempo,
in 4/4, at the codec's frame rate (50 frames a second for MusicGen), capped at 30 seconds.

Per-job seeds: `generate` samples the whole batch from the one global random stream, and
MusicGen has no logits-processor hook that sees every codebook's draw in a form we could
reseed per row, so a job's audio would depend on its batch mates. Jobs are therefore
generated one at a time, each after `torch.manual_seed(job.seed)`: the same seed and settings
give the same audio, at the cost of batching.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from transformers import AutoProcessor, MusicgenForConditionalGeneration
from transformers.utils import logging as hf_logging

from bot.jobs import Job, JobKind, OptionValue
from worker.device import resolve_device
from worker.generators.base import File, Output, ProgressFn
from worker.music.synth import wav_bytes

log = logging.getLogger(__name__)
MAX_SECONDS = 30.0


class MusicGenGenerator:
    kind = JobKind.MUSIC
    name = "transformers (MusicGen)"

    def __init__(self, model_id: str, *, device: str = "auto", guidance: float = 3.0) -> None:
        self.model_id = model_id
        self.device, self.dtype = resolve_device(device)
        self.guidance = guidance
        self.processor: Any = None
        self.model: Any = None
        self.rate = 32_000
        self.frame_rate = 50.0

    def load(self) -> None:
        hf_logging.disable_progress_bar()
        local = Path(self.model_id).expanduser().is_dir()
        kwargs: dict[str, Any] = {"local_files_only": True} if local else {}
        source = str(Path(self.model_id).expanduser()) if local else self.model_id
        self.processor = AutoProcessor.from_pretrained(source, **kwargs)
        model: Any = MusicgenForConditionalGeneration.from_pretrained(
            source, dtype=self.dtype, **kwargs
        )
        self.model = model.to(self.device).eval()
        audio = self.model.config.audio_encoder
        self.rate = int(audio.sampling_rate)
        self.frame_rate = float(
            getattr(audio, "frame_rate", 0) or self.rate / np.prod(audio.upsampling_ratios)
        )
        log.info("music model %s loaded on %s (%d Hz)", self.model_id, self.device, self.rate)

    def warmup(self) -> None:
        inputs = self.processor(text=["warm up"], padding=True, return_tensors="pt")
        with torch.inference_mode():
            self.model.generate(**inputs.to(self.device), max_new_tokens=2, do_sample=True)

    def seconds_for(self, job: Job) -> float:
        bars = int(job.options.get("length") or 16)
        tempo = int(job.options.get("tempo") or 100)
        return min(MAX_SECONDS, bars * 4 * 60.0 / tempo)

    def generate(self, jobs: Sequence[Job], progress: ProgressFn | None = None) -> list[Output]:
        outputs = []
        for done, job in enumerate(jobs):
            outputs.append(self._one(job))
            if progress is not None:
                progress((done + 1) / len(jobs), None)
        return outputs

    def _one(self, job: Job) -> Output:
        description = _description(job)
        seconds = self.seconds_for(job)
        # The codebooks are written with a delay of one frame each: ask for that many more.
        delay = int(self.model.decoder.config.num_codebooks) - 1
        frames = max(1, round(seconds * self.frame_rate)) + delay
        inputs = self.processor(text=[description], padding=True, return_tensors="pt")
        torch.manual_seed(job.seed)  # see the module docstring: one job at a time
        with torch.inference_mode():
            audio = self.model.generate(
                **inputs.to(self.device),
                do_sample=True,
                guidance_scale=self.guidance,
                max_new_tokens=frames,
            )
        wave = audio[0, 0].float().cpu().numpy().astype(np.float64)
        wave = wave - wave.mean()
        peak = float(np.abs(wave).max()) if wave.size else 0.0
        if peak > 0.98:  # keep it off full scale, never clipped
            wave *= 0.98 / peak
        settings: dict[str, OptionValue] = dict(job.options)
        settings.update(seconds=round(len(wave) / self.rate, 2), guidance=self.guidance)
        slug = "".join(c if c.isalnum() else "-" for c in job.prompt.lower())[:60].strip("-")
        return Output(
            text=description,
            settings=settings,
            files=[
                File(
                    f"{slug or 'melody'}.wav",
                    "audio/wav",
                    wav_bytes(wave, self.rate),
                    f"{job.prompt} (audio)",
                )
            ],
        )


def _description(job: Job) -> str:
    """The text MusicGen hears: the prompt with the mood, key and tempo asked for."""
    parts = [job.prompt.strip() or "a melody"]
    mood = job.options.get("mood")
    if mood:
        parts.append(f"{mood} mood")
    if job.options.get("key"):
        parts.append(f"in {job.options['key']}")
    if job.options.get("tempo"):
        parts.append(f"{job.options['tempo']} bpm")
    return ", ".join(parts)
