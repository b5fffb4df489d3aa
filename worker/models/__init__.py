"""Models that ship with Atelier, trained by its own `atelier train` (see each model card)."""

from __future__ import annotations

from pathlib import Path

BUNDLED_POET = Path(__file__).resolve().parent / "poet"
BUNDLED_MELODY = Path(__file__).resolve().parent / "melody"


def bundled_poet() -> Path | None:
    """The bundled offline poet, when this installation has it."""
    return BUNDLED_POET if (BUNDLED_POET / "config.json").exists() else None


def bundled_melody() -> Path | None:
    """The bundled offline melody model (ABC folk tunes), when this installation has it."""
    return BUNDLED_MELODY if (BUNDLED_MELODY / "config.json").exists() else None
