"""Which music generator serves ATELIER_MUSIC_MODEL.

Unset: the bundled melody model (symbolic: ABC, MIDI and a synthesised WAV). A MusicGen
checkpoint (hub id or directory): text to audio. A local directory holding a causal language
model (a melody model trained or fine-tuned with `atelier train --corpus ...abc`): the
melody generator with that model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bot.errors import ConfigError
from worker.models import bundled_melody

MISSING_MUSIC_MODEL = (
    "No music model: ATELIER_MUSIC_MODEL is not set and this installation has no bundled "
    "melody model (worker/models/melody). Set ATELIER_MUSIC_MODEL to a MusicGen model."
)


def music_generator(model: str | None, *, device: str = "auto") -> Any:
    from worker.generators.melody_abc import MelodyGenerator

    if model is None:
        melody = bundled_melody()
        if melody is None:
            raise ConfigError(MISSING_MUSIC_MODEL)
        return MelodyGenerator(str(melody), device=device)
    config = Path(model).expanduser() / "config.json"
    if config.is_file():
        kind = json.loads(config.read_text(encoding="utf-8")).get("model_type", "")
        if kind != "musicgen":
            return MelodyGenerator(model, device=device)
    from worker.generators.audio_musicgen import MusicGenGenerator

    return MusicGenGenerator(model, device=device)
